//! Rows as diesel reads and writes them, and their conversion to and from the domain types.

use diesel::prelude::*;

use super::schema::{
    agents, api_tokens, audit_log, supervisor_events, task_dependencies, task_events, tasks,
    topic_subscriptions,
};
use super::StoreError;
use std::sync::Arc;

use crate::domain::agent::{AgentInfo, AgentKind, AgentStatus};
use crate::domain::names::Role;
use crate::domain::task::{Priority, TaskRecord, TaskStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
// NULL rather than DEFAULT for `None`: rows without DEFAULT go into one multi-row INSERT on SQLite.
#[diesel(table_name = tasks, treat_none_as_default_value = false)]
pub struct TaskRow {
    pub id: String,
    pub role: String,
    pub input: String,
    pub required_capabilities: String,
    pub priority: i16,
    pub status: String,
    pub timeout_ms: i64,
    pub max_retries: i32,
    pub attempts: i32,
    pub idempotency_key: Option<String>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub agent_id: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
    pub queued_at: i64,
    pub truncate_result: bool,
    pub node: Option<String>,
    pub agent: Option<String>,
    pub depends_on: Option<String>,
    pub parent_id: Option<String>,
    pub dependencies: Option<String>,
    pub topic: Option<String>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl TaskRow {
    pub fn from_record(t: &TaskRecord, now: i64) -> Result<Self, StoreError> {
        Ok(Self {
            id: t.id.clone(),
            role: t.role.to_string(),
            input: serde_json::to_string(&t.input).map_err(|e| corrupt("input", e))?,
            required_capabilities: serde_json::to_string(&t.required_capabilities)
                .map_err(|e| corrupt("capabilities", e))?,
            priority: t.priority.as_i16(),
            status: t.status.as_str().to_owned(),
            timeout_ms: t.timeout_ms as i64,
            max_retries: t.max_retries as i32,
            attempts: t.attempts as i32,
            idempotency_key: t.idempotency_key.clone(),
            result: t.result.as_ref().map(|v| v.to_string()),
            error: t.error.clone(),
            agent_id: t.agent_id.clone(),
            created_at: t.created_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
            updated_at: now,
            queued_at: t.queued_at,
            truncate_result: t.truncate_result,
            node: t.node.clone(),
            agent: t.agent.clone(),
            depends_on: if t.depends_on.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&t.depends_on).map_err(|e| corrupt("depends_on", e))?)
            },
            parent_id: t.parent_id.clone(),
            dependencies: t.dependencies.as_ref().map(|d| d.to_string()),
            topic: t.topic.clone(),
        })
    }

    pub fn into_record(self) -> Result<TaskRecord, StoreError> {
        Ok(TaskRecord {
            role: self.role.try_into().map_err(|e| corrupt("role", e))?,
            input: std::sync::Arc::new(
                serde_json::from_str(&self.input).map_err(|e| corrupt("input", e))?,
            ),
            required_capabilities: serde_json::from_str(&self.required_capabilities)
                .map_err(|e| corrupt("capabilities", e))?,
            priority: Priority::from_i16(self.priority),
            status: TaskStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            timeout_ms: self.timeout_ms.max(1) as u64,
            max_retries: self.max_retries.max(0) as u32,
            attempts: self.attempts.max(0) as u32,
            idempotency_key: self.idempotency_key,
            result: match self.result {
                Some(r) => Some(serde_json::from_str(&r).map_err(|e| corrupt("result", e))?),
                None => None,
            },
            error: self.error,
            agent_id: self.agent_id,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            queued_at: self.queued_at,
            truncate_result: self.truncate_result,
            node: self.node,
            agent: self.agent,
            depends_on: match self.depends_on {
                Some(ids) => serde_json::from_str(&ids).map_err(|e| corrupt("depends_on", e))?,
                None => Vec::new(),
            },
            parent_id: self.parent_id,
            dependencies: match self.dependencies {
                Some(d) => Some(std::sync::Arc::new(
                    serde_json::from_str(&d).map_err(|e| corrupt("dependencies", e))?,
                )),
                None => None,
            },
            topic: self.topic,
            id: self.id,
        })
    }
}

/// One entry of a task's history.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = task_events)]
pub struct TaskEventRow {
    pub id: i64,
    pub task_id: String,
    pub at: i64,
    pub kind: String,
    pub attempt: i32,
    pub agent_id: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = task_events, treat_none_as_default_value = false)]
pub struct NewTaskEvent {
    pub task_id: String,
    pub at: i64,
    pub kind: &'static str,
    pub attempt: i32,
    pub agent_id: Option<String>,
    pub error: Option<String>,
}

impl NewTaskEvent {
    pub fn of(t: &TaskRecord, kind: &'static str, at: i64) -> Self {
        Self {
            task_id: t.id.clone(),
            at,
            kind,
            attempt: t.attempts as i32,
            agent_id: t.agent_id.clone(),
            // The error belongs to the attempt that failed, not to the events after it.
            error: matches!(kind, "retrying" | "requeued" | "failed" | "dead")
                .then(|| t.error.clone())
                .flatten(),
        }
    }
}

