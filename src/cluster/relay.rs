//! Events between nodes: every event published on this node goes out on the cluster's pub/sub
//! channel, and every other node's event comes in to this node's bus, marked with its node.
//! Events go out in batches, one message each (the events that gathered while the last one was
//! sent): a task's three or four events cost Redis a fraction of a command, not one each.
//! Like the bus itself, delivery is for whoever listens now: an event published while Redis is
//! unreachable is not kept.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::Cluster;
use crate::bus::event::Data;
use crate::bus::{Event, Published};
use crate::context::Hive;

/// Most events sent in one pipeline.
const BATCH: usize = 256;
const RECONNECT: Duration = Duration::from_secs(1);

/// A batch of events as it arrives from another node.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    node: Cow<'a, str>,
    events: Vec<WireEvent<'a>>,
}

#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    at_ms: i64,
    data: Value,
}

/// A batch of this node's events on its way out: what another node reads as a `Wire`, each
/// body serialized straight from its event rather than through an intermediate JSON value.
#[derive(Serialize)]
struct Outgoing<'a> {
    node: &'a str,
    events: Vec<OutgoingEvent<'a>>,
}

#[derive(Serialize)]
struct OutgoingEvent<'a> {
    kind: &'static str,
    at_ms: i64,
    data: Data<'a>,
}

/// Send this node's events out, batched; runs until the bus closes.
pub async fn send_out(hive: Hive, cluster: Arc<Cluster>) {
    let mut events = hive.bus.subscribe();
    let channel = cluster.keys.events();
    loop {
        let first = match events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(missed)) => {
                hive.metrics
                    .cluster_events
                    .with_label_values(&["dropped"])
                    .inc_by(missed);
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                Err(TryRecvError::Lagged(missed)) => hive
                    .metrics
                    .cluster_events
                    .with_label_values(&["dropped"])
                    .inc_by(missed),
                Err(_) => break,
            }
        }
        // Relayed events are another node's: sending them back would echo them for ever.
        let events: Vec<OutgoingEvent<'_>> = batch
            .iter()
            .filter(|e| e.node.is_none())
            .map(|event| OutgoingEvent {
                kind: event.kind(),
                at_ms: event.at_ms,
                data: Data(&event.event),
            })
            .collect();
        let out = events.len() as u64;
        if out == 0 {
            continue;
        }
        let wire = Outgoing {
            node: &cluster.node,
            events,
        };
        let Ok(json) = serde_json::to_string(&wire) else {
            continue;
        };
        let sent: Result<(), super::ClusterError> = async {
            let mut conn = cluster.conn().await?;
            let _: i64 = redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(json)
                .query_async(&mut *conn)
                .await?;
            Ok(())
        }
        .await;
        let direction = if sent.is_ok() { "out" } else { "dropped" };
        hive.metrics
            .cluster_events
            .with_label_values(&[direction])
            .inc_by(out);
    }
}

/// Bring other nodes' events to this node's bus; reconnects for as long as the node runs.
pub async fn take_in(hive: Hive, cluster: Arc<Cluster>) {
    let channel = cluster.keys.events();
    loop {
        let subscribed = async {
            let mut pubsub = cluster.client().get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        let mut pubsub = match subscribed {
            Ok(pubsub) => pubsub,
            Err(e) => {
                tracing::debug!(error = %e, "cannot subscribe to the cluster's events");
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
        };
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            let Ok(wire) = serde_json::from_str::<Wire<'_>>(&payload) else {
                continue;
            };
            if *wire.node == *cluster.node {
                continue;
            }
            let node: Arc<str> = Arc::from(&*wire.node);
            for event in wire.events {
                // Kinds are a closed set (every node runs this code): any other is dropped.
                let Some(kind) = Event::known_kind(&event.kind) else {
                    continue;
                };
                hive.metrics.cluster_events.with_label_values(&["in"]).inc();
                hive.bus.relay(Published {
                    event: Event::Relayed {
                        kind,
                        data: event.data,
                    },
                    at_ms: event.at_ms,
                    node: Some(node.clone()),
                });
            }
        }
        // The connection ended: Redis went away or restarted.
        tokio::time::sleep(RECONNECT).await;
    }
}
