//! How a child ended, and the slot through which a child names an error before it stops.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Waker};

use crate::sync::Mutex;
use serde::Serialize;

/// Every way a supervised actor can end. `Normal` and `Shutdown` are normal exits in OTP's sense;
/// the rest are abnormal and restart `transient` children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ExitReason {
    /// The actor stopped itself with no error.
    Normal,
    /// Its supervisor asked it to stop.
    Shutdown,
    /// The actor recorded an error in its [`ExitSlot`] and stopped.
    Error(String),
    /// A handler, a future the actor spawned, or `started()` panicked; the panic message is kept.
    Panic(String),
    /// Dropped without running to its end: brutal kill, or the shutdown timeout passed.
    Killed,
    /// The actor asked to be started afresh ([`ExitSlot::restart`]): an operator's restart, work
    /// it was told to drop. Abnormal, so it is restarted like an error and counts in the
    /// intensity, but at once, and not as a crash of a crash loop.
    Restart(String),
    /// Not running when it was asked about (a monitor of a child that had already ended).
    NoProc,
}

impl ExitReason {
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }

    /// A label of bounded cardinality, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ExitReason::Normal => "normal",
            ExitReason::Shutdown => "shutdown",
            ExitReason::Error(_) => "error",
            ExitReason::Panic(_) => "panic",
            ExitReason::Killed => "killed",
            ExitReason::NoProc => "noproc",
            ExitReason::Restart(_) => "restart",
        }
    }

    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_owned()
        };
        ExitReason::Panic(message)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Error(e) => write!(f, "error: {e}"),
            ExitReason::Panic(p) => write!(f, "panic: {p}"),
            ExitReason::Restart(why) => write!(f, "restart: {why}"),
            other => f.write_str(other.kind()),
        }
    }
}

/// Where a child leaves the reason for a deliberate stop. An actor that stops after
/// `exit.fail("…")` is seen by its supervisor as an `Error` exit, otherwise as `Normal`.
///
/// The supervisor also kills through it: one small allocation per child serves both.
#[derive(Debug, Clone, Default)]
pub struct ExitSlot(Arc<Mutex<SlotState>>);

// 24 bytes under a one-byte lock, 48 with the `Arc`'s counts: jemalloc's 48-byte class, where a
// separate `killed` flag made it 64. Every child has one.
#[derive(Debug, Default)]
struct SlotState {
    /// Boxed: every child has a slot, few ever hold a reason, and an inline reason would add
    /// its full size to each of them. `Killed` once the child was killed: no later reason
    /// replaces it, which is how the slot remembers the kill without a flag of its own.
    reason: Option<Box<ExitReason>>,
    /// The task that polls the child, woken by a kill.
    waker: Option<Waker>,
}

impl SlotState {
    fn killed(&self) -> bool {
        matches!(self.reason.as_deref(), Some(ExitReason::Killed))
    }

    fn record(&mut self, reason: ExitReason) {
        if !self.killed() {
            self.reason = Some(Box::new(reason));
        }
    }
}

impl ExitSlot {
    pub fn fail(&self, error: impl Into<String>) {
        self.0.lock().record(ExitReason::Error(error.into()));
    }

    /// Stop to be started afresh, for `why` (see [`ExitReason::Restart`]).
    pub fn restart(&self, why: impl Into<String>) {
        self.0.lock().record(ExitReason::Restart(why.into()));
    }

    pub(crate) fn set(&self, reason: ExitReason) {
        self.0.lock().record(reason);
    }

    pub(crate) fn take(&self) -> Option<ExitReason> {
        self.0.lock().reason.take().map(|r| *r)
    }

    /// Have the child dropped unfinished by whoever polls it (see [`ExitSlot::poll_killed`]).
    /// Supervisors kill this way after a shutdown timeout or for `brutal_kill`.
    pub fn kill(&self) {
        let waker = {
            let mut state = self.0.lock();
            state.record(ExitReason::Killed);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the child was killed; if not, `cx` is woken by a later kill. Called by whoever
    /// polls the child, before each poll.
    pub fn poll_killed(&self, cx: &Context<'_>) -> bool {
        let mut state = self.0.lock();
        if state.killed() {
            return true;
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot with its `Arc`'s two counts stays in jemalloc's 48-byte class.
    #[test]
    fn a_slot_with_its_counts_fits_48_bytes() {
        let size = std::mem::size_of::<Mutex<SlotState>>() + 2 * std::mem::size_of::<usize>();
        assert!(size <= 48, "{size} bytes");
    }

    /// A kill outlasts the reasons recorded after it: the child is reported killed.
    #[test]
    fn a_kill_is_not_replaced_by_a_later_reason() {
        let slot = ExitSlot::default();
        slot.set(ExitReason::Shutdown);
        slot.kill();
        slot.fail("stopping anyway");
        assert_eq!(slot.take(), Some(ExitReason::Killed));
    }
}
