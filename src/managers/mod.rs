//! The actors under the root supervisor: five managers, the store and the orchestrator.

pub mod agent_slots;
pub mod communication;
pub mod configuration;
pub mod lifecycle;
pub mod monitor;
pub mod orchestrator;
pub mod performance;
pub mod queue_age;
pub mod root;
pub mod security;

use std::sync::Arc;

use hive_actors::{EventSink, SupervisionEvent, SupervisionEventKind};

use crate::context::Hive;
use crate::store::manager::{Persist, Write};
use crate::store::models::NewSupervisorEvent;

/// What every supervisor does with its events: count them and publish them on the bus.
pub fn supervision_sink(hive: &Hive) -> EventSink {
    let hive = hive.clone();
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
            keep(&hive, event);
        }
        hive.bus
            .publish(kind, serde_json::to_value(event).unwrap_or_default());
    })
}

/// Store a decision as history. Starts are not kept (10,000 agents are 10,000 starts, and a
/// start decides nothing); under backpressure a history row is dropped rather than queued
/// without bound, while the metrics above still count it.
fn keep(hive: &Hive, event: &SupervisionEvent) {
    let (kind, reason, restarts) = match &event.kind {
        SupervisionEventKind::ChildStarted { .. } => return,
        SupervisionEventKind::ChildExited { reason } => ("child_exited", reason, None),
        SupervisionEventKind::ChildRestarted {
            reason, restarts, ..
        } => ("child_restarted", reason, Some(*restarts as i64)),
        SupervisionEventKind::SupervisorGaveUp { reason } => ("supervisor_gave_up", reason, None),
    };
    let Some(store) = hive.slots.store.get() else {
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
