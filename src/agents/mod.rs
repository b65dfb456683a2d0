//! Agents: the actor that runs tasks, its executors, and the registry the API reads.
//!
//! # Layout
//! - [`agent`] — the Agent actor: one task at a time, responsive while it runs.
//! - [`report`] — what an agent tells whoever started it, and the port it tells it through.
//! - [`outcome`] — what an executor is and what one attempt ends with.
//! - [`executor`] — which executor runs a task, and whether a task's input suits a role.
//! - [`builtin`], [`command`], [`http`] — executors made for each attempt.
//! - [`process`] — the executor that is a program living as long as its agent.
//! - [`programs`] — the programs command agents may run, pinned at start.
//! - [`destinations`] — where `http` agents may send requests.
//! - [`registry`] — every agent of this node, its state, and counts by role.

pub mod agent;
pub mod builtin;
pub mod command;
pub mod destinations;
pub mod executor;
pub mod http;
pub mod outcome;
pub mod process;
pub mod programs;
pub mod registry;
pub mod report;
