//! The event bus: every [`Event`] for server-sent-event streams, the cluster's relay and any
//! in-process listener. In-process broadcast: publishing never waits, and a subscriber that
//! falls more than [`BUS_CAPACITY`] events behind is told how many it missed.
//!
//! # Layout
//! - [`event`] — every event, by kind, with its body.

pub mod event;

use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use tokio::sync::broadcast;

use crate::domain::time::now_ms;
pub use event::{Event, DRAINING};

/// Events a slow subscriber may fall behind before it starts missing some.
pub const BUS_CAPACITY: usize = 4096;

/// An event as subscribers receive it: when, and from which node if another's. On the wire
/// (`GET /api/v1/events`, the cluster's channel) it is `{kind, at_ms, node?, data}`.
#[derive(Debug, Clone)]
pub struct Published {
    pub event: Event,
    pub at_ms: i64,
    /// The node an event came from, when it was relayed from another node of the cluster.
    pub node: Option<Arc<str>>,
}

impl Published {
    pub fn kind(&self) -> &'static str {
        self.event.kind()
    }
}

impl Serialize for Published {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("kind", self.kind())?;
        map.serialize_entry("at_ms", &self.at_ms)?;
        if let Some(node) = &self.node {
            map.serialize_entry("node", node)?;
        }
        map.serialize_entry("data", &event::Data(&self.event))?;
        map.end()
    }
}

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Published>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BUS_CAPACITY).0,
        }
    }
}

impl EventBus {
    pub fn publish(&self, event: Event) {
        // No subscriber is not an error: events are for whoever listens now.
        let _ = self.tx.send(Arc::new(Published {
            event,
            at_ms: now_ms(),
            node: None,
        }));
    }

    /// An event another node published, for this node's subscribers.
    pub fn relay(&self, published: Published) {
        let _ = self.tx.send(Arc::new(published));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.tx.subscribe()
    }
}
