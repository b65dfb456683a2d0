//! A supervisor's index from child id to start sequence number.
//!
//! The ids themselves live in the children's specs; the index keeps only each id's hash and the
//! child's sequence number (16 bytes a slot, where a map keyed by a copy of the id would keep 32
//! bytes and a second copy of every id). The stored hash is what a resize rehashes by, so growing
//! never has to look the children up.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

#[derive(Default)]
pub(crate) struct ChildIndex {
    table: HashTable<(u64, u64)>,
    hasher: RandomState,
}

impl ChildIndex {
    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// The sequence number of the child named `id`; `id_of` names the child of a sequence
    /// number, to tell apart ids whose hashes collide.
    pub fn get<'a>(&self, id: &str, id_of: impl Fn(u64) -> Option<&'a str>) -> Option<u64> {
        let hash = self.hash(id);
        self.table
            .find(hash, |&(h, seq)| h == hash && id_of(seq) == Some(id))
            .map(|&(_, seq)| seq)
    }

    /// Index `seq` under `id`, which the caller has checked is not indexed yet.
    pub fn insert(&mut self, id: &str, seq: u64) {
        let hash = self.hash(id);
        self.table.insert_unique(hash, (hash, seq), |&(h, _)| h);
    }

    /// Forget the child `seq`, indexed under `id`.
    pub fn remove(&mut self, id: &str, seq: u64) {
        let hash = self.hash(id);
        if let Ok(entry) = self.table.find_entry(hash, |&(_, s)| s == seq) {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_inserts_and_forgets_by_id() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("agent-{i}")).collect();
        let id_of = |seq: u64| ids.get(seq as usize).map(String::as_str);
        let mut index = ChildIndex::default();
        for (seq, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id, id_of), None);
            index.insert(id, seq as u64);
        }
        for (seq, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id, id_of), Some(seq as u64), "{id}");
        }
        assert_eq!(index.get("agent-x", id_of), None);
        for (seq, id) in ids.iter().enumerate().step_by(2) {
            index.remove(id, seq as u64);
        }
        for (seq, id) in ids.iter().enumerate() {
            let expected = (seq % 2 == 1).then_some(seq as u64);
            assert_eq!(index.get(id, id_of), expected, "{id}");
        }
    }
}
