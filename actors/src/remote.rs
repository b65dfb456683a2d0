//! Children that run on another arbiter than their supervisor: the link between the two, and
//! the host that runs all of one arbiter's children in a single task.
//!
//! A tokio task per child costs a task cell of 512 bytes (the cell is aligned to 128 bytes and
//! carries a header and trailer around the actor's 344-byte context future). A host keeps each
//! child's future in one box in its own table instead, and polls only the children that were
//! woken. A child's waker is its [`Link`], which already exists to carry the child's end back to
//! the supervisor and a kill out to the child, so waking costs no allocation of its own.
//!
//! The one shared allocation per child carries:
//! - the child's end back to its supervisor: the reason, worked out on the child's thread
//!   (where its panic and its exit slot are), and the link itself pushed into the supervisor's
//!   [`EndQueue`]. The supervisor keeps no future per remote child: it drains the queue;
//! - a kill (the supervisor dropping its end, or a kill in the child's exit slot) out to the
//!   child, which the host sees and answers by dropping the actor on its own thread;
//! - the child's place in the host's run queue, so that a wake from any thread reaches it.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures::task::{waker_ref, ArcWake};

use crate::exit::{ExitReason, ExitSlot};
use crate::sync::Mutex;

/// Children a host polls before it lets the other tasks of its arbiter run.
const HOST_BUDGET: usize = 256;

/// Not in a host's table: not added yet, or already ended.
const NO_SLOT: u32 = u32::MAX;

// 48 bytes under its one-byte lock, 64 with the `Arc`'s counts (jemalloc's 64-byte class; the
// slot and the queued flag as atomics beside the lock made it 80): every idle child on another
// arbiter carries one.
struct State {
    /// How the child ended, from its end until its supervisor takes it; boxed, so that the
    /// field is one pointer.
    reason: Option<Box<ExitReason>>,
    /// The supervisor's queue of ended children, once it watches this one.
    supervisor: Option<Arc<RunQueue>>,
    /// The incarnation the supervisor reported the child as (see [`Watch::report_to`]).
    incarnation: u64,
    /// The run queue of the host the child was added to.
    queue: Option<Arc<RunQueue>>,
    /// The child's index in its host's table; only the host's thread reads or writes it.
    slot: u32,
    /// The child's end is gone: it finished, or was dropped unfinished (its arbiter stopped).
    ended: bool,
    /// The supervisor's end is gone: the child must stop.
    killed: bool,
    /// In its host's run queue, or about to be: a second wake need not queue it again.
    queued: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            reason: None,
            supervisor: None,
            incarnation: 0,
            queue: None,
            slot: NO_SLOT,
            ended: false,
            killed: false,
            queued: false,
        }
    }
}

/// What a child and its supervisor share; also the child's waker.
pub struct Link {
    state: Mutex<State>,
}

impl ArcWake for Link {
    fn wake_by_ref(link: &Arc<Self>) {
        let queue = {
            let mut state = link.state.lock();
            if std::mem::replace(&mut state.queued, true) {
                return;
            }
            // Not in a host yet: the host polls the child when it adds it.
            state.queue.clone()
        };
        if let Some(queue) = queue {
            queue.push(link.clone());
        }
    }
}

/// Leave `cx`'s waker in `slot` unless the one there already wakes the same task.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}

/// A new link for a child whose exit slot is `exit`: the child's end goes to the host on the
/// child's arbiter, the supervisor's end kills the child when dropped.
pub fn link(exit: ExitSlot) -> (ChildEnd, SupervisorEnd) {
    let link = Arc::new(Link {
        state: Mutex::new(State::default()),
    });
    (
        ChildEnd {
            link: link.clone(),
            exit,
        },
        SupervisorEnd(link),
    )
}

/// The child's side of a [`link`], with the child's exit slot.
pub struct ChildEnd {
    link: Arc<Link>,
    exit: ExitSlot,
}

impl ChildEnd {
    /// Whether the child was killed, by its supervisor's end or through its exit slot; if not,
    /// a kill through the slot wakes `cx`.
    fn killed(&self, cx: &Context<'_>) -> bool {
        self.link.state.lock().killed || self.exit.poll_killed(cx)
    }

    /// The child finished: by returning, or with the payload of its panic.
    fn finish(&self, panic: Option<Box<dyn Any + Send>>) {
        let reason = match panic {
            Some(payload) => ExitReason::from_panic(payload),
            None => self.exit.take().unwrap_or(ExitReason::Normal),
        };
        self.end(reason);
    }

    /// Record the child's end, once, and queue the link for its supervisor if it watches.
    fn end(&self, reason: ExitReason) {
        let supervisor = {
            let mut state = self.link.state.lock();
            // Out of its host for good: a later wake must not keep the link in a queue that
            // nobody drains any more.
            state.queue = None;
            if std::mem::replace(&mut state.ended, true) {
                return;
            }
            state.reason = Some(Box::new(reason));
            state.supervisor.clone()
        };
        if let Some(supervisor) = supervisor {
            supervisor.push(self.link.clone());
        }
    }
}

