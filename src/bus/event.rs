//! Every event Hive publishes, as one enum: each variant is one kind (`task.succeeded`,
//! `agent.created`, …), its payload the JSON body subscribers read. The kinds and bodies on the
//! wire are the contract of `GET /api/v1/events`; the enum is where they are decided, so that
//! grepping for a variant finds the one place that publishes it.

use std::sync::Arc;

use hive_actors::{SupervisionEvent, SupervisionEventKind};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::domain::agent::AgentId;
use crate::domain::names::Role;
use crate::domain::task::{Priority, TaskRecord, TaskStatus};
use crate::snapshots::monitor::{AnomalyView, SeriesView};
use crate::snapshots::shedding::ShedState;

/// What happened to a task; each is one `task.*` kind and one kind of history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskChange {
    /// Accepted, waiting for its dependencies.
    Waiting,
    Queued,
    Started,
    Retrying,
    Succeeded,
    Failed,
    Dead,
    Cancelled,
}

impl TaskChange {
    pub fn kind(self) -> &'static str {
        match self {
            TaskChange::Waiting => "task.waiting",
            TaskChange::Queued => "task.queued",
            TaskChange::Started => "task.started",
            TaskChange::Retrying => "task.retrying",
            TaskChange::Succeeded => "task.succeeded",
            TaskChange::Failed => "task.failed",
            TaskChange::Dead => "task.dead",
            TaskChange::Cancelled => "task.cancelled",
        }
    }

    /// The task's history row for this change (`GET /api/v1/tasks/{id}/events`).
    pub fn history(self) -> &'static str {
        match self {
            TaskChange::Waiting => "waiting",
            TaskChange::Queued => "queued",
            TaskChange::Started => "started",
            TaskChange::Retrying => "retrying",
            TaskChange::Succeeded => "succeeded",
            TaskChange::Failed => "failed",
            TaskChange::Dead => "dead",
            TaskChange::Cancelled => "cancelled",
        }
    }

    /// The change that brought a task to `status`.
    pub fn to(status: TaskStatus) -> Self {
        match status {
            TaskStatus::Waiting => TaskChange::Waiting,
            TaskStatus::Queued => TaskChange::Queued,
            TaskStatus::Running => TaskChange::Started,
            TaskStatus::Succeeded => TaskChange::Succeeded,
            TaskStatus::Failed => TaskChange::Failed,
            TaskStatus::Dead => TaskChange::Dead,
            TaskStatus::Cancelled => TaskChange::Cancelled,
        }
    }
}

/// The body of every `task.*` event: the task's state, without its input or result.
#[derive(Debug, Clone, Serialize)]
pub struct TaskEvent {
    pub id: String,
    pub status: TaskStatus,
    pub role: Role,
    pub priority: Priority,
    pub attempts: u32,
    pub agent_id: Option<String>,
    pub error: Option<String>,
    /// The agent it is addressed to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The topic whose message created it, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

impl From<&TaskRecord> for TaskEvent {
    fn from(task: &TaskRecord) -> Self {
        Self {
            id: task.id.clone(),
            status: task.status,
            role: task.role.clone(),
            priority: task.priority,
            attempts: task.attempts,
            agent_id: task.agent_id.clone(),
            error: task.error.clone(),
            agent: task.agent.clone(),
            topic: task.topic.clone(),
        }
    }
}

/// `task.progress`: what a process agent's program said of the task it runs. Not stored.
#[derive(Debug, Clone, Serialize)]
pub struct TaskProgress {
    pub id: String,
    pub agent_id: AgentId,
    pub attempt: u32,
    pub progress: Value,
}

/// `agent.created`.
#[derive(Debug, Clone, Serialize)]
pub struct AgentCreated {
    pub id: AgentId,
    pub role: Role,
    pub name: String,
}

/// `agent.deleted`.
#[derive(Debug, Clone, Serialize)]
pub struct AgentDeleted {
    pub id: String,
}

/// `store.storage`.
#[derive(Debug, Clone, Serialize)]
pub struct StorageState {
    pub full: bool,
}

/// `store.database`.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseState {
    pub up: bool,
}

