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
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|d| EnvFilter::try_new(d).is_ok())
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::new(&directives);
    // A second initialisation (tests start many servers in one process) keeps the first.
    // Colour only for a person at a terminal; files and log collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A line that cannot be written (stderr on a full disk, a closed pipe) is dropped: the
    // subscriber's default reports it with `eprintln!`, which panics on the same error, and a
    // panic logged through this hook panics again and aborts the server.
    // With a reloadable filter: `log_level` is a live setting (see `config::log_level`).
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let started = match format {
        LogFormat::Text => {
            let builder = builder
                .with_ansi(ansi)
                .with_env_filter(filter)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().map(|()| changer(handle))
        }
        LogFormat::Json => {
            let builder = builder
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_env_filter(filter)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().map(|()| changer(handle))
        }
    };
    if let Ok(change) = started {
        crate::config::log_level::register(directives, change);
    }
}

/// How to replace the filter behind `handle`.
fn changer<S: 'static>(
    handle: tracing_subscriber::reload::Handle<EnvFilter, S>,
) -> crate::config::log_level::Change {
    Box::new(move |directives| {
        let filter = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    })
}
