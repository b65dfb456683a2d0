//! Every Redis key and channel Hive uses, each under the configured prefix, so that several Hives
//! can share one Redis.

use crate::domain::names::Role;
use crate::domain::task::Priority;

/// The consumer group every node reads the task streams through.
pub const GROUP: &str = "hive-nodes";

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The stream of one role's tasks of one priority.
    pub fn stream(&self, role: &Role, priority: Priority) -> String {
        format!("{}:tasks:{}:{}", self.prefix, role, priority.as_str())
    }

    /// The roles that have streams (a set), so a survivor knows which streams to look through.
    pub fn roles(&self) -> String {
        format!("{}:roles", self.prefix)
    }

    /// A node's heartbeat: its description, expiring after the lease.
    pub fn node(&self, id: &str) -> String {
        format!("{}:node:{id}", self.prefix)
    }

    /// Every node seen, live or lost (a hash of id → description).
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// Held by the survivor that takes over a lost node's work.
    pub fn takeover(&self, id: &str) -> String {
        format!("{}:takeover:{id}", self.prefix)
    }

    /// Held by the node that republishes the tasks no node holds.
    pub fn republish(&self) -> String {
        format!("{}:republish", self.prefix)
    }

    /// The pub/sub channel events travel between nodes on.
    pub fn events(&self) -> String {
        format!("{}:events", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_starts_with_the_prefix() {
        let keys = Keys::new("blue");
        let role = Role::try_from("worker".to_owned()).unwrap();
        for key in [
            keys.stream(&role, Priority::Critical),
            keys.roles(),
            keys.node("n1"),
            keys.nodes(),
            keys.takeover("n1"),
            keys.republish(),
            keys.events(),
        ] {
            assert!(key.starts_with("blue:"), "{key}");
        }
        assert_eq!(keys.stream(&role, Priority::Low), "blue:tasks:worker:low");
    }
}