/// One supervision decision.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = supervisor_events)]
pub struct SupervisorEventRow {
    pub id: i64,
    pub at: i64,
    pub supervisor: String,
    pub child: String,
    pub kind: String,
    pub reason: Option<String>,
    pub restarts: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = supervisor_events, treat_none_as_default_value = false)]
pub struct NewSupervisorEvent {
    pub at: i64,
    pub supervisor: String,
    pub child: String,
    pub kind: &'static str,
    pub reason: Option<String>,
    pub restarts: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agents, treat_none_as_default_value = false)]
pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub capabilities: String,
    pub executor: String,
    pub status: String,
    pub restarts: i64,
    pub created_at: i64,
    pub last_heartbeat: Option<i64>,
    pub deleted_at: Option<i64>,
    pub node: Option<String>,
    pub state: Option<String>,
}

impl AgentRow {
    /// A new agent's row, with its initial state (`None` is null).
    pub fn from_info(a: &AgentInfo, state: Option<&serde_json::Value>) -> Result<Self, StoreError> {
        Ok(Self {
            id: a.id.to_string(),
            name: a.name().into_owned(),
            role: a.kind.role.to_string(),
            capabilities: serde_json::to_string(&a.kind.capabilities)
                .map_err(|e| corrupt("capabilities", e))?,
            executor: serde_json::to_string(&a.kind.executor)
                .map_err(|e| corrupt("executor", e))?,
            status: AgentStatus::Idle.as_str().to_owned(),
            restarts: 0,
            created_at: a.created_at,
            last_heartbeat: None,
            deleted_at: None,
            node: a.node.as_deref().map(str::to_owned),
            state: state.filter(|s| !s.is_null()).map(|s| s.to_string()),
        })
    }

    /// The agent this row holds, its restarts and its state; `kinds` lets rows of one kind
    /// share it.
    pub fn into_info(self, kinds: &mut KindCache) -> Result<StoredAgent, StoreError> {
        let kind = kinds.kind(self.role, self.capabilities, self.executor)?;
        let state = match self.state {
            Some(text) => Some(Arc::new(
                serde_json::from_str(&text).map_err(|e| corrupt("state", e))?,
            )),
            None => None,
        };
        let info = AgentInfo {
            name: AgentInfo::held_name(self.name, &kind.role, &self.id),
            kind,
            created_at: self.created_at,
            node: self.node.map(Into::into),
            id: self.id.into(),
        };
        Ok(StoredAgent {
            info,
            restarts: self.restarts.max(0) as u64,
            state,
        })
    }
}

/// An agent as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAgent {
    pub info: AgentInfo,
    pub restarts: u64,
    /// Its state (`None` is null).
    pub state: Option<Arc<serde_json::Value>>,
}

/// The kind of the last agent row read. The agents of one batch are stored one after another
/// (their v7 ids sort by creation), so read back in id order they share one kind again, as
/// they did when created, rather than each holding its own.
#[derive(Default)]
pub struct KindCache(Option<(String, String, String, Arc<AgentKind>)>);

impl KindCache {
    fn kind(
        &mut self,
        role: String,
        capabilities: String,
        executor: String,
    ) -> Result<Arc<AgentKind>, StoreError> {
        if let Some((r, c, e, kind)) = &self.0 {
            if (r, c, e) == (&role, &capabilities, &executor) {
                return Ok(kind.clone());
            }
        }
        let kind = Arc::new(AgentKind {
            role: Role::try_from(role.clone()).map_err(|e| corrupt("role", e))?,
            capabilities: serde_json::from_str(&capabilities)
                .map_err(|e| corrupt("capabilities", e))?,
            executor: serde_json::from_str(&executor).map_err(|e| corrupt("executor", e))?,
        });
        self.0 = Some((role, capabilities, executor, kind.clone()));
        Ok(kind)
    }
}

/// An API token as stored: its digest, never its secret.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens, treat_none_as_default_value = false)]
pub struct TokenRow {
    pub id: String,
    pub name: Option<String>,
    pub role: String,
    pub digest: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// One mutating call: who, what, when, with what outcome.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub role: Option<String>,
    pub client: String,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub outcome: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
pub struct NewAuditEntry {
    pub at: i64,
    pub actor: String,
    pub role: Option<&'static str>,
    pub client: String,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub outcome: &'static str,
}

/// `task_id` waits for `dependency_id`.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = task_dependencies, treat_none_as_default_value = false)]
pub struct NewDependency {
    pub dependency_id: String,
    pub task_id: String,
}

/// `agent_id` receives the messages of `topic`.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = topic_subscriptions, treat_none_as_default_value = false)]
pub struct NewSubscription {
    pub topic: String,
    pub agent_id: String,
}
