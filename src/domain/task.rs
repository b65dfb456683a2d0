//! Tasks: what a client asks for, the states a task goes through, and the built-in operations.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::agent::Capabilities;

/// A task's id as the orchestrator and the agents pass it around: shared, and one pointer
/// (`ArcStr` keeps the length in the shared cell), since the orchestrator's slot of every agent
/// holds one.
pub type TaskId = arcstr::ArcStr;
use super::names::Role;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Critical,
}

impl Priority {
    /// Highest first: the order the dispatcher looks at queues in.
    pub const BY_URGENCY: [Priority; 4] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];

    pub fn as_i16(self) -> i16 {
        self as i16
    }

    pub fn from_i16(v: i16) -> Priority {
        match v {
            0 => Priority::Low,
            2 => Priority::High,
            3 => Priority::Critical,
            _ => Priority::Normal,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The name in JSON and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Accepted with dependencies that have not all ended: queued once they all succeed.
    Waiting,
    Queued,
    Running,
    Succeeded,
    /// Retries exhausted and the last attempt returned an error.
    Failed,
    /// Retries exhausted and the last attempt crashed its agent or timed out.
    Dead,
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Waiting => "waiting",
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Dead => "dead",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        !matches!(
            self,
            TaskStatus::Waiting | TaskStatus::Queued | TaskStatus::Running
        )
    }

    pub const ALL: [TaskStatus; 7] = [
        TaskStatus::Waiting,
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Dead,
        TaskStatus::Cancelled,
    ];
}

/// Default and upper bound of a task's timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// Default and upper bound of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
pub const MAX_RETRIES: u32 = 100;
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $tyname:literal, $min:expr, $max:expr, $default:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        // Read as a number, not only as an integer literal: JSON Schema's `integer` (which the
        // OpenAPI document gives) includes `3665.0`, so the server takes it too.
        #[serde(try_from = "f64")]
        pub struct $name(pub $ty);

        impl TryFrom<f64> for $name {
            type Error = String;

            fn try_from(v: f64) -> Result<Self, String> {
                if v.fract() != 0.0 {
                    return Err(format!("{} must be a whole number", $what));
                }
                if ($min as f64..=$max as f64).contains(&v) {
                    Ok(Self(v as $ty))
                } else {
                    Err(format!("{} must be between {} and {}", $what, $min, $max))
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self($default)
            }
        }
    };
}

bounded!(
    /// Milliseconds one attempt may run before it is cancelled and counted as timed out.
    TimeoutMs, u64, "u64", 1, MAX_TIMEOUT_MS, DEFAULT_TIMEOUT_MS, "timeout_ms"
);
bounded!(
    /// Attempts after the first one; an attempt that errors, crashes or times out uses one.
    MaxRetries, u32, "u32", 0, MAX_RETRIES, DEFAULT_MAX_RETRIES, "max_retries"
);

/// A client's key that makes a repeated POST return the task the first one created.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct IdempotencyKey(pub String);

impl TryFrom<String> for IdempotencyKey {
    type Error = String;

    fn try_from(v: String) -> Result<Self, String> {
        if v.is_empty() || v.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(format!(
                "idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes"
            ));
        }
        Ok(Self(v))
    }
}

/// A task's input: a JSON object whose meaning belongs to the executor of the agent that runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct TaskInput(pub Value);

impl TryFrom<Value> for TaskInput {
    type Error = String;

    fn try_from(v: Value) -> Result<Self, String> {
        if v.is_object() {
            Ok(Self(v))
        } else {
            Err("input must be a JSON object".into())
        }
    }
}

/// The id of the agent a task is addressed to, as a client gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct AgentRef(pub String);

impl TryFrom<String> for AgentRef {
    type Error = String;

    fn try_from(v: String) -> Result<Self, String> {
        let valid = !v.is_empty()
            && v.len() <= super::names::MAX_NAME_LEN
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if valid {
            Ok(Self(v))
        } else {
            Err(format!(
                "agent must be an agent's id: 1 to {} letters, digits or '-'",
                super::names::MAX_NAME_LEN
            ))
        }
    }
}

/// Most tasks one task may depend on.
pub const MAX_DEPENDENCIES: usize = 1000;
/// Longest task id or batch ref.
pub(crate) const MAX_REF_LEN: usize = 64;

