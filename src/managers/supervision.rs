//! What every supervisor does with its decisions: count them, keep them as history, and publish
//! them on the bus.

use std::sync::Arc;

use hive_actors::{EventSink, SupervisionEvent, SupervisionEventKind};

use super::slot::Slot;
use crate::bus::Event;
use crate::context::Hive;
use crate::store::manager::{Persist, StoreManager, Write};
use crate::store::models::NewSupervisorEvent;

/// What every supervisor does with its events: count them, keep the decisions, publish them.
pub fn supervision_sink(hive: &Hive, store: &Arc<Slot<StoreManager>>) -> EventSink {
    let (hive, store) = (hive.clone(), store.clone());
    Arc::new(move |event: &SupervisionEvent| {
        let m = &hive.metrics;
        match &event.kind {
            SupervisionEventKind::ChildStarted { .. } => {}
            SupervisionEventKind::ChildExited { reason } => m
                .supervisor_exits
                .with_label_values(&[&event.supervisor, reason.kind()])
                .inc(),
            SupervisionEventKind::ChildRestarted { reason, .. } => m
                .supervisor_restarts
                .with_label_values(&[&event.supervisor, reason.kind()])
                .inc(),
            SupervisionEventKind::SupervisorGaveUp { .. } => m
                .supervisor_gave_up
                .with_label_values(&[&event.supervisor])
                .inc(),
            SupervisionEventKind::ChildStopped { .. } => m
                .supervisor_exits
                .with_label_values(&[&event.supervisor, "crash_loop"])
                .inc(),
        }
        let announced = Event::Supervision(event.clone());
        if !matches!(event.kind, SupervisionEventKind::ChildStarted { .. }) {
            tracing::info!(supervisor = %event.supervisor, child = %event.child, event = announced.kind(), "supervision");
            keep(&hive, &store, event);
        }
        hive.bus.publish(announced);
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
        SupervisionEventKind::ChildStopped { reason } => ("child_stopped", reason, None),
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
