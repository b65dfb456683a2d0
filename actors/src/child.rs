//! Starting an actor so that its supervisor sees every way it ends.
//!
//! actix's own `Supervisor` restarts an actor in place but never sees a panic: the panic unwinds
//! out of the arbiter. Here the actor's context future is run inside `catch_unwind`, so a panic in a
//! handler, in a future the actor spawned on its context, or in `started()` ends only that future,
//! and the supervisor turns the outcome into an [`ExitReason`] (see `child_set`).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use actix::dev::channel;
use actix::prelude::*;
use actix_rt::ArbiterHandle;
use futures::FutureExt;

use crate::exit::{ExitReason, ExitSlot};
use crate::remote;

/// Asks a supervised actor to stop. Every child actor handles it, usually with `ctx.stop()`; an
/// actor with work to hand back does that first.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// What a child factory is given at each (re)start.
#[derive(Debug, Clone)]
pub struct ChildContext {
    /// The child's id in its supervisor, stable across restarts.
    pub id: arcstr::ArcStr,
    /// Starts at 0 and grows by one with every restart.
    pub generation: u64,
    /// Where the child records an error before stopping itself.
    pub exit: ExitSlot,
}

/// A started child as its supervisor holds it: the future to run and the way to ask it to stop.
pub struct StartedChild {
    pub(crate) future: ChildFuture,
    pub(crate) stop: Box<dyn Fn()>,
}

/// How a supervisor follows one child: it polls the actor's own future, or for a child on
/// another arbiter it has the link report the child's end to its queue of ends.
pub(crate) enum ChildFuture {
    Local(Pin<Box<dyn Future<Output = ()>>>),
    Remote(remote::Watch),
}

impl StartedChild {
    /// Prepare `actor` with a mailbox of `capacity` messages. Nothing runs until the supervisor
    /// polls the returned future, so the address can be published first.
    pub fn new<A>(actor: A, capacity: usize) -> (Addr<A>, StartedChild)
    where
        A: Actor<Context = Context<A>> + Handler<Shutdown>,
    {
        let mut ctx = Context::<A>::new();
        ctx.set_mailbox_capacity(capacity);
        keep_alive(&mut ctx);
        let addr = ctx.address();
        let stop = shutdown_by(&addr);
        let future = ChildFuture::Local(Box::pin(ctx.into_future(actor)));
        (addr, StartedChild { future, stop })
    }

    /// Like [`StartedChild::new`], but the actor runs on `arbiter` (another thread) while its
    /// supervisor stays where it is. Its end, panic included, is classified on its arbiter with
    /// `exit` (the slot of its [`ChildContext`]) and carried back to the supervisor; a kill,
    /// through `exit` or by the supervisor letting go of the child, drops the actor on its
    /// arbiter.
    pub fn on_arbiter<A, F>(
        arbiter: &ArbiterHandle,
        capacity: usize,
        exit: &ExitSlot,
        make: F,
    ) -> (Addr<A>, StartedChild)
    where
        A: Actor<Context = Context<A>> + Handler<Shutdown>,
        F: FnOnce() -> A + Send + 'static,
    {
        let (tx, rx) = channel::channel::<A>(capacity);
        let addr = Addr::new(tx);
        let (child_end, supervisor_end) = remote::link(exit.clone());
        // The closure is sent; the actor and its context are built on the arbiter's own thread.
        let spawned = arbiter.spawn_fn(move || {
            let mut ctx = Context::<A>::with_receiver(rx);
            ctx.set_mailbox_capacity(capacity);
            keep_alive(&mut ctx);
            remote::host_here(child_end, ctx.into_future(make()));
        });
        let future = if spawned {
            ChildFuture::Remote(supervisor_end.watch())
        } else {
            ChildFuture::Local(Box::pin(async {
                panic!("the arbiter for this child is not running")
            }))
        };
        let weak = addr.downgrade();
        // The supervisor holds this closure as long as it holds the running child, so the
        // closure owns the supervisor's end of the link: letting go of the child kills it.
        let stop: Box<dyn Fn()> = Box::new(move || {
            let _held = &supervisor_end;
            if let Some(addr) = weak.upgrade() {
                addr.do_send(Shutdown);
            }
        });
        (addr, StartedChild { future, stop })
    }
}

/// Like an OTP process, a supervised actor lives until it stops or is stopped, not until the
/// last address to it is dropped (actix's rule). actix keeps a context running while it has a
/// spawned future, so it is given one that never ends; the future is zero-sized, so this costs
/// no allocation, where a strong address held for the purpose would cost one per child.
fn keep_alive<A>(ctx: &mut Context<A>)
where
    A: Actor<Context = Context<A>>,
{
    ctx.spawn(fut::wrap_future(futures::future::pending::<()>()));
}

/// Asks the actor to stop through a weak address: the actor keeps its mailbox open while it
/// runs (see [`keep_alive`]), so the upgrade only fails once it has ended.
fn shutdown_by<A>(addr: &Addr<A>) -> Box<dyn Fn()>
where
    A: Actor<Context = Context<A>> + Handler<Shutdown>,
{
    let weak = addr.downgrade();
    Box::new(move || {
        if let Some(addr) = weak.upgrade() {
            addr.do_send(Shutdown);
        }
    })
}

impl StartedChild {
    /// Run a child that has no supervisor (the root of a tree) and answer how it ended.
    pub async fn run_unsupervised(self, exit: ExitSlot) -> ExitReason {
        match self.future {
            ChildFuture::Local(future) => match AssertUnwindSafe(future).catch_unwind().await {
                Err(payload) => ExitReason::from_panic(payload),
                Ok(()) => exit.take().unwrap_or(ExitReason::Normal),
            },
            ChildFuture::Remote(watch) => {
                let ends = remote::EndQueue::default();
                watch.report_to(&ends, 0);
                // Held while the child runs: dropping it would kill the child.
                let _stop = self.stop;
                std::future::poll_fn(|cx| match ends.take(cx).pop() {
                    Some((_, reason)) => std::task::Poll::Ready(reason),
                    None => std::task::Poll::Pending,
                })
                .await
            }
        }
    }

    /// A child that could not be built: it ends at once with `reason` as its error, so that its
    /// supervisor counts the failure and retries per policy.
    pub fn failed(exit: ExitSlot, reason: impl Into<String>) -> StartedChild {
        let reason = reason.into();
        StartedChild {
            future: ChildFuture::Local(Box::pin(async move { exit.fail(reason) })),
            stop: Box::new(|| {}),
        }
    }
}
