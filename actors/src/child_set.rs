//! The running children of one supervisor, polled inside the supervisor's own task.
//!
//! A task per child would cost a tokio task, a channel back to the supervisor and a closure for
//! every idle child. Here the children's futures sit in one `FuturesUnordered` that the
//! supervisor's context polls as a stream: only children that were woken are polled, and the exit
//! of each arrives as a stream item, panics included.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::stream::{FuturesUnordered, Stream, StreamExt};
use futures::FutureExt;

use crate::exit::{ExitReason, ExitSlot};

/// How one incarnation of a child ended.
#[derive(Debug)]
pub(crate) struct Exited {
    pub seq: u64,
    pub generation: u64,
    pub reason: ExitReason,
}

#[derive(Default)]
struct Inner {
    running: FuturesUnordered<Watched>,
    /// The supervisor's task, woken when a child is added: `FuturesUnordered::push` does not.
    waker: Option<Waker>,
}

/// Children added by the supervisor and the stream of their exits; both halves share one set.
#[derive(Clone, Default)]
pub(crate) struct ChildSet(Rc<RefCell<Inner>>);

impl ChildSet {
    /// Run `future` until it ends; its exit becomes an item of the stream. [`ExitSlot::kill`]
    /// drops it unfinished (reported as [`ExitReason::Killed`]).
    pub fn add(
        &self,
        seq: u64,
        generation: u64,
        future: Pin<Box<dyn Future<Output = ()>>>,
        exit: ExitSlot,
    ) {
        let mut inner = self.0.borrow_mut();
        inner.running.push(Watched {
            future,
            exit,
            seq,
            generation,
        });
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
    }
}

impl Stream for ChildSet {
    type Item = Exited;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Exited>> {
        let mut inner = self.0.borrow_mut();
        match inner.running.poll_next_unpin(cx) {
            Poll::Ready(Some(exited)) => Poll::Ready(Some(exited)),
            // An empty set is not an ended stream: children are added later.
            Poll::Ready(None) | Poll::Pending => {
                inner.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// One child's future, with what is needed to name how it ended.
struct Watched {
    future: Pin<Box<dyn Future<Output = ()>>>,
    exit: ExitSlot,
    seq: u64,
    generation: u64,
}

impl Future for Watched {
    type Output = Exited;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Exited> {
        // A panic ends this child only: it must not unwind through the supervisor.
        let reason = if self.exit.poll_killed(cx) {
            ExitReason::Killed
        } else {
            match catch_unwind(AssertUnwindSafe(|| self.future.poll_unpin(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Err(payload) => ExitReason::from_panic(payload),
                Ok(Poll::Ready(())) => self.exit.take().unwrap_or(ExitReason::Normal),
            }
        };
        Poll::Ready(Exited {
            seq: self.seq,
            generation: self.generation,
            reason,
        })
    }
}
