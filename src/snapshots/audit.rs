//! Audit entries on their way from the requests that leave them to the SecurityManager, which
//! hands them to the store as one write every 100 ms: a bounded buffer, not a mailbox, so that
//! auditing never takes a place in the store's mailbox that a task needed.

/// Most entries waiting for the next flush: about 200 bytes each, so at most ~13 MB, which a
/// store stalled for seconds under full load would reach; beyond it entries are dropped, counted.
const BUFFER_LIMIT: usize = 65_536;

pub struct AuditBuffer<T>(parking_lot::Mutex<Vec<T>>);

impl<T> Default for AuditBuffer<T> {
    fn default() -> Self {
        Self(parking_lot::Mutex::default())
    }
}

impl<T> AuditBuffer<T> {
    /// Keep `entry` for the next flush; `false` if the buffer is full.
    pub fn push(&self, entry: T) -> bool {
        let mut pending = self.0.lock();
        if pending.len() >= BUFFER_LIMIT {
            return false;
        }
        pending.push(entry);
        true
    }

    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock())
    }

    /// Put back entries a flush could not hand over, ahead of newer ones, within the bound.
    pub fn restore(&self, mut entries: Vec<T>) {
        let mut pending = self.0.lock();
        entries.append(&mut pending);
        entries.truncate(BUFFER_LIMIT);
        *pending = entries;
    }
}
