//! The link between a child that runs on another arbiter and the future its supervisor polls.
//!
//! One shared allocation carries both directions: the child's end (normal, or the payload of
//! its panic) back to the supervisor, and a kill (the supervisor dropping its end) out to the
//! child, which drops the actor on its own thread. A oneshot channel for the one and an abort
//! handle for the other cost two allocations and some hundred bytes more per idle child.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::sync::Mutex;

type Outcome = Result<(), Box<dyn Any + Send>>;

#[derive(Default)]
struct State {
    /// How the child ended, until the supervisor's end takes it.
    outcome: Option<Outcome>,
    /// The child's end is gone: it finished, or was dropped unfinished (its arbiter stopped).
    ended: bool,
    /// The supervisor's end is gone: the child must stop.
    killed: bool,
    /// The task that runs the child, woken by a kill.
    child: Option<Waker>,
    /// The task that watches the child, woken by its end.
    supervisor: Option<Waker>,
}

/// Leave `cx`'s waker in `slot` unless the one there already wakes the same task.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}

/// A new link: the child's end wraps the child's future on its arbiter, the supervisor's end is
/// the future the supervisor polls.
pub fn link() -> (ChildEnd, SupervisorEnd) {
    let state = Arc::new(Mutex::<State>::default());
    (ChildEnd(state.clone()), SupervisorEnd(state))
}

/// The child's side of a [`link`].
pub struct ChildEnd(Arc<Mutex<State>>);

impl ChildEnd {
    /// Run `future` until it ends or the supervisor's end is dropped; a panic inside it is
    /// caught here and re-raised on the supervisor's side.
    pub fn run<F: Future<Output = ()> + Unpin>(self, future: F) -> Linked<F> {
        Linked {
            future: Some(future),
            end: self,
        }
    }

    fn finish(&self, outcome: Outcome) {
        let waker = {
            let mut state = self.0.lock();
            state.outcome = Some(outcome);
            state.ended = true;
            state.supervisor.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Drop for ChildEnd {
    /// Dropped unfinished (its arbiter stopped): the supervisor learns that the child is gone.
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.lock();
            if state.ended {
                return;
            }
            state.ended = true;
            state.supervisor.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A child's future on its arbiter, linked to its supervisor.
pub struct Linked<F> {
    future: Option<F>,
    end: ChildEnd,
}

impl<F: Future<Output = ()> + Unpin> Future for Linked<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut state = self.end.0.lock();
            if state.killed {
                drop(state);
                self.future = None;
                return Poll::Ready(());
            }
            // Left before the poll, so a kill that comes during it wakes this task again.
            register(&mut state.child, cx);
        }
        let Some(future) = self.future.as_mut() else {
            return Poll::Ready(());
        };
        let outcome = match catch_unwind(AssertUnwindSafe(|| Pin::new(future).poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => Ok(()),
            Err(payload) => Err(payload),
        };
        // The actor is dropped here, on its own thread, before the supervisor hears of its end.
        self.future = None;
        self.end.finish(outcome);
        Poll::Ready(())
    }
}

/// The supervisor's side of a [`link`]: ends when the child does, re-raising its panic; dropped
/// early, it kills the child.
pub struct SupervisorEnd(Arc<Mutex<State>>);

impl Future for SupervisorEnd {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.lock();
        match state.outcome.take() {
            Some(Ok(())) => Poll::Ready(()),
            Some(Err(payload)) => {
                drop(state);
                resume_unwind(payload)
            }
            None if state.ended => {
                drop(state);
                panic!("the arbiter of this child stopped")
            }
            None => {
                register(&mut state.supervisor, cx);
                Poll::Pending
            }
        }
    }
}

impl Drop for SupervisorEnd {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.lock();
            state.killed = true;
            state.child.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
