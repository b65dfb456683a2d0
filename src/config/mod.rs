//! One typed configuration: defaults < file (`--config`, TOML) < environment (`HIVE_*`) < flags,
//! merged by one mechanism (figment). The file may hold any subset of the fields below. Every
//! setting has an environment name derived from its path: `HIVE_` and the path in capitals with
//! `__` between levels (`slo.normal_ms` is `HIVE_SLO__NORMAL_MS`). The flags the command line
//! has are settings too, merged last; their variables (`HIVE_ADDR`, `HIVE_ALLOW_EXEC=a,b`, …) are
//! read by the command line, which takes lists as comma-separated values.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use figment::providers::{Env, Serialized};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub mod log_level;
pub mod settings;

/// Mailbox capacity per actor kind. Bounded everywhere: a full mailbox is a refusal the client
/// sees (503 with Retry-After), never a queue that grows without limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mailboxes {
    /// Submissions and cancellations waiting for the orchestrator.
    pub orchestrator: usize,
    /// Writes waiting for the next commit; one batch is at most 2,048 of them.
    pub store: usize,
    /// An agent holds one task at a time; the rest is room for cancels and shutdown.
    pub agent: usize,
    pub lifecycle: usize,
    pub communication: usize,
    /// Managers that only take control messages (configuration, security, performance).
    pub control: usize,
}

impl Default for Mailboxes {
    fn default() -> Self {
        Self {
            orchestrator: 4096,
            store: 8192,
            agent: 8,
            lifecycle: 256,
            communication: 256,
            control: 64,
        }
    }
}

/// Queue-wait target per priority class, in milliseconds. The dispatcher serves classes in
/// [`SloTargets::urgency`] order: a class whose oldest task has used [`AT_RISK`] of its target
/// before every less urgent one, otherwise the largest share of its target first, so a class
/// with a long target still gets its turn: `low` waits longer than `critical`, but never
/// forever unless more urgent work alone fills the agents.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SloTargets {
    pub critical_ms: u64,
    pub high_ms: u64,
    pub normal_ms: u64,
    pub low_ms: u64,
}

impl Default for SloTargets {
    fn default() -> Self {
        Self {
            critical_ms: 100,
            high_ms: 500,
            normal_ms: 2_000,
            low_ms: 10_000,
        }
    }
}

impl SloTargets {
    pub fn of(&self, priority: crate::domain::task::Priority) -> u64 {
        use crate::domain::task::Priority;
        let ms = match priority {
            Priority::Critical => self.critical_ms,
            Priority::High => self.high_ms,
            Priority::Normal => self.normal_ms,
            Priority::Low => self.low_ms,
        };
        ms.max(1)
    }

    /// How urgently the oldest queued task of `priority`, which has waited `waited_ms`, is
    /// served: the greater goes first (ties to the more urgent class).
    ///
    /// A task that has used [`AT_RISK`] of its target (or more) goes before every task of a
    /// less urgent class; below that, the largest share of its target waited goes first. So a
    /// `low` task past its target goes before younger urgent ones with time to spare, and no
    /// class starves while more urgent work leaves room; and under overload the urgent classes
    /// keep their targets while the less urgent absorb the excess. By share alone, an overload
    /// shares the lateness out: a critical task would wait behind normal ones past their 2 s
    /// until it, too, had missed its 100 ms.
    pub fn urgency(&self, priority: crate::domain::task::Priority, waited_ms: f64) -> Urgency {
        let share = waited_ms / self.of(priority) as f64;
        if share >= AT_RISK {
            Urgency::AtRisk(priority)
        } else {
            Urgency::Waiting(share)
        }
    }
}

/// The share of its target a task may wait before it goes ahead of every less urgent class:
/// what is left is time for an agent to come free.
pub const AT_RISK: f64 = 0.5;

/// The dispatch order of a class's oldest task ([`SloTargets::urgency`]): the greater goes
/// first. Every task at risk is greater than every task waiting.
#[derive(Debug, Clone, Copy)]
pub enum Urgency {
    /// Under [`AT_RISK`] of its target: the share of it waited.
    Waiting(f64),
    /// At or past [`AT_RISK`] of its target: its class decides.
    AtRisk(crate::domain::task::Priority),
}