impl Drop for ChildEnd {
    /// Dropped unfinished (killed, or its host or arbiter stopped): the supervisor learns that
    /// the child is gone, and why.
    fn drop(&mut self) {
        let killed = {
            let state = self.link.state.lock();
            if state.ended {
                return;
            }
            state.killed
        };
        let reason = match self.exit.take() {
            Some(ExitReason::Killed) => ExitReason::Killed,
            _ if killed => ExitReason::Killed,
            _ => ExitReason::Panic("the arbiter of this child stopped".into()),
        };
        self.end(reason);
    }
}

/// A child's future in its host, with its end of the link.
struct Linked<F> {
    /// `None` once the child has ended or was killed.
    future: Option<F>,
    end: ChildEnd,
}

/// What a host holds of a child, whatever the actor's type.
trait Hosted {
    /// Poll the child unless it was killed; `Ready` once it has ended, its end reported.
    fn poll_child(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

impl<F: Future<Output = ()> + Unpin> Hosted for Linked<F> {
    fn poll_child(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.end.killed(cx) {
            self.future = None;
            return Poll::Ready(());
        }
        let Some(future) = self.future.as_mut() else {
            return Poll::Ready(());
        };
        let panic = match catch_unwind(AssertUnwindSafe(|| Pin::new(future).poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => None,
            Err(payload) => Some(payload),
        };
        // The actor is dropped here, on its own thread, before the supervisor hears of its end.
        self.future = None;
        self.end.finish(panic);
        Poll::Ready(())
    }
}

/// Links queued for the task that drains them, and that task: children woken since their host
/// last looked, or children ended since their supervisor last looked.
#[derive(Default)]
pub struct RunQueue {
    inner: Mutex<Woken>,
}

#[derive(Default)]
struct Woken {
    links: Vec<Arc<Link>>,
    host: Option<Waker>,
}

impl RunQueue {
    fn push(&self, link: Arc<Link>) {
        let host = {
            let mut woken = self.inner.lock();
            woken.links.push(link);
            woken.host.take()
        };
        if let Some(host) = host {
            host.wake();
        }
    }

    /// Everything woken so far; when nothing was, `cx` is woken by the next push.
    fn take(&self, cx: &Context<'_>) -> Vec<Arc<Link>> {
        let mut woken = self.inner.lock();
        if woken.links.is_empty() {
            register(&mut woken.host, cx);
        }
        std::mem::take(&mut woken.links)
    }
}

/// Runs the children of one arbiter in one task: a table of boxed child futures and the queue
/// of those woken. Not `Send`: it lives on its arbiter's thread, like the actors in it.
#[derive(Default)]
pub struct Host {
    queue: Arc<RunQueue>,
    table: RefCell<Table>,
    /// Woken children not yet polled, when the last poll ran out of budget.
    due: RefCell<VecDeque<Arc<Link>>>,
}

#[derive(Default)]
struct Table {
    children: Vec<Option<Pin<Box<dyn Hosted>>>>,
    free: Vec<u32>,
}

impl Host {
    /// Run `future` here, linked to its supervisor by `end`. It is polled on the host's next
    /// poll; a panic inside it ends only this child.
    pub fn add<F>(&self, end: ChildEnd, future: F)
    where
        F: Future<Output = ()> + Unpin + 'static,
    {
        let link = end.link.clone();
        let child: Pin<Box<dyn Hosted>> = Box::pin(Linked {
            future: Some(future),
            end,
        });
        let slot = {
            let mut table = self.table.borrow_mut();
            match table.free.pop() {
                Some(slot) => {
                    table.children[slot as usize] = Some(child);
                    slot
                }
                None => {
                    table.children.push(Some(child));
                    // 4 billion children of a kilobyte each would be 4 TB on one thread.
                    (table.children.len() - 1) as u32
                }
            }
        };
        {
            let mut state = link.state.lock();
            state.slot = slot;
            state.queue = Some(self.queue.clone());
            state.queued = true;
        }
        self.queue.push(link);
    }

    /// Children in the table.
    pub fn len(&self) -> usize {
        let table = self.table.borrow();
        table.children.len() - table.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Poll the woken children. Never ready: a host runs as long as its arbiter. `cx` is woken
    /// when a child is woken, or at once when the budget ran out with children still due.
    pub fn poll_children(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut due = std::mem::take(&mut *self.due.borrow_mut());
        if due.is_empty() {
            due.extend(self.queue.take(cx));
        }
        let mut polled = 0;
        while let Some(link) = due.pop_front() {
            if polled == HOST_BUDGET {
                due.push_front(link);
                *self.due.borrow_mut() = due;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            polled += 1;
            self.poll_one(&link);
            if due.is_empty() {
                due.extend(self.queue.take(cx));
            }
        }
        Poll::Pending
    }

    fn poll_one(&self, link: &Arc<Link>) {
        let slot = {
            let mut state = link.state.lock();
            // Cleared before the poll, so that a wake during it queues the child again.
            state.queued = false;
            state.slot
        };
        // Taken out of the table while it runs, so that a child may add children here.
        let Some(mut child) = self
            .table
            .borrow_mut()
            .children
            .get_mut(slot as usize)
            .and_then(Option::take)
        else {
            // Woken after it ended: its slot was set to `NO_SLOT` then, so a place since given
            // to another child is never polled in this one's name.
            return;
        };
        let waker = waker_ref(link);
        let ended = child
            .as_mut()
            .poll_child(&mut Context::from_waker(&waker))
            .is_ready();
        if ended {
            link.state.lock().slot = NO_SLOT;
            // Dropped outside the table's borrow: an actor's drop may add children here.
            drop(child);
            self.table.borrow_mut().free.push(slot);
        } else {
            self.table.borrow_mut().children[slot as usize] = Some(child);
        }
    }
}

/// The supervisor's side of a [`link`]: dropped, it kills the child.
pub struct SupervisorEnd(Arc<Link>);

impl SupervisorEnd {
    /// A handle through which the supervisor learns of the child's end, without owning it.
    pub fn watch(&self) -> Watch {
        Watch(self.0.clone())
    }
}

impl Drop for SupervisorEnd {
    fn drop(&mut self) {
        {
            let mut state = self.0.state.lock();
            state.killed = true;
            // Nobody will drain the supervisor's queue for this child any more: a link queued
            // there and pointing back at the queue would keep both alive for ever.
            state.supervisor = None;
        }
        // Wakes the child in its host, which sees the kill and drops it.
        ArcWake::wake_by_ref(&self.0);
    }
}

/// What a supervisor holds to learn of a remote child's end; dropping it kills nothing.
pub struct Watch(Arc<Link>);

impl Watch {
    /// Report the child's end to `ends` as `incarnation`: at once if it has already ended,
    /// otherwise when it does. Exactly once either way, since both sides decide under the
    /// link's lock.
    pub fn report_to(self, ends: &EndQueue, incarnation: u64) {
        let ended = {
            let mut state = self.0.state.lock();
            state.supervisor = Some(ends.0.clone());
            state.incarnation = incarnation;
            state.ended
        };
        if ended {
            ends.0.push(self.0);
        }
    }
}

/// Where a supervisor's children on other arbiters report their ends: one queue for all of
/// them, in place of a future per child.
#[derive(Clone, Default)]
pub struct EndQueue(Arc<RunQueue>);

impl EndQueue {
    /// The children ended since the last call, as the incarnation each was reported as and how
    /// it ended; when there are none, `cx` is woken by the next end.
    pub fn take(&self, cx: &Context<'_>) -> Vec<(u64, ExitReason)> {
        self.0
            .take(cx)
            .into_iter()
            .map(|link| {
                let mut state = link.state.lock();
                // Set before the link is queued; a link is queued once.
                let reason = state.reason.take().map_or(ExitReason::Killed, |r| *r);
                (state.incarnation, reason)
            })
            .collect()
    }
}

thread_local! {
    /// The host of the current thread's children; held strongly only by its task, so that it
    /// ends, dropping its children, when its arbiter stops.
    static LOCAL_HOST: RefCell<Weak<Host>> = const { RefCell::new(Weak::new()) };
}

/// Run `future` in the current arbiter's host, starting the host on first use.
pub(crate) fn host_here<F>(end: ChildEnd, future: F)
where
    F: Future<Output = ()> + Unpin + 'static,
{
    let host = LOCAL_HOST.with(|cell| {
        if let Some(host) = cell.borrow().upgrade() {
            return host;
        }
        let host = Rc::new(Host::default());
        *cell.borrow_mut() = Rc::downgrade(&host);
        actix_rt::spawn(HostTask(host.clone()));
        host
    });
    host.add(end, future);
}

/// The task that polls a host.
struct HostTask(Rc<Host>);

impl Future for HostTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_children(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A supervisor that let go of a child (dropped its end, then its queue) leaves nothing
    /// behind when the child ends afterwards: no link queued in a queue nobody drains.
    #[test]
    fn a_child_that_ends_after_its_supervisor_let_go_leaves_nothing_behind() {
        let (child, supervisor) = link(ExitSlot::default());
        let ends = EndQueue::default();
        supervisor.watch().report_to(&ends, 1);
        let queue = Arc::downgrade(&ends.0);
        let link = Arc::downgrade(&child.link);
        drop(supervisor);
        drop(ends);
        drop(child);
        assert!(queue.upgrade().is_none(), "the queue is freed");
        assert!(link.upgrade().is_none(), "the link is freed");
    }

    /// A link with its `Arc`'s two counts stays in jemalloc's 64-byte class.
    #[test]
    fn a_link_with_its_counts_fits_64_bytes() {
        let size = std::mem::size_of::<Link>() + 2 * std::mem::size_of::<usize>();
        assert!(size <= 64, "{size} bytes");
    }
}
