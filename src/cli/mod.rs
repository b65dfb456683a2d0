//! The command line: `hive serve`, `hive migrate`, `hive token create|list|revoke`, and with the
//! `tools` feature (on by default) the commands of [`tools`]. Server flags also read a `HIVE_*`
//! variable.
//!
//! # Layout
//! - [`tools`] — the tools' commands and flags (`loadtest`, `gate`, `replay`, `detect`,
//!   `forecast`, `predict`, `evaluate`).

#[cfg(feature = "tools")]
pub mod tools;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::config::Config;
use crate::domain::access::AccessRole;
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "hive",
    version,
    about = "Agents under supervision trees, driven over HTTP"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written: `text` for a person, `json` (one object per line, with the
    /// fields of the request and task spans it was written in) for a log collector.
    #[arg(
        long,
        global = true,
        env = "HIVE_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: LogFormat,
}

// Parsed once at start: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies pending migrations first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(StoreArgs),
    /// Create, list and revoke API tokens (works with or without a running server).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The tools: load tests, the gate, replay, and the monitor's statistics on CSV series.
    #[cfg(feature = "tools")]
    #[command(flatten)]
    Tool(tools::ToolCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret alone on stdout; it is not shown again.
    Create {
        /// admin (everything), operator (tasks) or viewer (reads).
        #[arg(long)]
        role: AccessRole,
        /// A label for listings, such as who holds the token.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens (never their secrets), one per line: id, role, created, revoked, name.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by its id; a running server refuses it within seconds.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the data lives; shared by every command that opens the store. Each field is the setting
/// of the same name.
#[derive(Debug, Args, Serialize)]
pub struct StoreArgs {
    /// Directory for the SQLite database and other state.
    #[arg(long, env = "HIVE_DATA_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// A SQLite file path or sqlite:// URL (default: hive.db in the data directory).
    #[arg(long, env = "HIVE_DATABASE_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// A TOML file with any of the settings; `HIVE_*` variables and flags override it.
    #[arg(long, env = "HIVE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
}

/// The flags of `hive serve`. Each field is the setting at its serialized path, so the flags
/// given are merged onto the configuration as one layer, with nothing copied by hand.
#[derive(Debug, Args, Serialize)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the log says which).
    #[arg(long, env = "HIVE_ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<SocketAddr>,
    /// An executable `command` agents may run (absolute path; repeat the flag for more, or give
    /// a comma-separated list in the variable). Replaces the config file's `allow_exec`.
    #[arg(long = "allow-exec", env = "HIVE_ALLOW_EXEC", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_exec: Vec<PathBuf>,
    /// A destination `http` agents may call: `HOST[:PORT]` or a network `ADDR/BITS` (repeat
    /// the flag for more, or give a comma-separated list in the variable). Replaces the config
    /// file's `allow_http`.
    #[arg(long = "allow-http", env = "HIVE_ALLOW_HTTP", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_http: Vec<String>,
    /// Let a loopback client create the first API token over HTTP while none exists (by
    /// default the first is made with `hive token create`).
    #[arg(long, env = "HIVE_FIRST_TOKEN_OVER_HTTP")]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub first_token_over_http: bool,
    /// Requests per second per token (per client address for requests without one), with a
    /// burst of twice that; 0 turns the limit off [default: 1000].
    #[arg(long, env = "HIVE_RATE_LIMIT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// Most agents this node hosts; creations beyond it are refused [default: 100000].
    #[arg(long, env = "HIVE_MAX_AGENTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_agents: Option<usize>,
    /// How long finished tasks, their history and supervision history are kept, e.g. `7d` or
    /// `12h`; `0s` keeps them for ever [default: 7d].
    #[arg(long, env = "HIVE_RETENTION", value_parser = humantime::parse_duration)]
    #[serde(
        rename = "retention_ms",
        serialize_with = "as_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub retention: Option<std::time::Duration>,
    /// How long audit log entries are kept; `0s` keeps them for ever [default: 90d].
    #[arg(long, env = "HIVE_AUDIT_RETENTION", value_parser = humantime::parse_duration)]
    #[serde(
        rename = "audit_retention_ms",
        serialize_with = "as_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub audit_retention: Option<std::time::Duration>,
    #[command(flatten)]
    #[serde(skip_serializing_if = "PluginFlags::is_empty")]
    pub plugins: PluginFlags,
    #[command(flatten)]
    #[serde(skip_serializing_if = "ClusterFlags::is_empty")]
    pub cluster: ClusterFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub store: StoreArgs,
}

/// The `plugins.*` settings the command line has.
#[derive(Debug, Args, Serialize)]
pub struct PluginFlags {
    #[command(flatten)]
    pub alerts: AlertFlags,
}

impl PluginFlags {
    fn is_empty(&self) -> bool {
        self.alerts.webhooks.is_empty()
    }
}

/// The `plugins.alerts.*` settings the command line has.
#[derive(Debug, Args, Serialize)]
pub struct AlertFlags {
    /// A URL the alerts plugin POSTs forecast breaches and anomalies to (repeat the flag for
    /// more, or give a comma-separated list in the variable). Replaces the config file's
    /// `plugins.alerts.webhooks`.
    #[arg(
        long = "alert-webhook",
        env = "HIVE_ALERT_WEBHOOKS",
        value_delimiter = ','
    )]
    pub webhooks: Vec<String>,
}

