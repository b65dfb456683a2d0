//! Atomics used by the concurrent pieces of this crate, swapped for loom's under `cfg(hive_loom)`
//! so that the same code is model-checked (`RUSTFLAGS="--cfg hive_loom" cargo test -p hive-actors
//! --test loom --release`). A project cfg rather than `cfg(loom)`: tokio and event-listener react to
//! the latter and stop building.

#[cfg(hive_loom)]
pub(crate) use loom::sync::atomic::{AtomicI64, AtomicU64, Ordering};
#[cfg(not(hive_loom))]
pub(crate) use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[cfg(not(hive_loom))]
pub(crate) use parking_lot::Mutex;

/// loom's mutex with parking_lot's signature (`lock` without a poison result).
#[cfg(hive_loom)]
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(hive_loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
