//! What the orchestrator is asked, and what it answers: its protocol with the HTTP handlers,
//! the lifecycle manager, the autoscaler and the server's shutdown.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::domain::agent::AgentId;
use crate::domain::names::Role;
use crate::domain::task::{NewTask, TaskRecord};
use crate::metrics::SubmitClock;
use crate::store::manager::Created;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the store is busy; try again shortly")]
    StoreBusy,
    #[error("this node holds as many unfinished tasks as it may ({limit}); try again shortly")]
    Backlog { limit: usize },
    #[error("agent {agent} has as many unfinished tasks as it may ({limit}, max_agent_queue); try again shortly")]
    AgentQueue { agent: String, limit: usize },
    #[error("the server is shutting down")]
    Draining,
    #[error(transparent)]
    Store(Arc<StoreError>),
}

/// A new task from a client; answered once it is committed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Submit {
    pub task: NewTask,
    /// The role it runs in: the one it names, or its agent's.
    pub role: Role,
    /// Started when the HTTP handler sent it: each hop laps it (see
    /// [`crate::metrics::submission`]).
    pub clock: SubmitClock,
    pub reply: oneshot::Sender<Result<Created, SubmitError>>,
}

/// Several new tasks at once (a batch's graph, a topic's message), built by the caller (their
/// ids are known before they are stored): all committed in one transaction, or none.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubmitMany {
    pub tasks: Vec<TaskRecord>,
    pub reply: oneshot::Sender<Result<Vec<TaskRecord>, SubmitError>>,
}

/// Tasks a commit queued that no client waits for (dependants whose dependencies all
/// succeeded, tasks an answer handed over): to be run.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Released(pub Vec<TaskRecord>);

#[derive(Debug)]
pub enum CancelOutcome {
    Cancelled(Box<TaskRecord>),
    /// Not queued or running here: finished already, or unknown.
    NotActive,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelTask {
    pub id: String,
    pub reply: oneshot::Sender<CancelOutcome>,
}

/// Restart a running agent (see [`crate::agents::agent::Restart`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RestartAgent {
    pub id: String,
    pub reply: oneshot::Sender<RestartOutcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartOutcome {
    /// Asked to stop; its supervisor starts it again.
    Restarting,
    /// Not running now (unknown, restarting or stopped).
    NotRunning,
    /// Its mailbox is full.
    Busy,
}

/// The load of some pools, for the autoscaler.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PoolLoads {
    pub roles: Vec<Role>,
    pub reply: oneshot::Sender<Vec<PoolLoad>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolLoad {
    /// Agents of the role that can take work now or are working.
    pub agents: usize,
    /// Ids of the idle ones (shared, not copied: read every sample).
    pub idle: Vec<AgentId>,
    /// Queued tasks by priority (`Priority::index`).
    pub queued: [usize; 4],
    /// How long the oldest queued task of each priority has waited, in milliseconds.
    pub oldest_wait_ms: [u64; 4],
}

/// An agent ended. `crashed` attempts count against the task's retries; an agent removed on
/// purpose (deleted, shut down) hands its task back without using one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AgentDown {
    pub id: AgentId,
    pub reason: String,
    pub crashed: bool,
    /// Deleted: the tasks addressed to it end `cancelled`.
    pub deleted: bool,
    /// Answered once the hand-back of the agent's task is committed (DELETE waits for it).
    pub ack: Option<oneshot::Sender<()>>,
}

/// Stop dispatching, let running attempts finish for up to `grace`, hand the rest back to the
/// queue in the store; answered when the store has committed it all.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain {
    pub grace: Duration,
    pub reply: oneshot::Sender<()>,
}

/// The unfinished tasks addressed to one agent: how many, and the first queued ones in the
/// order they will run.
#[derive(Message)]
#[rtype(result = "()")]
pub struct QueueOf {
    pub agent: String,
    pub reply: oneshot::Sender<(usize, Vec<String>)>,
}
