//! The orchestrator: accepts tasks, has them persisted before answering, queues them by role
//! and priority, dispatches each to an idle agent whose capabilities cover it, and decides what
//! follows every attempt: success, retry with backoff, or a final failure.
//!
//! It owns the state of every unfinished task in memory; the store holds the same state durably,
//! written after each change. At start it takes over what a previous process left unfinished.
//!
//! # Layout
//! - [`actor`] — the actor: its state and the messages it answers.
//! - [`messages`] — what it is asked and answers.
//! - `queues` — one role's queues, and which task an idle agent takes next (SLO share).
//! - `addressed` — each agent's own queue of tasks addressed to it.
//! - `attempt` — a task's way through its attempts: transitions that say what follows.
//! - `dispatch` — queueing, dispatch and the end of every attempt, applied.
//! - `recovery` — taking over a previous process's tasks; a large backlog a page at a time.
//! - `handoff` — one node of several: the streams, the feeder's hand-overs, the lease.
//! - `drain` — a graceful stop.
//! - `workflow` — tasks created several at once, and tasks a commit released.

pub mod actor;
mod addressed;
mod attempt;
mod dispatch;
mod drain;
mod handoff;
pub mod messages;
mod queues;
mod recovery;
mod workflow;

pub use actor::Orchestrator;
pub use messages::{
    AgentDown, CancelOutcome, CancelTask, Drain, PoolLoad, PoolLoads, QueueOf, RestartAgent,
    RestartOutcome, Submit, SubmitError, SubmitMany,
};
