//! The command line: `hive serve`, `hive migrate`. Every flag also reads a `HIVE_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "hive",
    version,
    about = "Agents under supervision trees, driven over HTTP"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies pending migrations first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(StoreArgs),
}

/// Where the data lives; shared by every command that opens the store.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Directory for the SQLite database and other state.
    #[arg(long, env = "HIVE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A SQLite file path or sqlite:// URL (default: hive.db in the data directory).
    #[arg(long, env = "HIVE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// A TOML file with any of the settings; flags and HIVE_* variables override it.
    #[arg(long, env = "HIVE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the log says which).
    #[arg(long, env = "HIVE_ADDR")]
    pub addr: Option<SocketAddr>,
    #[command(flatten)]
    pub store: StoreArgs,
}

impl StoreArgs {
    /// The configuration: defaults < file < environment < flags.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            config.database_url = Some(url.clone());
        }
        Ok(config)
    }
}

impl ServeArgs {
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = self.store.config()?;
        if let Some(addr) = self.addr {
            config.addr = addr;
        }
        Ok(config)
    }
}
