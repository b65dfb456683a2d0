//! Agents: the actor that runs tasks, its executors, and the registry the API reads.

pub mod agent;
pub mod builtin;
pub mod command;
pub mod destinations;
pub mod executor;
pub mod http;
pub mod programs;
pub mod registry;