impl Ord for Urgency {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, other) {
            (Urgency::Waiting(a), Urgency::Waiting(b)) => a.total_cmp(b),
            (Urgency::AtRisk(a), Urgency::AtRisk(b)) => a.cmp(b),
            (Urgency::Waiting(_), Urgency::AtRisk(_)) => Ordering::Less,
            (Urgency::AtRisk(_), Urgency::Waiting(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Urgency {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Urgency {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Urgency {}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// `postgres://…`, a `sqlite://` URL or a SQLite file path; empty means `hive.db` in the
    /// data directory.
    pub database_url: Option<String>,
    pub mailbox: Mailboxes,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Most agents one `POST /api/v1/agents/batch` may create.
    pub max_batch_agents: usize,
    /// Most unfinished tasks (queued, waiting to retry, running) this node holds; a submission
    /// past it is refused with 503 and Retry-After. 0 sizes it from `memory_budget_bytes` (see
    /// [`Config::queued_task_limit`]).
    pub max_queued_tasks: usize,
    /// Most agents this node hosts; a creation that would pass it is refused (409), so that
    /// a client creating agents in a loop meets a limit rather than exhausting memory.
    pub max_agents: usize,
    pub max_sse_clients: usize,
    /// Most event streams one client (a token, or an address without one) may hold open.
    pub max_sse_per_client: usize,
    /// First retry delay of a failed task; doubles per attempt.
    pub retry_backoff_ms: u64,
    /// Restart intensity of an agent pool: crashes of its agents it absorbs in the period before
    /// it gives up and is restarted whole by the lifecycle supervisor.
    pub pool_max_restarts: u32,
    pub pool_restart_period_ms: u64,
    /// Restart intensity of the lifecycle supervisor (the agent manager and the pools): pool
    /// restarts it absorbs in the period before it gives up and the root restarts it.
    pub lifecycle_max_restarts: u32,
    pub lifecycle_restart_period_ms: u64,
    /// Restart intensity of the root: restarts of the managers it absorbs in the period before
    /// it gives up and the server exits with an error, since it cannot work without them.
    pub root_max_restarts: u32,
    pub root_restart_period_ms: u64,
    pub sample_interval_ms: u64,
    /// Time running tasks get to finish on SIGTERM before they are handed back to the queue.
    pub shutdown_grace_ms: u64,
    /// HTTP worker threads; 0 means one per core.
    pub http_workers: usize,
    /// Threads agents run on; 0 means one per core.
    pub agent_threads: usize,
    pub slo: SloTargets,
    /// Largest task result stored, in bytes of JSON. A larger one fails its task, or with the
    /// task's `truncate_result` is kept cut short with a marker.
    pub max_result_bytes: usize,
    /// Executables `command` agents may run (absolute paths); nothing else is ever run.
    pub allow_exec: Vec<PathBuf>,
    /// Where `http` agents may send requests: hosts (`name[:port]`, `10.0.0.7`, `[::1]:80`) and
    /// networks (`10.0.0.0/8`); nothing when empty (see `agents::destinations`).
    pub allow_http: Vec<String>,
    /// The only environment variables a command agent's process inherits from the server.
    pub exec_env: Vec<String>,
    /// Largest stdout and stderr kept of one command run, each; the rest is cut with a marker.
    pub exec_output_bytes: usize,
    /// Time an `http` agent's request may take before the attempt fails (and is retried).
    pub http_timeout_ms: u64,
    /// Most unfinished tasks addressed to one agent; a submission past it is refused with 503
    /// and Retry-After.
    pub max_agent_queue: usize,
    /// Largest state an agent keeps, in bytes of JSON: a larger initial state is refused (422),
    /// an attempt that returns one fails, and the state stays as it was.
    pub max_agent_state_bytes: usize,
    /// Longest line a process agent's program may write on stdout; a longer one crashes the
    /// agent.
    pub max_line_bytes: usize,
    /// How long a process agent's program has to exit after its stdin is closed, at a stop,
    /// before its process group is killed.
    pub process_shutdown_timeout_ms: u64,
    /// Crashes in a row (each within 10 s of its start) after which an agent is left stopped,
    /// with the reason, rather than restarted again: a program that cannot start stops its own
    /// agent, never its pool.
    pub agent_crash_loop_limit: u32,
    /// Most agents one topic may have subscribed; a subscription past it is refused (409).
    pub max_topic_subscribers: usize,
    /// Most tasks one message on a topic may create (one per subscriber); a message to a topic
    /// with more subscribers is refused (409).
    pub max_topic_fanout: usize,
    /// Requests per second per token (and per client address where no token is used), with a
    /// burst of twice that; 0 turns the limit off.
    pub rate_limit: u32,
    /// Serve `/metrics` without a token (for a scraper on a trusted network).
    pub metrics_open: bool,
    /// Host names (without port) an open API, one with no tokens yet, answers besides
    /// `localhost`, `*.localhost` and loopback addresses: a request naming any other host is a
    /// DNS-rebinding page's and is refused.
    pub open_hosts: Vec<String>,
    /// Let a loopback client of an open API (no token yet) create the first token over HTTP;
    /// otherwise the first one is made with `hive token create`.
    pub first_token_over_http: bool,
    /// Longest a request waits for the server's own answer (a commit, a manager) before it is
    /// answered 503 with Retry-After.
    pub answer_timeout_ms: u64,
    /// Longest a client may take to send its request headers and body.
    pub client_timeout_ms: u64,
    /// Limits on the JSON of a request body, beyond its size.
    pub json: JsonLimits,
    /// How long finished tasks (with their history, and their idempotency keys) and supervision
    /// history are kept after they end; 0 keeps them for ever.
    pub retention_ms: u64,
    /// How long audit log entries are kept; 0 keeps them for ever.
    pub audit_retention_ms: u64,
    /// The memory the monitor forecasts RSS against (the predecessor's promise: under 80 MB).
    pub memory_budget_bytes: u64,
    /// What the monitor's plugins do with its forecasts.
    pub plugins: Plugins,
    /// Soft limit on SQLite's own heap (page caches, statements) across all its connections;
    /// 0 leaves each connection's cache to grow to its default 2 MiB. SQLite only.
    pub sqlite_heap_limit_bytes: u64,
    /// Several nodes on one PostgreSQL and one Redis.
    pub cluster: ClusterConfig,
}

/// Running as one node of several (see `crate::cluster`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://host:port[/db]`; none means a single server with an in-process bus.
    pub redis_url: Option<String>,
    /// Every Redis key and channel starts with `<prefix>:`, so Hives can share one Redis.
    pub redis_prefix: String,
    /// This node's name among the others; default `<hostname>:<port>`, so a node restarted on
    /// the same host and port picks up what it held.
    pub node_id: Option<String>,
    /// Where other nodes reach this node's API; default `http://<listen address>`.
    pub advertise_url: Option<String>,
    /// How long a node may miss heartbeats before the others take over its work.
    pub lease_ms: u64,
    pub heartbeat_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_prefix: "hive".into(),
            node_id: None,
            advertise_url: None,
            lease_ms: 5_000,
            heartbeat_ms: 1_000,
        }
    }
}

impl ClusterConfig {
    /// What a parser cannot check.
    pub fn validate(&self, database_url: Option<&str>) -> anyhow::Result<()> {
        let Some(url) = &self.redis_url else {
            return Ok(());
        };
        anyhow::ensure!(
            url.starts_with("redis://"),
            "redis_url: {:?} must be a redis:// URL",
            redact_url(url)
        );
        anyhow::ensure!(
            database_url.is_some_and(|d| d.starts_with("postgres://") || d.starts_with("postgresql://")),
            "several nodes share tasks through PostgreSQL: with --redis-url give a postgres:// --database-url"
        );
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        };
        anyhow::ensure!(
            name_ok(&self.redis_prefix),
            "redis_prefix: {:?} must be 1 to 128 letters, digits or `-_.:`",
            self.redis_prefix
        );
        if let Some(node) = &self.node_id {
            anyhow::ensure!(
                name_ok(node),
                "node_id: {node:?} must be 1 to 128 letters, digits or `-_.:`"
            );
        }
        anyhow::ensure!(
            self.heartbeat_ms > 0 && self.heartbeat_ms * 2 <= self.lease_ms,
            "cluster: heartbeat_ms ({}) must be positive and at most half of lease_ms ({})",
            self.heartbeat_ms,
            self.lease_ms
        );
        Ok(())
    }
}

