//! The CommunicationManager actor: carries messages to agents and to clients. It hands out
//! event-stream subscriptions and bounds how many are open, in all and per client, so that a
//! flood of SSE clients is refused rather than served without limit, and one client cannot take
//! every place; and it runs the topics agents subscribe to (`topics`): who subscribes, and a
//! message turned into one task per subscriber.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use hive_actors::Shutdown;
use tokio::sync::{broadcast, oneshot};

use crate::bus::Published;
use crate::context::Hive;
use crate::managers::orchestrator::Orchestrator;
use crate::managers::slot::Slot;
use crate::store::manager::StoreManager;

mod topics;

pub use topics::{Publish, SetTopics, TopicError};

/// A subscription; dropping it frees its place.
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<Published>>,
    _place: Place,
}

/// Open streams per client: a token's id, or the address of a caller without one.
type PerClient = Arc<parking_lot::Mutex<HashMap<Arc<str>, usize>>>;

struct Place {
    open: Arc<AtomicUsize>,
    per_client: PerClient,
    client: Arc<str>,
    hive: Hive,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        let mut per_client = self.per_client.lock();
        if let Some(count) = per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&self.client);
            }
        }
        self.hive.metrics.sse_clients.dec();
    }
}

/// Ask for a subscription for `client`; `None` when the limit of open streams, in all or of
/// that client, is reached.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeWith {
    pub client: Arc<str>,
    pub reply: oneshot::Sender<Option<Subscription>>,
}

pub struct CommunicationManager {
    hive: Hive,
    open: Arc<AtomicUsize>,
    per_client: PerClient,
    /// Where a topic's tasks are submitted, and subscriptions written.
    orchestrator: Arc<Slot<Orchestrator>>,
    store: Arc<Slot<StoreManager>>,
}

impl CommunicationManager {
    pub fn new(
        hive: Hive,
        orchestrator: Arc<Slot<Orchestrator>>,
        store: Arc<Slot<StoreManager>>,
    ) -> Self {
        Self {
            hive,
            open: Arc::new(AtomicUsize::new(0)),
            per_client: Default::default(),
            orchestrator,
            store,
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

    fn handle(&mut self, msg: SubscribeWith, _: &mut Context<Self>) {
        self.hive.kinds.communication.handled();
        let _timer = self.hive.metrics.processing("communication");
        if self.open.load(Ordering::Relaxed) >= self.hive.config.max_sse_clients {
            let _ = msg.reply.send(None);
            return;
        }
        {
            let mut per_client = self.per_client.lock();
            let count = per_client.entry(msg.client.clone()).or_default();
            if *count >= self.hive.config.max_sse_per_client {
                let _ = msg.reply.send(None);
                return;
            }
            *count += 1;
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        self.hive.metrics.sse_clients.inc();
        let _ = msg.reply.send(Some(Subscription {
            events: self.hive.bus.subscribe(),
            _place: Place {
                open: self.open.clone(),
                per_client: self.per_client.clone(),
                client: msg.client,
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
