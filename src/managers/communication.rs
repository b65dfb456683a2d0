//! The CommunicationManager actor: hands out event-stream subscriptions and bounds how many are
//! open, so that a flood of SSE clients is refused rather than served without limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use hive_actors::Shutdown;
use tokio::sync::{broadcast, oneshot};

use crate::bus::Event;
use crate::context::Hive;

/// A subscription; dropping it frees its place.
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<Event>>,
    _place: Place,
}

struct Place {
    open: Arc<AtomicUsize>,
    hive: Hive,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.hive.metrics.sse_clients.dec();
    }
}

/// Ask for a subscription; `None` when the limit of open streams is reached.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeWith {
    pub reply: oneshot::Sender<Option<Subscription>>,
}

pub struct CommunicationManager {
    hive: Hive,
    open: Arc<AtomicUsize>,
}

impl CommunicationManager {
    pub fn new(hive: Hive) -> Self {
        Self {
            hive,
            open: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Actor for CommunicationManager {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.hive.kinds.communication.actor_started();
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.hive.kinds.communication.actor_stopped();
    }
}

impl Handler<SubscribeWith> for CommunicationManager {
    type Result = ();

    fn handle(&mut self, SubscribeWith { reply }: SubscribeWith, _: &mut Context<Self>) {
        self.hive.kinds.communication.handled();
        let _timer = self.hive.metrics.processing("communication");
        if self.open.load(Ordering::Relaxed) >= self.hive.config.max_sse_clients {
            let _ = reply.send(None);
            return;
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        self.hive.metrics.sse_clients.inc();
        let _ = reply.send(Some(Subscription {
            events: self.hive.bus.subscribe(),
            _place: Place {
                open: self.open.clone(),
                hive: self.hive.clone(),
            },
        }));
    }
}

impl Handler<Shutdown> for CommunicationManager {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
