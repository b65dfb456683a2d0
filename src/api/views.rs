//! The JSON shapes the API answers with.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::agents::registry::AgentEntry;
use crate::domain::agent::{AgentStatus, ExecutorSpec};
use crate::domain::task::{Priority, TaskRecord, TaskStatus};
use crate::domain::time::rfc3339;
use crate::store::models::{SupervisorEventRow, TaskEventRow};

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub role: String,
    pub capabilities: Vec<String>,
    pub executor: ExecutorSpec,
    pub status: AgentStatus,
    pub restarts: u64,
    pub current_task: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The node it runs on, in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl From<&AgentEntry> for AgentView {
    fn from(entry: &AgentEntry) -> Self {
        let state = entry.state();
        let info = &entry.info;
        Self {
            id: info.id.to_string(),
            name: info.name().into_owned(),
            role: info.kind.role.to_string(),
            capabilities: info.kind.capabilities.names(),
            executor: info.kind.executor.shown(),
            status: state.status,
            restarts: u64::from(state.restarts),
            current_task: state.current_task.as_deref().map(str::to_owned),
            created_at: rfc3339(info.created_at),
            node: info.node.as_deref().map(str::to_owned),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentPage {
    pub items: Vec<AgentView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchCreated {
    pub ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub id: String,
    pub role: String,
    pub status: TaskStatus,
    pub priority: Priority,
    /// Attempts started so far.
    pub attempts: u32,
    pub max_retries: u32,
    pub timeout_ms: u64,
    #[schema(value_type = Object)]
    pub input: Value,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// The error of the last failed attempt.
    pub error: Option<String>,
    pub agent_id: Option<String>,
    pub required_capabilities: Vec<String>,
    pub idempotency_key: Option<String>,
    pub truncate_result: bool,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The node that holds it (or held it last), in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl From<TaskRecord> for TaskView {
    fn from(t: TaskRecord) -> Self {
        Self {
            id: t.id,
            role: t.role.to_string(),
            status: t.status,
            priority: t.priority,
            attempts: t.attempts,
            max_retries: t.max_retries,
            timeout_ms: t.timeout_ms,
            input: std::sync::Arc::unwrap_or_clone(t.input),
            result: t.result,
            error: t.error,
            agent_id: t.agent_id,
            required_capabilities: t.required_capabilities.names(),
            idempotency_key: t.idempotency_key,
            truncate_result: t.truncate_result,
            created_at: rfc3339(t.created_at),
            started_at: t.started_at.map(rfc3339),
            finished_at: t.finished_at.map(rfc3339),
            node: t.node,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<TaskView>,
    pub next_cursor: Option<String>,
}

/// One step of a task's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskEventView {
    /// queued, started, retrying, requeued, succeeded, failed, dead or cancelled.
    pub kind: String,
    pub at: String,
    pub attempt: u32,
    pub agent_id: Option<String>,
    /// The error of the attempt that failed, on `retrying`, `requeued`, `failed` and `dead`.
    pub error: Option<String>,
}

impl From<TaskEventRow> for TaskEventView {
    fn from(e: TaskEventRow) -> Self {
        Self {
            kind: e.kind,
            at: rfc3339(e.at),
            attempt: e.attempt.max(0) as u32,
            agent_id: e.agent_id,
            error: e.error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskHistory {
    pub task_id: String,
    /// Oldest first.
    pub items: Vec<TaskEventView>,
}

/// One supervision decision, as kept in the store.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupervisorEventView {
    /// Its position in the history; give it as `cursor` to read what came after.
    pub id: i64,
    pub at: String,
    pub supervisor: String,
    pub child: String,
    /// child_exited, child_restarted or supervisor_gave_up.
    pub kind: String,
    pub reason: Option<String>,
    /// Restarts of the child so far, on `child_restarted`.
    pub restarts: Option<i64>,
}

impl From<SupervisorEventRow> for SupervisorEventView {
    fn from(e: SupervisorEventRow) -> Self {
        Self {
            id: e.id,
            at: rfc3339(e.at),
            supervisor: e.supervisor,
            child: e.child,
            kind: e.kind,
            reason: e.reason,
            restarts: e.restarts,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupervisorEventPage {
    pub items: Vec<SupervisorEventView>,
    pub next_cursor: Option<String>,
}
