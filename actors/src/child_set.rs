//! The running children of one supervisor, followed inside the supervisor's own task.
//!
//! A task per child would cost a tokio task, a channel back to the supervisor and a closure for
//! every idle child. Here the futures of children on the supervisor's own thread sit in one
//! `FuturesUnordered` that the supervisor's context polls as a stream: only children that were
//! woken are polled, and the exit of each arrives as a stream item, panics included. Children on
//! other arbiters run in their hosts; their links report their ends to one queue that the same
//! stream drains, so that they cost the supervisor no future (and no node in the set) each.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::stream::{FuturesUnordered, Stream, StreamExt};
use futures::FutureExt;

use crate::child::ChildFuture;
use crate::exit::{ExitReason, ExitSlot};
use crate::remote::EndQueue;

/// Bits of a child's generation that tell its incarnations apart in an exit: a stale exit of
/// the same low bits would need 65,536 restarts of one child in flight.
const GENERATION_BITS: u32 = 16;

/// The highest sequence number a supervisor gives a child: 48 bits, which a supervisor adding a
/// million children a second reaches after eight years.
pub(crate) const MAX_SEQ: u64 = u64::MAX >> GENERATION_BITS;

/// The low bits of a generation, as an exit reports it.
pub(crate) fn generation_tag(generation: u32) -> u16 {
    (generation & 0xFFFF) as u16
}

/// How one incarnation of a child ended.
#[derive(Debug)]
pub(crate) struct Exited {
    pub seq: u64,
    pub generation: u16,
    pub reason: ExitReason,
}

#[derive(Default)]
struct Inner {
    running: FuturesUnordered<Watched>,
    /// Where children on other arbiters report their ends, and those taken but not yet handed on.
    ends: EndQueue,
    due: VecDeque<(u64, ExitReason)>,
    /// The supervisor's task, woken when a child is added: `FuturesUnordered::push` does not.
    waker: Option<Waker>,
}

/// Children added by the supervisor and the stream of their exits; both halves share one set.
#[derive(Clone, Default)]
pub(crate) struct ChildSet(Rc<RefCell<Inner>>);

impl ChildSet {
    /// Follow a child until it ends; its exit becomes an item of the stream. [`ExitSlot::kill`]
    /// drops it unfinished (reported as [`ExitReason::Killed`]).
    pub fn add(&self, seq: u64, generation: u32, future: ChildFuture, exit: ExitSlot) {
        debug_assert!(seq <= MAX_SEQ);
        let incarnation = seq << GENERATION_BITS | u64::from(generation_tag(generation));
        let mut inner = self.0.borrow_mut();
        match future {
            ChildFuture::Local(future) => inner.running.push(Watched {
                future,
                exit,
                incarnation,
            }),
            // Its host polls it; its link reports its end to the queue, and a report queued
            // already has woken the supervisor's task.
            ChildFuture::Remote(watch) => return watch.report_to(&inner.ends, incarnation),
        }
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
    }
}

impl Stream for ChildSet {
    type Item = Exited;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Exited>> {
        let mut inner = self.0.borrow_mut();
        if inner.due.is_empty() {
            let ended = inner.ends.take(cx);
            inner.due.extend(ended);
        }
        if let Some((incarnation, reason)) = inner.due.pop_front() {
            return Poll::Ready(Some(Exited::of(incarnation, reason)));
        }
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

impl Exited {
    fn of(incarnation: u64, reason: ExitReason) -> Self {
        Exited {
            seq: incarnation >> GENERATION_BITS,
            generation: (incarnation & 0xFFFF) as u16,
            reason,
        }
    }
}

/// One local child's future, with what is needed to name how it ended.
///
/// 32 bytes, so that its node in the set, with the set's links and the `Arc`'s counts, is in
/// jemalloc's 96-byte class (a separate 64-bit sequence number and generation made it 112).
struct Watched {
    future: Pin<Box<dyn Future<Output = ()>>>,
    exit: ExitSlot,
    /// The child's sequence number above the low bits of its generation.
    incarnation: u64,
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
        Poll::Ready(Exited::of(self.incarnation, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child's entry in the set stays at 32 bytes; its node is then 96 with the set's links.
    #[test]
    fn a_watched_child_fits_32_bytes() {
        assert!(std::mem::size_of::<Watched>() <= 32);
    }
}
