//! The values Hive speaks in, parsed once at the edge ("parse, don't validate"): a value of these
//! types is valid, so no code past the HTTP handlers checks them again.

pub mod access;
pub mod agent;
pub mod names;
pub mod sla;
pub mod strict_json;
pub mod task;
pub mod time;
pub mod topic;
pub mod workflow;