/// `cluster.redis`.
#[derive(Debug, Clone, Serialize)]
pub struct RedisState {
    pub node: Arc<str>,
    pub up: bool,
}

/// `cluster.node_lost`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeLost {
    pub node: String,
    pub taken_over_by: Arc<str>,
    pub tasks: usize,
}

/// `cluster.lease`.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseState {
    pub node: Arc<str>,
    pub held: bool,
}

/// An alert, as `alert` events and the webhooks carry it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// `breach_forecast` or `anomaly`.
    pub kind: &'static str,
    pub series: String,
    pub at_ms: i64,
    /// One line for a human.
    pub summary: String,
    /// The series' latest value (breach) or the anomalous one.
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_breach_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// A pool the autoscaler grew or shrank.
#[derive(Debug, Clone, Serialize)]
pub struct Scaled {
    pub pool: Role,
    /// `up` or `down`.
    pub change: &'static str,
    pub count: usize,
    pub agents: usize,
    pub queued: usize,
    pub pressure: f64,
    pub forecast: Option<f64>,
}

/// A version of the live settings stored and applied (by `node`, in a cluster).
#[derive(Debug, Clone, Serialize)]
pub struct ConfigChanged {
    pub version: i64,
    pub author: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// One audit entry, once committed.
#[derive(Debug, Clone, Serialize)]
pub struct Audited {
    pub at: i64,
    pub actor: String,
    pub role: Option<&'static str>,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub outcome: &'static str,
}

/// Every event, by kind.
#[derive(Debug, Clone)]
pub enum Event {
    /// `task.*`, published by the StoreManager once the state it announces is committed.
    Task(TaskChange, TaskEvent),
    /// `task.progress`, published by the agent whose program said it.
    Progress(TaskProgress),
    /// `agent.created`, once its row is committed.
    AgentCreated(AgentCreated),
    /// `agent.deleted`, once its row is committed.
    AgentDeleted(AgentDeleted),
    /// `supervisor.*`: a supervisor's decision.
    Supervision(SupervisionEvent),
    /// `store.storage`: the disk filled up, or has room again.
    Storage(StorageState),
    /// `store.database`: the database stopped answering, or answers again.
    Database(DatabaseState),
    /// `server.draining`: the last event of every stream.
    Draining,
    /// `cluster.redis`: this node lost or regained Redis.
    Redis(RedisState),
    /// `cluster.node_lost`: this node took over a lost node's work.
    NodeLost(NodeLost),
    /// `cluster.lease`: this node lost or regained its lease.
    Lease(LeaseState),
    /// `monitor.anomaly`.
    Anomaly(AnomalyView),
    /// `monitor.breach_forecast`.
    BreachForecast(SeriesView),
    /// `alert`.
    Alert(Alert),
    /// `plugin.shedding`: what is shed now.
    Shedding(ShedState),
    /// `plugin.autoscaler`.
    Scaled(Scaled),
    /// `audit`: a mutating call, once its entry is committed.
    Audit(Audited),
    /// A new version of the live settings, applied on the node that stored it.
    ConfigChanged(ConfigChanged),
    /// An event another node of the cluster published, passed on as it came: its kind is one of
    /// [`Event::KINDS`].
    Relayed { kind: &'static str, data: Value },
}

impl Event {
    /// Every kind there is: another node's event of any other kind is dropped.
    pub const KINDS: [&'static str; 29] = [
        "task.waiting",
        "task.queued",
        "task.started",
        "task.retrying",
        "task.succeeded",
        "task.failed",
        "task.dead",
        "task.cancelled",
        "task.progress",
        "agent.created",
        "agent.deleted",
        "supervisor.child_started",
        "supervisor.child_exited",
        "supervisor.child_restarted",
        "supervisor.gave_up",
        "supervisor.child_stopped",
        "store.storage",
        "store.database",
        "server.draining",
        "cluster.redis",
        "cluster.node_lost",
        "cluster.lease",
        "monitor.anomaly",
        "monitor.breach_forecast",
        "alert",
        "plugin.shedding",
        "plugin.autoscaler",
        "audit",
        "config.changed",
    ];

    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Task(change, _) => change.kind(),
            Event::Progress(_) => "task.progress",
            Event::AgentCreated(_) => "agent.created",
            Event::AgentDeleted(_) => "agent.deleted",
            Event::Supervision(e) => match e.kind {
                SupervisionEventKind::ChildStarted { .. } => "supervisor.child_started",
                SupervisionEventKind::ChildExited { .. } => "supervisor.child_exited",
                SupervisionEventKind::ChildRestarted { .. } => "supervisor.child_restarted",
                SupervisionEventKind::SupervisorGaveUp { .. } => "supervisor.gave_up",
                SupervisionEventKind::ChildStopped { .. } => "supervisor.child_stopped",
            },
            Event::Storage(_) => "store.storage",
            Event::Database(_) => "store.database",
            Event::Draining => DRAINING,
            Event::Redis(_) => "cluster.redis",
            Event::NodeLost(_) => "cluster.node_lost",
            Event::Lease(_) => "cluster.lease",
            Event::Anomaly(_) => "monitor.anomaly",
            Event::BreachForecast(_) => "monitor.breach_forecast",
            Event::Alert(_) => "alert",
            Event::Shedding(_) => "plugin.shedding",
            Event::Scaled(_) => "plugin.autoscaler",
            Event::Audit(_) => "audit",
            Event::ConfigChanged(_) => "config.changed",
            Event::Relayed { kind, .. } => kind,
        }
    }