/// The `cluster.*` settings the command line has.
#[derive(Debug, Args, Serialize)]
pub struct ClusterFlags {
    /// Join the nodes sharing this Redis (and the PostgreSQL of --database-url): tasks are
    /// distributed through Redis streams and events reach every node.
    #[arg(long, env = "HIVE_REDIS_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// The start of every Redis key this Hive uses [default: hive].
    #[arg(long, env = "HIVE_REDIS_PREFIX")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_prefix: Option<String>,
    /// This node's name in the cluster [default: this host's name and the port].
    #[arg(long, env = "HIVE_NODE_ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// The URL other nodes reach this node's API at [default: `http://` and the listen address].
    #[arg(long, env = "HIVE_ADVERTISE_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise_url: Option<String>,
}

impl ClusterFlags {
    fn is_empty(&self) -> bool {
        self.redis_url.is_none()
            && self.redis_prefix.is_none()
            && self.node_id.is_none()
            && self.advertise_url.is_none()
    }
}

fn as_millis<S: serde::Serializer>(
    d: &Option<std::time::Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        None => s.serialize_none(),
    }
}

impl StoreArgs {
    /// The configuration: defaults < file < environment < these flags.
    pub fn config(&self) -> anyhow::Result<Config> {
        Config::load(self.config.as_deref(), self)
    }
}

impl ServeArgs {
    /// The configuration: defaults < file < environment < these flags, checked as a whole.
    pub fn config(&self) -> anyhow::Result<Config> {
        let config = Config::load(self.store.config.as_deref(), self)?;
        config.plugins.validate()?;
        config.cluster.validate(config.database_url.as_deref())?;
        crate::agents::destinations::HttpDestinations::parse(&config.allow_http)
            .map_err(anyhow::Error::msg)?;
        if let Some(relative) = config.allow_exec.iter().find(|p| !p.is_absolute()) {
            anyhow::bail!(
                "allow_exec entries must be absolute paths; {} is not",
                relative.display()
            );
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
            _ => anyhow::bail!("not serve"),
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
    fn allowed_programs_come_from_repeated_flags_or_a_list_and_must_be_absolute() {
        let config = serve_config(&[
            "hive",
            "serve",
            "--allow-exec",
            "/bin/echo",
            "--allow-exec",
            "/usr/bin/env,/bin/true",
            "--rate-limit",
            "7",
        ])
        .unwrap();
        let allowed: Vec<_> = config
            .allow_exec
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect();
        assert_eq!(allowed, ["/bin/echo", "/usr/bin/env", "/bin/true"]);
        assert_eq!(config.rate_limit, 7);
        let relative = serve_config(&["hive", "serve", "--allow-exec", "echo"]).unwrap_err();
        assert!(format!("{relative:#}").contains("absolute"), "{relative:#}");
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
