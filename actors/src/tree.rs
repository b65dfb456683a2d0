//! Snapshots of the live supervision tree and the events every supervision decision emits.
//!
//! Each supervisor publishes a [`SupervisorView`] behind a lock that only it writes: its settings,
//! restarts, recent exits and children counted by status, read without a message. The children
//! themselves are listed by asking the supervisor ([`ListChildren`]), so that an idle child costs
//! no memory for a status page nobody is reading.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use actix::{Message, WeakRecipient};
use parking_lot::RwLock;
use serde::Serialize;

use crate::exit::ExitReason;
use crate::millis::epoch_millis;
use crate::window::Intensity;

/// Lists children as `/api/v1/supervision` shows them: in start order, at most `limit`, or only
/// the child named `only`. Asked of the supervisor because it alone holds its children; the
/// shared view carries only their counts, so an idle child costs no snapshot memory.
#[derive(Debug, Message)]
#[rtype(result = "Vec<ChildView>")]
pub struct ListChildren {
    pub only: Option<String>,
    pub limit: usize,
}

/// How a supervisor reacts when one child exits and must be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// Restart only the child that exited.
    OneForOne,
    /// Stop every other child and restart them all.
    OneForAll,
    /// Stop the children started after the one that exited, and restart it and them.
    RestForOne,
    /// A dynamic pool of alike children, added and removed at run time: each restarted on its
    /// own, and all stopped at once when the pool shuts down.
    SimpleOneForOne,
}

/// Whether a child is restarted when it exits (OTP's `restart` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// Always restarted.
    Permanent,
    /// Restarted only after an abnormal exit (error, panic, kill).
    Transient,
    /// Never restarted; removed when it exits.
    Temporary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildStatus {
    Running,
    /// Exited and waiting for its backoff delay; `next_attempt_ms` says when.
    Restarting,
    Stopped,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChildView {
    pub id: String,
    pub restart: Restart,
    pub status: ChildStatus,
    pub restarts: u64,
    pub last_exit: Option<ExitReason>,
    /// Epoch milliseconds of the next restart attempt while `restarting`.
    pub next_attempt_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorStatus {
    Running,
    ShuttingDown,
    Stopped,
    /// Exceeded its restart intensity and shut down; its parent decides what follows.
    GaveUp,
}

/// One restart reason with its time, newest last.
#[derive(Debug, Clone, Serialize)]
pub struct RecentExit {
    pub child: String,
    pub reason: ExitReason,
    pub at_ms: u64,
}

/// How many recent reasons a supervisor keeps for its status page.
const RECENT_EXITS: usize = 16;

#[derive(Debug, Clone, Serialize)]
pub struct SupervisorView {
    pub name: String,
    pub parent: Option<String>,
    pub strategy: Strategy,
    pub intensity: Intensity,
    pub status: SupervisorStatus,
    pub restarts: u64,
    pub recent_exits: VecDeque<RecentExit>,
    pub child_counts: ChildCounts,
}

impl SupervisorView {
    pub(crate) fn record_exit(&mut self, child: &str, reason: &ExitReason) {
        if self.recent_exits.len() == RECENT_EXITS {
            self.recent_exits.pop_front();
        }
        self.recent_exits.push_back(RecentExit {
            child: child.to_owned(),
            reason: reason.clone(),
            at_ms: epoch_millis(SystemTime::now()),
        });
    }
}

/// Children counted by status, so a pool of 10,000 agents is summarised rather than listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChildCounts {
    pub running: usize,
    pub restarting: usize,
    pub stopped: usize,
}

impl ChildCounts {
    fn slot(&mut self, status: ChildStatus) -> &mut usize {
        match status {
            ChildStatus::Running => &mut self.running,
            ChildStatus::Restarting => &mut self.restarting,
            ChildStatus::Stopped => &mut self.stopped,
        }
    }

    pub(crate) fn add(&mut self, status: ChildStatus) {
        *self.slot(status) += 1;
    }

    pub(crate) fn remove(&mut self, status: ChildStatus) {
        let n = self.slot(status);
        *n = n.saturating_sub(1);
    }

    pub fn total(&self) -> usize {
        self.running + self.restarting + self.stopped
    }
}

/// A supervisor as the API shows it: its settings, counts and the first children in start order.
#[derive(Debug, Clone, Serialize)]
pub struct SupervisorSnapshot {
    #[serde(flatten)]
    pub view: SupervisorView,
    pub children_total: usize,
    pub children: Vec<ChildView>,
}

#[derive(Clone)]
struct Node {
    view: Arc<RwLock<SupervisorView>>,
    /// Weak, so that the tree does not keep a stopped supervisor's mailbox alive.
    inspect: WeakRecipient<ListChildren>,
}

impl Node {
    /// The supervisor's answer, or nothing once it has stopped.
    async fn children(&self, only: Option<String>, limit: usize) -> Vec<ChildView> {
        let Some(supervisor) = self.inspect.upgrade() else {
            return Vec::new();
        };
        supervisor
            .send(ListChildren { only, limit })
            .await
            .unwrap_or_default()
    }
}

/// Every supervisor of the process, by name.
#[derive(Clone, Default)]
pub struct Tree {
    nodes: Arc<RwLock<BTreeMap<String, Node>>>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.nodes.read().keys()).finish()
    }
}

