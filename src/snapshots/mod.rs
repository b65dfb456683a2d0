//! State one part of the server publishes and others read, as plain data and lock-free cells: the
//! leaf of the module graph: it imports the domain and the metrics, nothing that runs. Each is
//! written by exactly one owner.
//!
//! - [`access`] — the access policy (SecurityManager → every request).
//! - [`audit`] — audit entries (requests → SecurityManager → store).
//! - [`monitor`] — the monitor's view of every series and its [`monitor::Insight`] for plugins.
//! - [`plugin_board`] — the plugins' mailboxes, as the monitor hands them each sample.
//! - [`queue_ages`] — the wait of each class's oldest queued task (orchestrator → monitor).
//! - [`rate_limits`] — the request rate limits (every request).
//! - [`settings`] — the live settings (ConfigurationManager → whoever acts on them).
//! - [`sample`] — the monitor's latest memory sample (monitor → status pages).
//! - [`shedding`] — which submissions are shed (shedding plugin → task submissions).

pub mod access;
pub mod audit;
pub mod monitor;
pub mod plugin_board;
pub mod queue_ages;
pub mod rate_limits;
pub mod sample;
pub mod settings;
pub mod shedding;