    /// The kind named `kind`, if there is one.
    pub fn known_kind(kind: &str) -> Option<&'static str> {
        Self::KINDS.into_iter().find(|k| *k == kind)
    }

    /// The body subscribers read, as JSON.
    pub fn data(&self) -> Value {
        serde_json::to_value(Data(self)).unwrap_or_default()
    }
}

/// The last event of every stream: the server is shutting down.
pub const DRAINING: &str = "server.draining";

/// An event's body, serialized without an intermediate value.
pub struct Data<'a>(pub &'a Event);

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Event::Task(_, task) => task.serialize(s),
            Event::Progress(e) => e.serialize(s),
            Event::AgentCreated(e) => e.serialize(s),
            Event::AgentDeleted(e) => e.serialize(s),
            Event::Supervision(e) => e.serialize(s),
            Event::Storage(e) => e.serialize(s),
            Event::Database(e) => e.serialize(s),
            Event::Draining => s.serialize_map(Some(0))?.end(),
            Event::Redis(e) => e.serialize(s),
            Event::NodeLost(e) => e.serialize(s),
            Event::Lease(e) => e.serialize(s),
            Event::Anomaly(e) => e.serialize(s),
            Event::BreachForecast(e) => e.serialize(s),
            Event::Alert(e) => e.serialize(s),
            Event::Shedding(e) => e.serialize(s),
            Event::Scaled(e) => e.serialize(s),
            Event::Audit(e) => e.serialize(s),
            Event::ConfigChanged(e) => e.serialize(s),
            Event::Relayed { data, .. } => data.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hive_actors::ExitReason;

    fn one_of_each() -> Vec<Event> {
        let role = Role::try_from("worker".to_owned()).unwrap();
        let mut events: Vec<Event> = [
            TaskChange::Waiting,
            TaskChange::Queued,
            TaskChange::Started,
            TaskChange::Retrying,
            TaskChange::Succeeded,
            TaskChange::Failed,
            TaskChange::Dead,
            TaskChange::Cancelled,
        ]
        .into_iter()
        .map(|change| {
            let task = TaskEvent {
                id: "t".into(),
                status: TaskStatus::Queued,
                role: role.clone(),
                priority: Priority::Normal,
                attempts: 0,
                agent_id: None,
                error: None,
                agent: None,
                topic: None,
            };
            Event::Task(change, task)
        })
        .collect();
        let supervision = |kind| {
            Event::Supervision(SupervisionEvent {
                supervisor: "root".into(),
                child: "store".into(),
                kind,
                at_ms: 0,
            })
        };
        events.extend([
            Event::Progress(TaskProgress {
                id: "t".into(),
                agent_id: "a".into(),
                attempt: 1,
                progress: Value::Null,
            }),
            Event::AgentCreated(AgentCreated {
                id: "a".into(),
                role: role.clone(),
                name: "a".into(),
            }),
            Event::AgentDeleted(AgentDeleted { id: "a".into() }),
            supervision(SupervisionEventKind::ChildStarted { generation: 0 }),
            supervision(SupervisionEventKind::ChildExited {
                reason: ExitReason::Normal,
            }),
            supervision(SupervisionEventKind::ChildRestarted {
                restarts: 1,
                delay_ms: 0,
                reason: ExitReason::Normal,
            }),
            supervision(SupervisionEventKind::SupervisorGaveUp {
                reason: ExitReason::Normal,
            }),
            supervision(SupervisionEventKind::ChildStopped {
                reason: ExitReason::Normal,
            }),
            Event::Storage(StorageState { full: true }),
            Event::Database(DatabaseState { up: false }),
            Event::Draining,
            Event::Redis(RedisState {
                node: "n".into(),
                up: true,
            }),
            Event::NodeLost(NodeLost {
                node: "m".into(),
                taken_over_by: "n".into(),
                tasks: 3,
            }),
            Event::Lease(LeaseState {
                node: "n".into(),
                held: true,
            }),
            Event::Anomaly(AnomalyView {
                series: "s".into(),
                at_ms: 0,
                value: 1.0,
                score: 0.9,
            }),
            Event::BreachForecast(SeriesView {
                name: "s".into(),
                unit: "",
                last: 1.0,
                samples: 1,
                limit: None,
                forecast: None,
                time_to_breach_s: None,
                confidence: None,
                warning: true,
            }),
            Event::Alert(Alert {
                kind: "anomaly",
                series: "s".into(),
                at_ms: 0,
                summary: String::new(),
                value: 1.0,
                limit: None,
                time_to_breach_s: None,
                confidence: None,
                score: None,
            }),
            Event::Shedding(ShedState::default()),
            Event::Scaled(Scaled {
                pool: role,
                change: "up",
                count: 1,
                agents: 2,
                queued: 3,
                pressure: 1.0,
                forecast: None,
            }),
            Event::Audit(Audited {
                at: 0,
                actor: "anonymous".into(),
                role: None,
                method: "POST".into(),
                path: "/".into(),
                status: 202,
                outcome: "ok",
            }),
            Event::ConfigChanged(ConfigChanged {
                version: 2,
                author: "anonymous".into(),
                node: None,
            }),
        ]);
        events
    }

    /// Another node's events are kept only if their kind is known: every kind this node
    /// publishes must be, once and only once.
    #[test]
    fn every_kind_published_is_known_to_the_relay_and_no_other() {
        let kinds: Vec<&str> = one_of_each().iter().map(Event::kind).collect();
        assert_eq!(kinds, Event::KINDS.to_vec());
        for kind in Event::KINDS {
            assert_eq!(Event::known_kind(kind), Some(kind));
        }
        assert_eq!(Event::known_kind("task.exploded"), None);
    }

    /// The bodies subscribers read are the same JSON as before the enum: objects, with the
    /// fields clients rely on.
    #[test]
    fn bodies_are_the_json_objects_clients_read() {
        for event in one_of_each() {
            assert!(
                event.data().is_object(),
                "{}: {}",
                event.kind(),
                event.data()
            );
        }
        let task = &one_of_each()[3];
        assert_eq!(
            task.data(),
            serde_json::json!({"id": "t", "status": "queued", "role": "worker", "priority": "normal",
                "attempts": 0, "agent_id": null, "error": null})
        );
        assert_eq!(Event::Draining.data(), serde_json::json!({}));
        let lost = one_of_each()
            .into_iter()
            .find(|e| e.kind() == "cluster.node_lost")
            .unwrap();
        assert_eq!(
            lost.data(),
            serde_json::json!({"node": "m", "taken_over_by": "n", "tasks": 3})
        );
    }
}
