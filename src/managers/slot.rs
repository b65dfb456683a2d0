//! The current address of an actor that its supervisor may restart.

use std::sync::Arc;

use actix::prelude::*;
use arc_swap::ArcSwapOption;

/// The current address of an actor that its supervisor may restart. Readers borrow the address
/// (an `Arc` clone, not an `Addr` clone): each `Addr` clone adds one slot to actix's mailbox bound.
pub struct Slot<A: Actor>(ArcSwapOption<Addr<A>>);

impl<A: Actor> Default for Slot<A> {
    fn default() -> Self {
        Self(ArcSwapOption::empty())
    }
}

impl<A: Actor> Slot<A> {
    pub fn set(&self, addr: Addr<A>) {
        self.0.store(Some(Arc::new(addr)));
    }

    pub fn get(&self) -> Option<Arc<Addr<A>>> {
        self.0.load_full()
    }
}
