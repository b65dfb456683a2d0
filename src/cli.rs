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

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_config(args: &[&str]) -> anyhow::Result<Config> {
        let cli = Cli::try_parse_from(args)?;
        match cli.command {
            Command::Serve(serve) => serve.config(),
            Command::Migrate(_) => anyhow::bail!("not serve"),
        }
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hive.toml");
        std::fs::write(
            &file,
            "addr = \"127.0.0.1:9000\"\nretry_backoff_ms = 7\n[mailbox]\nagent = 3\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();

        let from_file = serve_config(&["hive", "serve", "--config", path]).unwrap();
        assert_eq!(from_file.addr.port(), 9000);
        assert_eq!(from_file.retry_backoff_ms, 7);
        assert_eq!(from_file.mailbox.agent, 3);
        assert_eq!(
            from_file.mailbox.store,
            Config::default().mailbox.store,
            "unset keys keep defaults"
        );

        let flagged =
            serve_config(&["hive", "serve", "--config", path, "--addr", "127.0.0.1:0"]).unwrap();
        assert_eq!(flagged.addr.port(), 0);
        assert_eq!(flagged.retry_backoff_ms, 7);
    }

    #[test]
    fn a_config_file_with_an_unknown_key_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hive.toml");
        std::fs::write(&file, "retry_backof_ms = 7\n").unwrap();
        let err = serve_config(&["hive", "serve", "--config", file.to_str().unwrap()]).unwrap_err();
        assert!(format!("{err:#}").contains("retry_backof_ms"), "{err:#}");
    }
}
