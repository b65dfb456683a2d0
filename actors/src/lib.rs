#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - [`guide`] — supervision explained, with a tested example of each strategy and policy.
//! - [`supervisor`] — the Supervisor actor: child specs, restart policies, intensity, backoff,
//!   escalation, ordered shutdown.
//! - [`child`] — starting an actor so that every exit (stop, error, panic) reaches its supervisor.
//! - `child_index` — a supervisor's index from child id to child.
//! - `child_set` — a supervisor's running children, polled in its own task.
//! - [`exit`] — exit reasons and the slot a child names its error in.
//! - [`window`] — restart intensity (`max_restarts` within `period`).
//! - `millis` — durations and instants as whole milliseconds in snapshots and events.
//! - [`backoff`] — delays between restarts of a crash-looping child.
//! - [`tree`] — snapshots of the live tree; supervision events.
//! - [`remote`] — children on another arbiter: their link to the supervisor and the host that
//!   runs all of one arbiter's children in one task.
//! - [`mailbox`] — bounded-mailbox probes and the `try_send` that counts refusals.

pub mod backoff;
pub mod child;
mod child_index;
mod child_set;
pub mod exit;
pub mod guide;
pub mod mailbox;
mod millis;
pub mod remote;
pub mod supervisor;
mod sync;
pub mod tree;
pub mod window;

pub use backoff::Backoff;
pub use child::{ChildContext, Shutdown, StartedChild};
pub use exit::{ExitReason, ExitSlot};
pub use mailbox::{MailboxProbe, ProbeReading, Probes, Refused};
pub use supervisor::{
    ChildPolicy, ChildSpec, Down, MonitorChild, ShutdownPolicy, StartChild, Supervisor,
    SupervisorError, SupervisorSpec, TerminateChild,
};
pub use tree::{
    discard_events, ChildStatus, EventSink, ListChildren, Restart, Strategy, SupervisionEvent,
    SupervisionEventKind, SupervisorSnapshot, SupervisorStatus, Tree,
};
pub use window::{Intensity, RestartWindow};
