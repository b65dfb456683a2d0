//! Bounded-mailbox settings and depth probes.
//!
//! actix bounds a mailbox only for `try_send`: `do_send` ignores the capacity and `send()` enqueues
//! at once. Every path a client can flood therefore goes through [`MailboxProbe::try_send`], which
//! turns a full mailbox into a counted [`Refused`] instead of unbounded memory.
//!
//! actix does not expose the length of a mailbox, so a probe counts it: a message is added when it
//! is enqueued through the probe and removed when the handler calls [`MailboxProbe::handled`]. Both
//! sides of one actor kind must go through the probe or the depth drifts.

use std::sync::Arc;

use actix::prelude::*;
use actix::WeakAddr;
use parking_lot::Mutex;
use serde::Serialize;

use crate::sync::{AtomicI64, AtomicU64, Ordering};

/// The mailbox a message could not enter; the message comes back so the caller can answer for it.
#[derive(Debug, thiserror::Error)]
pub enum Refused<M> {
    #[error("mailbox of {kind} is full")]
    Full { kind: &'static str, message: M },
    #[error("{kind} is not running")]
    Closed { kind: &'static str, message: M },
}

impl<M> Refused<M> {
    pub fn into_message(self) -> M {
        match self {
            Refused::Full { message, .. } | Refused::Closed { message, .. } => message,
        }
    }
}

/// Counters for every actor of one kind (all agents share one probe, the orchestrator has its own).
#[derive(Debug)]
pub struct MailboxProbe {
    kind: &'static str,
    /// Per-actor capacity, as configured; the total bound is this times `actors`.
    capacity: usize,
    actors: AtomicI64,
    depth: AtomicI64,
    handled: AtomicU64,
    refusals: AtomicU64,
}

/// A point-in-time reading of a probe, as `/api/v1/system/status` and the monitor see it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct ProbeReading {
    pub kind: &'static str,
    pub capacity: usize,
    pub actors: u64,
    pub depth: u64,
    pub handled: u64,
    pub refusals: u64,
}

impl MailboxProbe {
    pub fn new(kind: &'static str, capacity: usize) -> Self {
        Self {
            kind,
            capacity,
            actors: AtomicI64::new(0),
            depth: AtomicI64::new(0),
            handled: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Enqueue respecting the bound; a full mailbox is counted as a refusal. The bound is the
    /// probe's count as well as actix's: an actor that moves messages out of its mailbox into a
    /// buffer of its own (the store's batch) marks them handled only when they are done, so the
    /// count covers that buffer too, and a slow actor still turns into refusals.
    pub fn try_send<A, M>(&self, addr: &Addr<A>, message: M) -> Result<(), Refused<M>>
    where
        A: Actor + Handler<M>,
        A::Context: actix::dev::ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        if self.depth.load(Ordering::Relaxed) >= self.bound() {
            self.refusals.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::Full {
                kind: self.kind,
                message,
            });
        }
        // Count before sending so that a fast handler never takes the depth below zero.
        self.enqueued();
        match addr.try_send(message) {
            Ok(()) => Ok(()),
            Err(SendError::Full(message)) => {
                self.refused();
                Err(Refused::Full {
                    kind: self.kind,
                    message,
                })
            }
            Err(SendError::Closed(message)) => {
                self.discarded(1);
                Err(Refused::Closed {
                    kind: self.kind,
                    message,
                })
            }
        }
    }

    /// The most messages all actors of the kind may hold together.
    fn bound(&self) -> i64 {
        (self.capacity as i64).saturating_mul(self.actors.load(Ordering::Relaxed).max(1))
    }

    /// Enqueue past the bound. Only for internal messages whose number is bounded elsewhere (one
    /// result per running task, one exit per child), never for anything a client can repeat.
    pub fn do_send<A, M>(&self, addr: &Addr<A>, message: M)
    where
        A: Actor + Handler<M>,
        A::Context: actix::dev::ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        if addr.connected() {
            self.enqueued();
            addr.do_send(message);
        }
    }

    /// [`MailboxProbe::try_send`] to an actor held by a weak address: one that has stopped is
    /// `Closed`. A holder of many addresses (a dispatcher of thousands of agents) keeps a weak one
    /// each, 8 bytes, where an `Addr` allocates two shared cells of its own (about 80 bytes).
    pub fn try_send_weak<A, M>(&self, addr: &WeakAddr<A>, message: M) -> Result<(), Refused<M>>
    where
        A: Actor + Handler<M>,
        A::Context: actix::dev::ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        match addr.upgrade() {
            Some(addr) => self.try_send(&addr, message),
            None => Err(Refused::Closed {
                kind: self.kind,
                message,
            }),
        }
    }

    /// [`MailboxProbe::do_send`] to an actor held by a weak address; nothing if it has stopped.
    pub fn do_send_weak<A, M>(&self, addr: &WeakAddr<A>, message: M)
    where
        A: Actor + Handler<M>,
        A::Context: actix::dev::ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        if let Some(addr) = addr.upgrade() {
            self.do_send(&addr, message);
        }
    }

    /// A message entered the mailbox (the send side of the count).
    pub fn enqueued(&self) {
        self.depth.fetch_add(1, Ordering::Relaxed);
    }

    /// A message counted by [`MailboxProbe::enqueued`] was refused because the mailbox was full.
    pub fn refused(&self) {
        self.depth.fetch_sub(1, Ordering::Relaxed);
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Called by the receiving handler once per message that came through this probe.
    pub fn handled(&self) {
        self.depth.fetch_sub(1, Ordering::Relaxed);
        self.handled.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages that were queued for an actor that then stopped are never handled.
    pub fn discarded(&self, count: u64) {
        self.depth.fetch_sub(count as i64, Ordering::Relaxed);
    }

    pub fn actor_started(&self) {
        self.actors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn actor_stopped(&self) {
        self.actors.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn reading(&self) -> ProbeReading {
        ProbeReading {
            kind: self.kind,
            capacity: self.capacity,
            actors: self.actors.load(Ordering::Relaxed).max(0) as u64,
            depth: self.depth.load(Ordering::Relaxed).max(0) as u64,
            handled: self.handled.load(Ordering::Relaxed),
            refusals: self.refusals.load(Ordering::Relaxed),
        }
    }
}

/// Every probe of the process, so that the monitor and `/metrics` can walk them.
#[derive(Debug, Clone, Default)]
pub struct Probes {
    inner: Arc<Mutex<Vec<Arc<MailboxProbe>>>>,
}

impl Probes {
    /// The probe of `kind`, created on first use; the capacity of the first registration wins.
    pub fn register(&self, kind: &'static str, capacity: usize) -> Arc<MailboxProbe> {
        let mut probes = self.inner.lock();
        if let Some(found) = probes.iter().find(|p| p.kind == kind) {
            return found.clone();
        }
        let probe = Arc::new(MailboxProbe::new(kind, capacity));
        probes.push(probe.clone());
        probe
    }

    pub fn readings(&self) -> Vec<ProbeReading> {
        self.inner.lock().iter().map(|p| p.reading()).collect()
    }
}
