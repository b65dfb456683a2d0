//! The actors under the root supervisor, and how the layers above reach them.
//!
//! # Layout
//! - [`root`] — the shape of the supervision tree and its start order.
//! - [`configuration`] — the ConfigurationManager: the typed configuration.
//! - [`security`] — the SecurityManager: tokens, the access policy, the audit log's flushes.
//! - [`communication`] — the CommunicationManager: event-stream subscriptions, bounded.
//! - [`orchestrator`] — the Orchestrator: accepts, queues, dispatches and retries tasks.
//! - [`agent_slots`] — the orchestrator's agents by id, idle or busy.
//! - [`lifecycle`] — the LifecycleManager: creates and deletes agents, a pool supervisor per role.
//! - [`performance`] — the PerformanceManager: samples, exports and feeds the [`monitor`].
//! - [`monitor`] — the monitor's state between samples: history, forecasts, anomalies.
//! - [`handles`] — the current address of each manager, for the HTTP handlers and the plugins.
//! - [`slot`] — the current address of one actor its supervisor may restart.
//! - [`to_orchestrator`] — the orchestrator behind the ports of the agents and the cluster.
//!
//! This file holds what every supervisor does with its events: [`supervision_sink`].

pub mod agent_slots;
pub mod communication;
pub mod configuration;
pub mod handles;
pub mod lifecycle;
pub mod monitor;
pub mod orchestrator;
pub mod performance;
pub mod root;
pub mod security;
pub mod slot;
pub mod to_orchestrator;

use std::sync::Arc;

use hive_actors::{EventSink, SupervisionEvent, SupervisionEventKind};

use crate::context::Hive;
use crate::store::manager::StoreManager;
use crate::store::manager::{Persist, Write};
use crate::store::models::NewSupervisorEvent;
use slot::Slot;

/// What every supervisor does with its events: count them and publish them on the bus.
pub fn supervision_sink(hive: &Hive, store: &Arc<Slot<StoreManager>>) -> EventSink {
    let (hive, store) = (hive.clone(), store.clone());
    Arc::new(move |event: &SupervisionEvent| {
        let m = &hive.metrics;
        let kind = match &event.kind {
            SupervisionEventKind::ChildStarted { .. } => "supervisor.child_started",
            SupervisionEventKind::ChildExited { reason } => {
                m.supervisor_exits
                    .with_label_values(&[&event.supervisor, reason.kind()])
                    .inc();
                "supervisor.child_exited"
            }
            SupervisionEventKind::ChildRestarted { reason, .. } => {
                m.supervisor_restarts
                    .with_label_values(&[&event.supervisor, reason.kind()])
                    .inc();
                "supervisor.child_restarted"
            }
            SupervisionEventKind::SupervisorGaveUp { .. } => {
                m.supervisor_gave_up
                    .with_label_values(&[&event.supervisor])
                    .inc();
                "supervisor.gave_up"
            }
        };
        if !matches!(event.kind, SupervisionEventKind::ChildStarted { .. }) {
            tracing::info!(supervisor = %event.supervisor, child = %event.child, event = kind, "supervision");
            keep(&hive, &store, event);
        }
        hive.bus
            .publish(kind, serde_json::to_value(event).unwrap_or_default());
    })
}

/// Store a decision as history. Starts are not kept (10,000 agents are 10,000 starts, and a
/// start decides nothing); under backpressure a history row is dropped rather than queued
/// without bound, while the metrics above still count it.
fn keep(hive: &Hive, store: &Slot<StoreManager>, event: &SupervisionEvent) {
    let (kind, reason, restarts) = match &event.kind {
        SupervisionEventKind::ChildStarted { .. } => return,
        SupervisionEventKind::ChildExited { reason } => ("child_exited", reason, None),
        SupervisionEventKind::ChildRestarted {
            reason, restarts, ..
        } => ("child_restarted", reason, Some(*restarts as i64)),
        SupervisionEventKind::SupervisorGaveUp { reason } => ("supervisor_gave_up", reason, None),
    };
    let Some(store) = store.get() else {
        return;
    };
    let row = NewSupervisorEvent {
        at: event.at_ms as i64,
        supervisor: event.supervisor.to_string(),
        child: event.child.clone(),
        kind,
        reason: Some(reason.to_string()),
        restarts,
    };
    if hive
        .kinds
        .store
        .try_send(&store, Persist(Write::SupervisorEvent(row)))
        .is_err()
    {
        tracing::debug!(supervisor = %event.supervisor, "supervision history row dropped: store busy");
    }
}
