//! This node's lease in PostgreSQL: the proof that it is alive, which Redis cannot give.
//!
//! A node renews its lease every heartbeat. It starts no attempt unless its last renewal is
//! younger than the lease less a heartbeat, and when that proof runs out it stops the attempts it
//! is running (they go back to its queue). A survivor takes over a node's work only after fencing
//! it in PostgreSQL, which succeeds only once the node's lease has run out by the database's
//! clock, by which time the node has stopped. So a node cut off from Redis alone keeps its lease
//! and its work (nobody takes it over), and a node cut off from PostgreSQL stops before anyone
//! restarts its tasks: no attempt runs on two nodes at once. A node that finds itself fenced
//! (its work was taken over while it was cut off) exits, to be restarted with what it holds.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::port::{LeaseChanged, TaskHolder};
use super::Cluster;
use crate::bus::event::{Event, LeaseState};
use crate::bus::EventBus;
use crate::metrics::Metrics;
use crate::store::Store;

/// This node's lease as it knows it.
#[derive(Debug, Default)]
pub struct Lease {
    epoch: AtomicI64,
    /// Until when this node may start work: its last renewal's start plus the lease less a
    /// heartbeat. `None` before the first renewal and once the proof ran out.
    valid_until: Mutex<Option<Instant>>,
}

impl Lease {
    pub fn held(&self) -> bool {
        self.valid_until
            .lock()
            .is_some_and(|until| Instant::now() < until)
    }

    fn renewed(&self, sent_at: Instant, lease: Duration, heartbeat: Duration) {
        *self.valid_until.lock() = Some(sent_at + lease.saturating_sub(heartbeat));
    }
}

impl Cluster {
    /// Whether this node may start work now.
    pub fn lease_held(&self) -> bool {
        self.proof.held()
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Take this node's lease at start (fencing a previous run of the same node).
    pub async fn claim_lease(
        &self,
        store: &Store,
        metrics: &Metrics,
    ) -> Result<(), crate::store::StoreError> {
        let sent_at = Instant::now();
        let epoch = store.claim_lease(&self.node, self.lease_ms()).await?;
        self.proof.epoch.store(epoch, Ordering::Release);
        self.proof.renewed(sent_at, self.lease, self.heartbeat);
        metrics.cluster_lease_held.set(1);
        tracing::info!(node = %self.node, epoch, "holding this node's lease");
        Ok(())
    }
}

/// Renew the lease every heartbeat for as long as the node runs; tell the orchestrator each time
/// the proof is lost or regained.
pub async fn hold(
    (store, metrics, bus): (Store, Arc<Metrics>, EventBus),
    cluster: Arc<Cluster>,
    holder: Arc<dyn TaskHolder>,
) {
    let mut ticks = tokio::time::interval(cluster.heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_held = cluster.lease_held();
    let lease_ms = cluster.lease_ms();
    loop {
        ticks.tick().await;
        let sent_at = Instant::now();
        let epoch = cluster.proof.epoch.load(Ordering::Acquire);
        // A renewal that takes longer than the heartbeat proves nothing in time.
        let renewal = store.renew_lease(&cluster.node, epoch, lease_ms);
        match tokio::time::timeout(cluster.heartbeat, renewal).await {
            Ok(Ok(true)) => cluster
                .proof
                .renewed(sent_at, cluster.lease, cluster.heartbeat),
            Ok(Ok(false)) => {
                tracing::error!(node = %cluster.node, "this node's lease was fenced: another node took over its work while it was cut off; exiting so that nothing runs twice");
                std::process::exit(75);
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "cannot renew this node's lease"),
            Err(_) => tracing::debug!("renewing this node's lease took longer than a heartbeat"),
        }
        let held = cluster.lease_held();
        if held != was_held {
            if held {
                tracing::info!(node = %cluster.node, "this node's lease is renewed again: starting work");
            } else {
                tracing::warn!(node = %cluster.node, "this node cannot renew its lease in the database: it starts no work and stops what runs until it can");
            }
            metrics.cluster_lease_held.set(i64::from(held));
            bus.publish(Event::Lease(LeaseState {
                node: cluster.node.clone(),
                held,
            }));
            holder.lease_changed(LeaseChanged { held });
            was_held = held;
        }
    }
}
