//! The live settings (see `config::settings`): written by the ConfigurationManager, read by
//! whoever acts on them, at the moment it acts. One swap replaces them all at once, so a reader
//! never sees half of a change.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::settings::Settings;

pub struct LiveSettings {
    current: ArcSwap<Settings>,
    /// The stored version they are; 0 before any change was stored.
    version: AtomicI64,
}

impl LiveSettings {
    pub fn new(settings: Settings) -> Self {
        Self {
            current: ArcSwap::from_pointee(settings),
            version: AtomicI64::new(0),
        }
    }

    pub fn load(&self) -> Arc<Settings> {
        self.current.load_full()
    }

    pub fn version(&self) -> i64 {
        self.version.load(Ordering::Acquire)
    }

    /// Version `version` from now on.
    pub fn set(&self, version: i64, settings: Settings) {
        self.current.store(Arc::new(settings));
        self.version.store(version, Ordering::Release);
    }
}