/// The plugins under the `plugins` supervisor, each told of every monitor sample.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Plugins {
    /// Whether the plugins act on the monitor's forecasts (`predictive`, the default) or on
    /// current readings only (`reactive`: shedding when a mailbox is nearly full, scaling on
    /// the pressure now), the policy the predictive one is measured against.
    pub mode: PluginMode,
    pub shedding: Shedding,
    pub alerts: Alerts,
    pub autoscaler: Autoscaler,
}

/// What the plugins act on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginMode {
    #[default]
    Predictive,
    Reactive,
}

/// Turning low-priority submissions away before a mailbox on the submission path fills.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Shedding {
    pub enabled: bool,
    /// Least confidence of a forecast breach that starts shedding.
    pub min_confidence: f64,
    /// How long shedding lasts after the last forecast that called for it: a forecast that
    /// flickers must not switch it on and off every second.
    pub hold_ms: u64,
}

impl Default for Shedding {
    fn default() -> Self {
        Self {
            enabled: true,
            min_confidence: 0.5,
            hold_ms: 10_000,
        }
    }
}

/// Webhooks told of forecast breaches and anomalies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Alerts {
    /// `http(s)://` URLs each alert is POSTed to as JSON; none turns the plugin off.
    pub webhooks: Vec<String>,
    /// Least time between two alerts of one kind about one series.
    pub cooldown_ms: u64,
    /// Time a webhook has to answer before the delivery counts as failed.
    pub timeout_ms: u64,
    /// Least confidence of a forecast breach worth an alert.
    pub min_confidence: f64,
}

