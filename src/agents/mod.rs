//! Agents: the actor that runs tasks, its executors, and the registry the API reads.

pub mod agent;
pub mod builtin;
pub mod executor;
pub mod registry;
