//! What an agent tells whoever started it, and the port it tells it through. The agent defines
//! the messages; the orchestrator handles them, behind [`Reports`], so that an agent never names
//! the actor above it.

use std::sync::Arc;

use actix::prelude::*;

use super::agent::Agent;
use super::outcome::Outcome;
use super::registry::AgentEntry;
use crate::domain::agent::AgentId;
use crate::domain::task::TaskId;

/// An agent (re)started and can take work.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AgentUp {
    pub entry: Arc<AgentEntry>,
    pub addr: Addr<Agent>,
}

/// One attempt of a task ended with `outcome`; the agent is idle again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TaskFinished {
    pub agent_id: AgentId,
    pub task_id: TaskId,
    pub attempt: u32,
    pub outcome: Outcome,
}

/// Where an agent reports. One for all agents, shared: an idle agent carries one pointer to it.
pub trait Reports: Send + Sync {
    /// The agent (re)started: one message per start, bounded by the number of agents.
    fn up(&self, message: AgentUp);
    /// One attempt ended: one message per running task, bounded by the number of agents.
    fn finished(&self, message: TaskFinished);
}