impl Default for Alerts {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            cooldown_ms: 5 * 60 * 1000,
            timeout_ms: 5_000,
            min_confidence: 0.5,
        }
    }
}

/// Pools the autoscaler sizes, by role; none turns the plugin off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Autoscaler {
    pub pools: std::collections::BTreeMap<crate::domain::names::Role, PoolBounds>,
    /// How long an added agent's pool must have had idle agents and no queue before one of the
    /// agents the autoscaler added is removed again.
    pub idle_ms: u64,
    /// Least time between two changes to one pool, so that each change is seen before the next.
    pub cooldown_ms: u64,
}

impl Default for Autoscaler {
    fn default() -> Self {
        Self {
            pools: Default::default(),
            idle_ms: 60_000,
            cooldown_ms: 5_000,
        }
    }
}

impl Plugins {
    /// What a parser cannot check: bounds in order, webhooks that are HTTP URLs.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (role, pool) in &self.autoscaler.pools {
            anyhow::ensure!(
                pool.min <= pool.max && pool.max > 0,
                "plugins.autoscaler.pools.{role}: min ({}) must not exceed max ({}), and max must be positive",
                pool.min,
                pool.max
            );
        }
        for url in &self.alerts.webhooks {
            let parsed = reqwest::Url::parse(url).map_err(|e| {
                anyhow::anyhow!("plugins.alerts.webhooks: {url:?} is not a URL: {e}")
            })?;
            anyhow::ensure!(
                matches!(parsed.scheme(), "http" | "https"),
                "plugins.alerts.webhooks: {url:?} must be an http:// or https:// URL"
            );
        }
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.shedding.min_confidence)
                && (0.0..=1.0).contains(&self.alerts.min_confidence),
            "plugins: min_confidence must be between 0 and 1"
        );
        Ok(())
    }
}

/// The size a pool is kept within, and what an added agent is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolBounds {
    pub min: usize,
    pub max: usize,
    /// The executor of added agents (default: built-in).
    #[serde(default)]
    pub executor: crate::domain::agent::ExecutorSpec,
    #[serde(default)]
    pub capabilities: crate::domain::agent::Capabilities,
}