impl Tree {
    pub(crate) fn register(
        &self,
        view: Arc<RwLock<SupervisorView>>,
        inspect: WeakRecipient<ListChildren>,
    ) {
        let name = view.read().name.clone();
        self.nodes.write().insert(name, Node { view, inspect });
    }

    pub(crate) fn remove(&self, name: &str) {
        self.nodes.write().remove(name);
    }

    /// The names of every supervisor, in order.
    pub fn names(&self) -> Vec<String> {
        self.nodes.read().keys().cloned().collect()
    }

    /// All supervisors, each with at most `child_limit` children listed (asked of every running
    /// supervisor at once).
    pub async fn snapshot(&self, child_limit: usize) -> Vec<SupervisorSnapshot> {
        let nodes: Vec<Node> = self.nodes.read().values().cloned().collect();
        let lists = futures::future::join_all(nodes.iter().map(|node| async move {
            if child_limit == 0 {
                Vec::new()
            } else {
                node.children(None, child_limit).await
            }
        }))
        .await;
        nodes
            .iter()
            .zip(lists)
            .map(|(node, children)| {
                let view = node.view.read().clone();
                SupervisorSnapshot {
                    children_total: view.child_counts.total(),
                    children,
                    view,
                }
            })
            .collect()
    }

    /// One child's view, looked up by supervisor and child id.
    pub async fn child(&self, supervisor: &str, child: &str) -> Option<ChildView> {
        let node = self.nodes.read().get(supervisor).cloned()?;
        node.children(Some(child.to_owned()), 1).await.pop()
    }
}

/// What a supervisor decided; every decision is one event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SupervisionEventKind {
    ChildStarted {
        generation: u64,
    },
    ChildExited {
        reason: ExitReason,
    },
    /// `reason` is the exit that caused it: the child's own, or a sibling's in a group restart.
    ChildRestarted {
        restarts: u64,
        delay_ms: u64,
        reason: ExitReason,
    },
    SupervisorGaveUp {
        reason: ExitReason,
    },
    /// The child crashed more times in a row than its supervisor's crash-loop limit allows: it
    /// is left stopped (not removed), and its siblings and supervisor carry on.
    ChildStopped {
        reason: ExitReason,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct SupervisionEvent {
    pub supervisor: Arc<str>,
    pub child: String,
    #[serde(flatten)]
    pub kind: SupervisionEventKind,
    pub at_ms: u64,
}

/// Where a supervisor sends its events: the application turns them into metrics and bus events.
pub type EventSink = Arc<dyn Fn(&SupervisionEvent) + Send + Sync>;

/// A sink that drops every event, for trees nobody observes.
pub fn discard_events() -> EventSink {
    Arc::new(|_| {})
}
