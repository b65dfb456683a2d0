//! The process's allocator, jemalloc, and the figures it reports. It is the global allocator of
//! everything linked with this crate (the server, the tests and the benchmarks alike), so what is
//! measured is what runs; built unprefixed, it also serves C's `malloc`, so SQLite's page caches
//! are in its figures and returned to the system like Rust's memory (glibc's per-thread arenas
//! kept what a replaced connection's cache had held). Chosen over glibc's malloc because its background thread returns freed
//! pages to the system on a timer: under a steady load RSS follows the live heap instead of
//! keeping whatever per-thread arenas once held.

use serde::Serialize;
use tikv_jemalloc_ctl::{background_thread, epoch, stats};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Start jemalloc's background purging thread; without it, freed pages go back only as a side
/// effect of later allocations, so an idle server would keep a burst's memory.
pub fn init() {
    if let Err(e) = background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc's background thread did not start; freed memory returns only on allocation");
    }
}

/// jemalloc's view of the heap, in bytes (see `man jemalloc`, `stats.*`).
#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct AllocatorStats {
    /// Bytes the program has allocated and not freed.
    pub allocated_bytes: u64,
    /// Bytes in pages that hold allocations (allocated plus fragmentation within them).
    pub active_bytes: u64,
    /// Bytes of physical memory jemalloc holds, metadata included.
    pub resident_bytes: u64,
    /// Bytes of virtual memory kept for reuse and not returned to the system (not resident).
    pub retained_bytes: u64,
}

impl AllocatorStats {
    /// Fresh figures: advancing the epoch makes jemalloc refresh its cached statistics. `None`
    /// if jemalloc will not say (it always does when it is the allocator).
    pub fn read() -> Option<AllocatorStats> {
        epoch::advance().ok()?;
        Some(AllocatorStats {
            allocated_bytes: stats::allocated::read().ok()? as u64,
            active_bytes: stats::active::read().ok()? as u64,
            resident_bytes: stats::resident::read().ok()? as u64,
            retained_bytes: stats::retained::read().ok()? as u64,
        })
    }

    pub fn by_kind(&self) -> [(&'static str, u64); 4] {
        [
            ("allocated", self.allocated_bytes),
            ("active", self.active_bytes),
            ("resident", self.resident_bytes),
            ("retained", self.retained_bytes),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_is_the_allocator_and_counts_a_live_block() {
        // Other tests allocate and free at the same time, so only a lower bound is certain.
        let block = std::hint::black_box(vec![7u8; 8 << 20]);
        let during = AllocatorStats::read().expect("jemalloc reports");
        assert!(during.allocated_bytes >= 8 << 20, "{during:?}");
        assert!(during.active_bytes >= during.allocated_bytes);
        assert!(during.resident_bytes >= during.active_bytes);
        drop(block);
    }
}
