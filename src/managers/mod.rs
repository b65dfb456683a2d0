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
        }
        hive.bus
            .publish(kind, serde_json::to_value(event).unwrap_or_default());
    })
}
