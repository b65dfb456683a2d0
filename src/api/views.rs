//! The JSON shapes the API answers with.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::agents::registry::{AgentEntry, Extras};
use crate::domain::agent::{AgentStatus, ExecutorSpec};
use crate::domain::task::{Priority, TaskRecord, TaskStatus};
use crate::domain::time::{now_ms, rfc3339};
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
    /// Its own state, as the last successful attempt that changed it left it.
    #[schema(value_type = Option<serde_json::Value>)]
    pub state: Value,
    /// The state's size in bytes of JSON, against `max_agent_state_bytes`.
    pub state_bytes: usize,
    /// A process agent's program, while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessView>,
    /// Why it was left stopped, when it crashed too many times in a row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// The last 8 KiB a process agent's programs wrote on stderr, while none runs (a crash
    /// loop, a restart); while one runs it is in `process`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Its unfinished addressed tasks (on `GET /api/v1/agents/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<AgentQueueView>,
}

/// A process agent's running program.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessView {
    pub pid: u32,
    /// RFC 3339.
    pub started_at: String,
    pub uptime_s: f64,
    /// The last 8 KiB it wrote on stderr.
    pub stderr: String,
}

/// The tasks addressed to one agent that have not finished.
#[derive(Debug, Serialize, ToSchema, Default)]
pub struct AgentQueueView {
    /// Queued, waiting to retry or running, against `max_agent_queue`.
    pub unfinished: usize,
    /// The ids of the first queued ones, in the order they will run (at most 100).
    pub queued: Vec<String>,
}

impl AgentView {
    /// The view with the extras the registry holds beside the entry.
    pub fn of(entry: &AgentEntry, extras: Extras) -> Self {
        let mut view = Self::from(entry);
        view.stopped_reason = extras.stopped_reason;
        view.process = extras.process.map(|p| ProcessView {
            pid: p.pid,
            started_at: rfc3339(p.started_at),
            uptime_s: (now_ms() - p.started_at).max(0) as f64 / 1000.0,
            stderr: p.stderr.lock().text(),
        });
        view.stderr = view
            .process
            .is_none()
            .then(|| extras.stderr.map(|ring| ring.lock().text()))
            .flatten()
            .filter(|text| !text.is_empty());
        view
    }
}

impl From<&AgentEntry> for AgentView {
    fn from(entry: &AgentEntry) -> Self {
        let state = entry.state();
        let info = &entry.info;
        let own = state.agent_state.as_deref().cloned().unwrap_or(Value::Null);
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
            state_bytes: if own.is_null() {
                0
            } else {
                own.to_string().len()
            },
            state: own,
            process: None,
            stopped_reason: None,
            stderr: None,
            queue: None,
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
    #[schema(value_type = Option<serde_json::Value>)]
    pub result: Option<Value>,
    /// The error of the last failed attempt.
    pub error: Option<String>,
    pub agent_id: Option<String>,
    /// The agent it is addressed to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub required_capabilities: Vec<String>,
    pub idempotency_key: Option<String>,
    pub truncate_result: bool,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The node that holds it (or held it last), in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The tasks it waits (or waited) for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The task whose answer handed it over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The topic whose message created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
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
            agent: t.agent,
            required_capabilities: t.required_capabilities.names(),
            idempotency_key: t.idempotency_key,
            truncate_result: t.truncate_result,
            created_at: rfc3339(t.created_at),
            started_at: t.started_at.map(rfc3339),
            finished_at: t.finished_at.map(rfc3339),
            node: t.node,
            depends_on: t.depends_on,
            parent_id: t.parent_id,
            topic: t.topic,
        }
    }
}

/// A task as the graph view shows it: where it is, not what it holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct GraphNode {
    pub id: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub status: TaskStatus,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

impl From<&TaskRecord> for GraphNode {
    fn from(t: &TaskRecord) -> Self {
        Self {
            id: t.id.clone(),
            role: t.role.to_string(),
            agent: t.agent.clone(),
            status: t.status,
            error: t.error.clone(),
            depends_on: t.depends_on.clone(),
            parent_id: t.parent_id.clone(),
        }
    }
}

/// `GET /api/v1/tasks/{id}/graph`: a task, the tasks it waits for, the tasks that wait for it,
/// and the tasks its answer handed over, each with its status.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskGraph {
    pub task: GraphNode,
    pub dependencies: Vec<GraphNode>,
    /// At most 1,000, in id order.
    pub dependants: Vec<GraphNode>,
    /// At most 1,000, in id order.
    pub children: Vec<GraphNode>,
}

/// The answer to `POST /api/v1/tasks/batch`: each task's id by its ref, and the tasks in the
/// batch's order as stored (queued, or waiting for their dependencies).
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAccepted {
    pub ids: std::collections::BTreeMap<String, String>,
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<TaskView>,
    pub next_cursor: Option<String>,
}

/// One step of a task's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskEventView {
    /// waiting, queued, started, retrying, requeued, succeeded, failed, dead or cancelled.
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
