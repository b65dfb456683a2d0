//! The log level as a live setting. Telemetry, which builds the log subscriber, registers here
//! how to change its filter and what it started with; the ConfigurationManager changes it
//! through here, without knowing how logging is built.

use std::sync::OnceLock;

/// How to replace the log's filter with new directives.
pub type Change = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

static CHANGE: OnceLock<Change> = OnceLock::new();
static STARTED_WITH: OnceLock<String> = OnceLock::new();

/// Called once by telemetry: the filter it started with and how to replace it. A second
/// registration (tests start many servers in one process) keeps the first.
pub fn register(started_with: String, change: Change) {
    let _ = STARTED_WITH.set(started_with);
    let _ = CHANGE.set(change);
}

/// The filter the log started with (`info` when nothing registered).
pub fn initial() -> String {
    STARTED_WITH
        .get()
        .cloned()
        .unwrap_or_else(|| "info".to_owned())
}

/// Filter the log by `directives` from now on.
pub fn set(directives: &str) -> Result<(), String> {
    match CHANGE.get() {
        Some(change) => change(directives),
        None => Err("logging was not set up with a changeable filter".into()),
    }
}
