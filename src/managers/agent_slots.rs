//! The orchestrator's record of the agents that can take work, found by id. Each slot is hashed
//! and compared by the id in the agent's registry entry, which it holds anyway, so the table
//! carries no copy of the id as a key: 16 bytes less per agent in every bucket.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use actix::WeakAddr;
use hashbrown::HashTable;

use crate::agents::agent::Agent;
use crate::agents::registry::AgentEntry;
use crate::domain::names::Role;
use crate::domain::task::TaskId;

pub struct AgentSlot {
    /// Its id, role and capabilities, read from the registry's entry rather than copied.
    pub entry: Arc<AgentEntry>,
    /// Weak: with thousands of agents, an `Addr` each would cost more than the rest of the slot.
    /// Each send upgrades it to a fresh sender, which actix's per-sender bound never refuses;
    /// the agent's mailbox stays bounded by what is sent to it: one task at a time, a cancel
    /// per task, one restart per incarnation (and the kind's bound in its probe).
    pub addr: WeakAddr<Agent>,
    /// The task it is running.
    pub task: Option<TaskId>,
}

impl AgentSlot {
    fn id(&self) -> &str {
        &self.entry.info.id
    }

    pub fn role(&self) -> &Role {
        self.entry.info.role()
    }
}

#[derive(Default)]
pub struct AgentSlots {
    table: HashTable<AgentSlot>,
    hasher: RandomState,
}

impl AgentSlots {
    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    pub fn get(&self, id: &str) -> Option<&AgentSlot> {
        self.table.find(self.hash(id), |s| s.id() == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut AgentSlot> {
        let hash = self.hash(id);
        self.table.find_mut(hash, |s| s.id() == id)
    }

    /// Add `slot`, replacing the slot of the same agent if there is one (a restarted agent's
    /// new incarnation).
    pub fn insert(&mut self, slot: AgentSlot) {
        let hash = self.hash(slot.id());
        let hasher = &self.hasher;
        match self
            .table
            .entry(hash, |s| s.id() == slot.id(), |s| hasher.hash_one(s.id()))
        {
            hashbrown::hash_table::Entry::Occupied(mut old) => *old.get_mut() = slot,
            hashbrown::hash_table::Entry::Vacant(place) => {
                place.insert(slot);
            }
        }
    }

    pub fn remove(&mut self, id: &str) -> Option<AgentSlot> {
        let hash = self.hash(id);
        match self.table.find_entry(hash, |s| s.id() == id) {
            Ok(found) => Some(found.remove().0),
            Err(_) => None,
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &AgentSlot> {
        self.table.iter()
    }
}

#[cfg(test)]
mod tests {
    use actix::dev::channel;
    use actix::Addr;

    use super::*;
    use crate::agents::registry::AgentRegistry;
    use crate::domain::agent::{AgentInfo, AgentKind};

    fn slot(registry: &AgentRegistry, id: &str, task: Option<&str>) -> AgentSlot {
        let info = AgentInfo {
            id: id.into(),
            name: None,
            kind: Arc::new(AgentKind {
                role: "worker".to_owned().try_into().unwrap(),
                capabilities: Default::default(),
                executor: Default::default(),
            }),
            created_at: 0,
            node: None,
        };
        let (tx, _rx) = channel::channel::<Agent>(1);
        AgentSlot {
            entry: registry.insert(info, 0, None, None),
            addr: Addr::new(tx).downgrade(),
            task: task.map(TaskId::from),
        }
    }

    /// Three pointers a slot: the table keeps one per agent, and more than as many again in
    /// free slots.
    #[test]
    fn a_slot_is_three_pointers() {
        assert_eq!(
            std::mem::size_of::<AgentSlot>(),
            3 * std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn finds_replaces_and_forgets_agents_by_the_id_in_their_entry() {
        let registry = AgentRegistry::default();
        let mut slots = AgentSlots::default();
        let ids: Vec<String> = (0..1_000).map(|i| format!("agent-{i}")).collect();
        for id in &ids {
            assert!(slots.get(id).is_none());
            slots.insert(slot(&registry, id, None));
        }
        assert_eq!(slots.values().count(), 1_000);
        assert_eq!(&*slots.get("agent-7").unwrap().entry.info.id, "agent-7");

        // A new incarnation's slot replaces the old one.
        slots.insert(slot(&registry, "agent-7", Some("task-1")));
        assert_eq!(slots.values().count(), 1_000);
        assert_eq!(
            slots.get("agent-7").unwrap().task.as_deref(),
            Some("task-1")
        );
        slots.get_mut("agent-8").unwrap().task = Some("task-2".into());
        assert_eq!(
            slots.get("agent-8").unwrap().task.as_deref(),
            Some("task-2")
        );

        for id in ids.iter().step_by(2) {
            assert!(slots.remove(id).is_some(), "{id}");
        }
        assert!(slots.remove("agent-0").is_none());
        assert_eq!(slots.values().count(), 500);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(slots.get(id).is_some(), i % 2 == 1, "{id}");
        }
    }
}
