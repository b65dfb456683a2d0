//! The actors under the root supervisor: five managers, the store and the orchestrator.

pub mod communication;
pub mod configuration;
pub mod lifecycle;
pub mod orchestrator;
pub mod performance;
pub mod root;
pub mod security;

use std::sync::Arc;

use hive_actors::{EventSink, SupervisionEvent, SupervisionEventKind};

use crate::context::Hive;

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
            SupervisionEventKind::ChildRestarted { .. } => "supervisor.child_restarted",
            SupervisionEventKind::SupervisorGaveUp { .. } => {
                m.supervisor_gave_up
                    .with_label_values(&[&event.supervisor])
                    .inc();
                "supervisor.gave_up"
            }
        };
        if let SupervisionEventKind::ChildRestarted { .. } = &event.kind {
            // The reason of a restart is the exit just before it, which the tree remembers.
            let reason = hive
                .tree
                .child(&event.supervisor, &event.child)
                .and_then(|c| c.last_exit.map(|r| r.kind()))
                .unwrap_or("unknown");
            m.supervisor_restarts
                .with_label_values(&[&event.supervisor, reason])
                .inc();
        }
        if !matches!(event.kind, SupervisionEventKind::ChildStarted { .. }) {
            tracing::info!(supervisor = %event.supervisor, child = %event.child, event = kind, "supervision");
        }
        hive.bus
            .publish(kind, serde_json::to_value(event).unwrap_or_default());
    })
}
