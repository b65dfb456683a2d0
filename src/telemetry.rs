//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as text for a person or
//! as one JSON object per line for a log collector (`--log-format json`). Every request runs in a
//! span (`request_id`, method, route; `task_id` once a submission is accepted) and every attempt
//! of a task in one (`task_id`, `agent_id`, `attempt`), so a task's whole way is found by its id:
//! in JSON, each line carries the fields of every span it was written in.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event, for a person.
    #[default]
    Text,
    /// One JSON object per event, with the fields of the spans it happened in.
    Json,
}

/// Logging, and panics through it: a panic in an agent is routine here (its supervisor restarts
/// it), so it belongs in the structured log with its location, not as a raw backtrace on stderr.
pub fn init() {
    init_as(LogFormat::Text);
}

/// [`init`], writing lines in `format`.
pub fn init_as(format: LogFormat) {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".to_owned());
        tracing::warn!(%location, thread = std::thread::current().name().unwrap_or("?"), "panic: {message}");
    }));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second initialisation (tests start many servers in one process) keeps the first.
    // Colour only for a person at a terminal; files and log collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A line that cannot be written (stderr on a full disk, a closed pipe) is dropped: the
    // subscriber's default reports it with `eprintln!`, which panics on the same error, and a
    // panic logged through this hook panics again and aborts the server.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}