/// Whether `s` can be a task's id or a batch's ref: 1 to 64 letters, digits, `-` or `_`.
pub(crate) fn valid_ref(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_REF_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The tasks a task waits for: at most [`MAX_DEPENDENCIES`], each named once, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct DependsOn(pub Vec<String>);

impl TryFrom<Vec<String>> for DependsOn {
    type Error = String;

    fn try_from(ids: Vec<String>) -> Result<Self, String> {
        if ids.len() > MAX_DEPENDENCIES {
            return Err(format!(
                "depends_on names {} tasks, over the limit of {MAX_DEPENDENCIES}",
                ids.len()
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        let mut kept = Vec::with_capacity(ids.len());
        for id in ids {
            if !valid_ref(&id) {
                return Err(format!(
                    "depends_on holds {id:?}, which is not a task's id (1 to {MAX_REF_LEN} \
                     letters, digits, '-' or '_')"
                ));
            }
            if seen.insert(id.clone()) {
                kept.push(id);
            }
        }
        Ok(Self(kept))
    }
}

/// The body of `POST /api/v1/tasks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// The pool of agents that may run it. May be left out when `agent` is given (it is then
    /// that agent's role); one that does not match the agent's is refused.
    pub role: Option<Role>,
    /// Run it on this agent only (its id). Such tasks of one agent run one at a time, in
    /// submission order within a priority, and wait while the agent restarts.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9-]+$")]
    pub agent: Option<AgentRef>,
    /// For `builtin` agents: `{"op":"echo","value":…}`, `{"op":"sleep","ms":N}`,
    /// `{"op":"spin","us":N}`, `{"op":"fail","error":"…"}`, `{"op":"panic"}`,
    /// `{"op":"count"}` (adds one to the agent's `state.count`) or `{"op":"collect"}` (answers
    /// its dependencies' results by id).
    #[schema(value_type = Object)]
    pub input: TaskInput,
    #[serde(default)]
    #[schema(value_type = Vec<super::names::Capability>, max_items = 32)]
    pub required_capabilities: Capabilities,
    #[serde(default = "normal")]
    pub priority: Priority,
    #[serde(default)]
    #[schema(value_type = u64, minimum = 1, maximum = 3_600_000, default = 30_000)]
    pub timeout_ms: TimeoutMs,
    #[serde(default)]
    #[schema(value_type = u32, minimum = 0, maximum = 100, default = 3)]
    pub max_retries: MaxRetries,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128)]
    pub idempotency_key: Option<IdempotencyKey>,
    /// Keep a result over the server's size limit cut short, marked `"truncated": true`,
    /// instead of failing the task.
    #[serde(default)]
    pub truncate_result: bool,
    /// Tasks (their ids) that must all succeed first: until they have ended it is `waiting`;
    /// then it runs with their results as `dependencies`, or ends `cancelled` if one did not
    /// succeed.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 1000)]
    pub depends_on: DependsOn,
}

fn normal() -> Priority {
    Priority::Normal
}

/// Longest `spin` a built-in task may ask for: it holds a thread of the agents' arbiters.
pub const MAX_SPIN_US: u64 = 10_000_000;

/// The operations of the `builtin` executor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum BuiltinOp {
    /// Answer with `value`.
    Echo { value: Value },
    /// Wait `ms` milliseconds without holding a thread.
    Sleep { ms: u64 },
    /// Keep a CPU busy for `us` microseconds.
    Spin { us: u64 },
    /// Return `error` as the task's error.
    Fail { error: String },
    /// Make the agent panic; its supervisor restarts it and the task is retried.
    Panic,
    /// Add one to the agent's `state.count` and answer the new count.
    Count,
    /// Answer the results of the tasks it depended on, by id (`{}` without any).
    Collect,
}

/// The full state of a task, as stored and as `GET /api/v1/tasks/{id}` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub id: String,
    pub role: Role,
    /// The agent it is addressed to, if any.
    pub agent: Option<String>,
    /// Shared: the orchestrator's record, the attempt it hands an agent and the writes that
    /// store the task's state all hold one input, not a copy each.
    pub input: std::sync::Arc<Value>,
    pub required_capabilities: Capabilities,
    pub priority: Priority,
    pub status: TaskStatus,
    pub timeout_ms: u64,
    pub max_retries: u32,
    pub attempts: u32,
    pub idempotency_key: Option<String>,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub agent_id: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// When it last became eligible to run: accepted, or due again after a retry's backoff or a
    /// hand-back. The SLA report's queue wait runs from here to `started_at`.
    pub queued_at: i64,
    pub truncate_result: bool,
    /// The node that holds it, when several share the database; `None` on a single server and
    /// while no node has taken it.
    pub node: Option<String>,
    /// The tasks it waits for.
    pub depends_on: Vec<String>,
    /// The task whose answer handed it over, if one did.
    pub parent_id: Option<String>,
    /// Its dependencies' results by id, set when they have all succeeded.
    pub dependencies: Option<std::sync::Arc<Value>>,
    /// The topic whose message created it, if one did.
    pub topic: Option<String>,
}

impl TaskRecord {
    /// A task as accepted at `now` for `role` (the one it names, or its agent's): queued, or
    /// waiting if it depends on others, with a new time-ordered id and no attempt yet.
    pub fn accepted(task: NewTask, role: Role, now: i64) -> Self {
        let depends_on = task.depends_on.0;
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            role,
            agent: task.agent.map(|a| a.0),
            input: std::sync::Arc::new(task.input.0),
            required_capabilities: task.required_capabilities,
            priority: task.priority,
            status: if depends_on.is_empty() {
                TaskStatus::Queued
            } else {
                TaskStatus::Waiting
            },
            timeout_ms: task.timeout_ms.0,
            max_retries: task.max_retries.0,
            attempts: 0,
            idempotency_key: task.idempotency_key.map(|k| k.0),
            result: None,
            error: None,
            agent_id: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            queued_at: now,
            truncate_result: task.truncate_result,
            node: None,
            depends_on,
            parent_id: None,
            dependencies: None,
            topic: None,
        }
    }
}

