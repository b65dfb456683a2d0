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
            data,
        }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

/// The body of every `task.*` event.
pub fn task_event(task: &TaskRecord) -> Value {
    serde_json::json!({
        "id": task.id, "status": task.status, "role": task.role, "priority": task.priority,
        "attempts": task.attempts, "agent_id": task.agent_id, "error": task.error,
    })
}
