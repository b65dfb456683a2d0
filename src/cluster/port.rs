//! What the cluster's feeder asks of the node's task holder, and the port it asks through: the
//! cluster defines the messages, the orchestrator handles them behind [`TaskHolder`], so that the
//! cluster never names the actor above it.

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::domain::names::Role;
use crate::domain::task::TaskRecord;

/// Which roles have idle agents here and nothing queued for them, and how many tasks each could
/// start now: the cluster feeder reads that many from the streams.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wanted {
    pub reply: oneshot::Sender<Vec<(Role, usize)>>,
}

/// Tasks this node now holds in the database: taken from a stream, found after a restart, or
/// taken over from a lost node (`taken_over`). A running one counts the attempt it was in.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Adopt {
    pub tasks: Vec<TaskRecord>,
    pub taken_over: bool,
    /// Answered once they are queued here.
    pub done: Option<oneshot::Sender<()>>,
}

/// Give up the queued tasks of roles no agent here has, for the streams to offer elsewhere.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release {
    pub reply: oneshot::Sender<Vec<TaskRecord>>,
}

/// This node's lease in the database was lost or regained (nodes of a cluster): without it no
/// attempt starts, and those running are stopped and queued again here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeaseChanged {
    pub held: bool,
}

/// The orchestrator as the cluster reaches it. Every message here is bounded by the feeder's own
/// loop (one question at a time) or by the tasks it read, never by clients.
pub trait TaskHolder: Send + Sync {
    fn wanted(&self, message: Wanted);
    fn adopt(&self, message: Adopt);
    fn release(&self, message: Release);
    fn lease_changed(&self, message: LeaseChanged);
}