/// What a task is, fixed when it is accepted. Shared (`Arc`) by the orchestrator, every attempt
/// and every write of the task's state, so that a state change copies none of it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub id: String,
    pub role: Role,
    /// The agent it is addressed to: it runs there and nowhere else.
    pub agent: Option<super::agent::AgentId>,
    pub input: std::sync::Arc<Value>,
    pub required_capabilities: Capabilities,
    pub priority: Priority,
    pub timeout_ms: u64,
    pub max_retries: u32,
    pub idempotency_key: Option<String>,
    pub created_at: i64,
    pub truncate_result: bool,
    pub depends_on: Vec<String>,
    pub parent_id: Option<String>,
    /// Its dependencies' results by id (see [`TaskRecord::dependencies`]).
    pub dependencies: Option<std::sync::Arc<Value>>,
    pub topic: Option<String>,
}

/// Where a task is: what changes with every attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    pub status: TaskStatus,
    pub attempts: u32,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub agent_id: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub queued_at: i64,
    pub node: Option<String>,
}

impl TaskRecord {
    /// The record's fixed part and its changing part.
    pub fn split(self) -> (std::sync::Arc<TaskSpec>, TaskState) {
        let spec = TaskSpec {
            id: self.id,
            role: self.role,
            agent: self.agent.map(Into::into),
            input: self.input,
            required_capabilities: self.required_capabilities,
            priority: self.priority,
            timeout_ms: self.timeout_ms,
            max_retries: self.max_retries,
            idempotency_key: self.idempotency_key,
            created_at: self.created_at,
            truncate_result: self.truncate_result,
            depends_on: self.depends_on,
            parent_id: self.parent_id,
            dependencies: self.dependencies,
            topic: self.topic,
        };
        let state = TaskState {
            status: self.status,
            attempts: self.attempts,
            result: self.result,
            error: self.error,
            agent_id: self.agent_id,
            started_at: self.started_at,
            finished_at: self.finished_at,
            queued_at: self.queued_at,
            node: self.node,
        };
        (std::sync::Arc::new(spec), state)
    }

    /// The whole record again, for the store's row and the API's answer.
    pub fn join(spec: &TaskSpec, state: &TaskState) -> Self {
        Self {
            id: spec.id.clone(),
            role: spec.role.clone(),
            agent: spec.agent.as_deref().map(str::to_owned),
            input: spec.input.clone(),
            required_capabilities: spec.required_capabilities.clone(),
            priority: spec.priority,
            status: state.status,
            timeout_ms: spec.timeout_ms,
            max_retries: spec.max_retries,
            attempts: state.attempts,
            idempotency_key: spec.idempotency_key.clone(),
            result: state.result.clone(),
            error: state.error.clone(),
            agent_id: state.agent_id.clone(),
            created_at: spec.created_at,
            started_at: state.started_at,
            finished_at: state.finished_at,
            queued_at: state.queued_at,
            truncate_result: spec.truncate_result,
            node: state.node.clone(),
            depends_on: spec.depends_on.clone(),
            parent_id: spec.parent_id.clone(),
            dependencies: spec.dependencies.clone(),
            topic: spec.topic.clone(),
        }
    }
}

/// A result as stored: within `limit` bytes of JSON as it is; over it, an error, or with
/// `truncate` an explicit marker holding the first `limit` bytes of its JSON text.
pub fn bounded_result(value: Value, limit: usize, truncate: bool) -> Result<Value, String> {
    let text = value.to_string();
    if text.len() <= limit {
        return Ok(value);
    }
    if !truncate {
        return Err(format!(
            "the result is {} bytes, over the limit of {limit} bytes; submit the task with \
             \"truncate_result\": true to keep its beginning instead",
            text.len()
        ));
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Ok(serde_json::json!({
        "truncated": true,
        "original_bytes": text.len(),
        "preview": &text[..cut],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_result_over_the_limit_fails_or_is_cut_on_a_character_boundary_with_a_marker() {
        let small = json!({"ok": true});
        assert_eq!(bounded_result(small.clone(), 64, false), Ok(small));
        let big = json!("ééééé"); // 12 bytes of JSON: a quote, five 2-byte characters, a quote
        let err = bounded_result(big.clone(), 8, false).unwrap_err();
        assert!(
            err.contains("12 bytes") && err.contains("limit of 8"),
            "{err}"
        );
        let cut = bounded_result(big, 8, true).unwrap();
        assert_eq!(
            cut,
            json!({"truncated": true, "original_bytes": 12, "preview": "\"ééé"})
        );
    }
}
