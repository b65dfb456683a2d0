//! A supervisor's index from child id to start sequence number.
//!
//! The ids themselves live in the children's specs; the index keeps only each child's sequence
//! number (8 bytes a slot, where a map keyed by a copy of the id would keep 32 bytes and a second
//! copy of every id). A lookup, and a resize that rehashes, read each id through the caller's
//! `id_of`; a resize is rare (the table doubles), and a lookup compares ids only for slots
//! whose 7 hash bits already matched.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

#[derive(Default)]
pub(crate) struct ChildIndex {
    table: HashTable<u64>,
    hasher: RandomState,
}

impl ChildIndex {
    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// The sequence number of the child named `id`; `id_of` names the child of a sequence
    /// number.
    pub fn get<'a>(&self, id: &str, id_of: impl Fn(u64) -> Option<&'a str>) -> Option<u64> {
        self.table
            .find(self.hash(id), |&seq| id_of(seq) == Some(id))
            .copied()
    }

    /// Index `seq` under `id`, which the caller has checked is not indexed yet; `id_of` names
    /// every child indexed so far.
    pub fn insert<'a>(&mut self, id: &str, seq: u64, id_of: impl Fn(u64) -> Option<&'a str>) {
        let hash = self.hash(id);
        let hasher = &self.hasher;
        self.table.insert_unique(hash, seq, |&seq| {
            id_of(seq).map_or(0, |id| hasher.hash_one(id))
        });
    }

    /// Forget the child `seq`, indexed under `id`.
    pub fn remove(&mut self, id: &str, seq: u64) {
        if let Ok(entry) = self.table.find_entry(self.hash(id), |&s| s == seq) {
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
            index.insert(id, seq as u64, id_of);
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
