//! The event bus: agent, task and supervision lifecycle events for server-sent-event streams and
//! any in-process listener. In-process broadcast: publishing never waits, and a subscriber that
//! falls more than [`BUS_CAPACITY`] events behind is told how many it missed.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::domain::task::TaskRecord;
use crate::domain::time::now_ms;

/// Events a slow subscriber may fall behind before it starts missing some.
pub const BUS_CAPACITY: usize = 4096;

/// One event. `kind` names it (`task.succeeded`, `agent.created`, `supervisor.child_restarted`,
/// …) and is the SSE event name; `data` is its JSON body.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub kind: &'static str,
    pub at_ms: i64,
    /// The node an event came from, when it was relayed from another node of the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<Arc<str>>,
    pub data: Value,
}

/// The last event of every stream: the server is shutting down.
pub const DRAINING: &str = "server.draining";

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BUS_CAPACITY).0,
        }
    }
}

impl EventBus {
    pub fn publish(&self, kind: &'static str, data: Value) {
        // No subscriber is not an error: events are for whoever listens now.
        let _ = self.tx.send(Arc::new(Event {
            kind,
            at_ms: now_ms(),
            node: None,
            data,
        }));
    }

    /// An event another node published, for this node's subscribers.
    pub fn relay(&self, event: Event) {
        let _ = self.tx.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

/// Most distinct event kinds relayed from other nodes; past it, unknown kinds are dropped.
const MAX_KINDS: usize = 256;

/// The `&'static str` of an event kind received from another node. Kinds are a small fixed set
/// (every node runs this code), so each is allocated once for the life of the process.
pub fn intern_kind(kind: &str) -> Option<&'static str> {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static KINDS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut kinds = KINDS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = kinds.get(kind) {
        return Some(known);
    }
    if kinds.len() >= MAX_KINDS {
        return None;
    }
    let leaked: &'static str = Box::leak(kind.to_owned().into_boxed_str());
    kinds.insert(leaked);
    Some(leaked)
}

/// The body of every `task.*` event.
pub fn task_event(task: &TaskRecord) -> Value {
    serde_json::json!({
        "id": task.id, "status": task.status, "role": task.role, "priority": task.priority,
        "attempts": task.attempts, "agent_id": task.agent_id, "error": task.error,
    })
}
