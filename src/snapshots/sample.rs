//! The monitor's latest sample of the process's memory, for status pages.

use serde::Serialize;

use crate::allocator::AllocatorStats;

/// Memory as the monitor last sampled it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    pub at_ms: i64,
    pub resident_memory_bytes: u64,
    pub allocator: AllocatorStats,
    /// SQLite's own heap (0 on PostgreSQL).
    pub sqlite_heap_bytes: u64,
}
