//! Starting an actor so that its supervisor sees every way it ends.
//!
//! actix's own `Supervisor` restarts an actor in place but never sees a panic: the panic unwinds
//! out of the arbiter. Here the actor's context future is run inside `catch_unwind`, so a panic in a
//! handler, in a future the actor spawned on its context, or in `started()` ends only that future,
//! and the watcher turns the outcome into an [`ExitReason`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use actix::prelude::*;
use futures::future::{AbortHandle, Abortable};
use futures::FutureExt;

use crate::exit::{ExitReason, ExitSlot};

/// Asks a supervised actor to stop. Every child actor handles it, usually with `ctx.stop()`; an
/// actor with work to hand back does that first.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// What a child factory is given at each (re)start.
#[derive(Debug, Clone)]
pub struct ChildContext {
    /// The child's id in its supervisor, stable across restarts.
    pub id: String,
    /// Starts at 0 and grows by one with every restart.
    pub generation: u64,
    /// Where the child records an error before stopping itself.
    pub exit: ExitSlot,
}

/// A started child as its supervisor holds it: the future to run and the way to ask it to stop.
pub struct StartedChild {
    pub(crate) future: Pin<Box<dyn Future<Output = ()>>>,
    pub(crate) stop: Box<dyn Fn()>,
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
        let addr = ctx.address();
        // The supervisor holds a strong address: like an OTP process, a child lives until it
        // stops or is stopped, not until the last outside reference to it goes away.
        let held = addr.clone();
        let stop = Box::new(move || held.do_send(Shutdown));
        let future = Box::pin(ctx.into_future(actor));
        (addr, StartedChild { future, stop })
    }
}

/// Run `future` to its end on the current arbiter and report how it ended.
pub(crate) fn watch(
    future: Pin<Box<dyn Future<Output = ()>>>,
    exit: ExitSlot,
    on_exit: impl FnOnce(ExitReason) + 'static,
) -> AbortHandle {
    let (abort, registration) = AbortHandle::new_pair();
    let guarded = Abortable::new(future, registration);
    actix_rt::spawn(async move {
        let reason = match AssertUnwindSafe(guarded).catch_unwind().await {
            Err(payload) => ExitReason::from_panic(payload),
            Ok(Err(_aborted)) => ExitReason::Killed,
            Ok(Ok(())) => exit.take().unwrap_or(ExitReason::Normal),
        };
        on_exit(reason);
    });
    abort
}