/// Shape limits on request JSON: a small body can still nest deeply or hold huge strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsonLimits {
    pub max_depth: usize,
    pub max_string_bytes: usize,
    pub max_array_items: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_string_bytes: 64 * 1024,
            max_array_items: 10_000,
        }
    }
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// What one unfinished task costs the server's resident memory, as measured with a backlog of
/// 400,000 small tasks (its record, input, queue entries and the allocator's share), rounded up.
pub const QUEUED_TASK_BYTES: u64 = 2048;

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            mailbox: Mailboxes::default(),
            max_body_bytes: 256 * 1024,
            max_batch_agents: 10_000,
            max_agents: 100_000,
            max_queued_tasks: 0,
            max_sse_clients: 256,
            max_sse_per_client: 16,
            retry_backoff_ms: 100,
            pool_max_restarts: 1000,
            pool_restart_period_ms: 10_000,
            lifecycle_max_restarts: 10,
            lifecycle_restart_period_ms: 5_000,
            root_max_restarts: 5,
            root_restart_period_ms: 30_000,
            sample_interval_ms: 1000,
            shutdown_grace_ms: 10_000,
            http_workers: 0,
            agent_threads: 0,
            slo: SloTargets::default(),
            max_result_bytes: 1024 * 1024,
            allow_exec: Vec::new(),
            allow_http: Vec::new(),
            exec_env: vec!["PATH".into(), "LANG".into()],
            exec_output_bytes: 256 * 1024,
            http_timeout_ms: 30_000,
            max_agent_queue: 1_000,
            max_agent_state_bytes: 64 * 1024,
            max_line_bytes: 1024 * 1024,
            process_shutdown_timeout_ms: 5_000,
            agent_crash_loop_limit: 10,
            max_topic_subscribers: 10_000,
            max_topic_fanout: 10_000,
            rate_limit: 1_000,
            metrics_open: false,
            open_hosts: Vec::new(),
            first_token_over_http: false,
            answer_timeout_ms: 5_000,
            client_timeout_ms: 10_000,
            json: JsonLimits::default(),
            retention_ms: 7 * DAY_MS,
            audit_retention_ms: 90 * DAY_MS,
            memory_budget_bytes: 80_000_000,
            plugins: Plugins::default(),
            sqlite_heap_limit_bytes: 8 << 20,
            cluster: ClusterConfig::default(),
        }
    }
}

/// Settings the command line reads from their variables itself (see [`Config::load`]).
const READ_BY_FLAGS: [&str; 8] = [
    "addr",
    "data_dir",
    "database_url",
    "allow_exec",
    "allow_http",
    "first_token_over_http",
    "rate_limit",
    "max_agents",
];

impl Config {
    /// The defaults, overlaid by the file (if one is given), by every `HIVE_<PATH>` variable
    /// that names a setting, and by `flags`: the settings the command line was given, as a
    /// serializable value whose fields are settings' paths.
    pub fn load(file: Option<&Path>, flags: &impl Serialize) -> anyhow::Result<Config> {
        let mut layers = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading config file {}", file.display()))?;
            // Parsed whole first: an unknown or mistyped key is an error naming the file.
            toml::from_str::<Config>(&text)
                .with_context(|| format!("parsing config file {}", file.display()))?;
            let table: toml::Table = toml::from_str(&text)
                .with_context(|| format!("parsing config file {}", file.display()))?;
            layers = layers.merge(Serialized::defaults(table));
        }
        let settings = setting_paths();
        let environment = Env::prefixed("HIVE_").split("__").filter(move |key| {
            let key = key.as_str().to_ascii_lowercase();
            settings.contains(&key) && !READ_BY_FLAGS.contains(&key.as_str())
        });
        layers
            .merge(environment)
            .merge(Serialized::defaults(flags))
            .extract()
            .context("reading the configuration")
    }

    /// The bound on unfinished tasks: `max_queued_tasks`, or half the memory budget at
    /// [`QUEUED_TASK_BYTES`] a task (19,531 at the default 80 MB).
    pub fn queued_task_limit(&self) -> usize {
        if self.max_queued_tasks > 0 {
            return self.max_queued_tasks;
        }
        let share = self.memory_budget_bytes / 2 / QUEUED_TASK_BYTES;
        usize::try_from(share).unwrap_or(usize::MAX).max(1)
    }

    pub fn cores() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    }
}

/// `scheme://user:secret@host/db` → `scheme://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Every setting's path (`slo.normal_ms`), as the defaults serialize: what a `HIVE_*` variable
/// may name.
fn setting_paths() -> std::collections::HashSet<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut std::collections::HashSet<String>) {
        if let serde_json::Value::Object(fields) = value {
            for (name, inner) in fields {
                let path = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                walk(&path, inner, out);
                out.insert(path);
            }
        }
    }
    let mut paths = std::collections::HashSet::new();
    walk(
        "",
        &serde_json::to_value(Config::default()).unwrap_or_default(),
        &mut paths,
    );
    paths
}
