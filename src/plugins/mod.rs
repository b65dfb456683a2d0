//! Plugins: actors under the `plugins` supervisor that act on what the monitor finds. After every
//! sample the PerformanceManager hands each plugin one [`Insight`] (shared, not copied), with
//! `try_send`, so a slow plugin misses samples (counted) instead of holding the monitor up.
//!
//! - [`shedding`] turns low-priority submissions away (503 + Retry-After) while a mailbox on
//!   the submission path is forecast to fill, so that critical work keeps flowing.
//! - [`alerts`] POSTs forecast breaches and anomalies to webhooks, with a cooldown.
//! - [`autoscaler`] adds agents to a pool before its forecast queue wait breaks the class
//!   target, and removes the ones it added once they idle.

pub mod alerts;
pub mod autoscaler;
pub mod shedding;

use std::sync::Arc;

use actix::prelude::*;
use hive_actors::{ChildContext, ChildSpec, Shutdown, StartedChild};
use parking_lot::RwLock;

use crate::context::Hive;
use crate::managers::monitor::{AnomalyView, MonitorView};

/// What the monitor found in one sample.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Insight {
    pub view: Arc<MonitorView>,
    /// Anomalies this sample flagged (the view lists older ones too).
    pub anomalies: Arc<[AnomalyView]>,
}

/// A plugin: an actor told of every monitor sample.
pub trait Plugin: Actor<Context = Context<Self>> + Handler<Insight> + Handler<Shutdown> {
    /// Its name in the supervision tree and in metrics.
    const NAME: &'static str;
}

/// The plugins' current addresses, replaced when a plugin restarts.
#[derive(Default)]
pub struct PluginBoard(RwLock<Vec<(&'static str, Recipient<Insight>)>>);

impl PluginBoard {
    fn set(&self, name: &'static str, recipient: Recipient<Insight>) {
        let mut plugins = self.0.write();
        plugins.retain(|(n, _)| *n != name);
        plugins.push((name, recipient));
    }

    /// Hand `insight` to every plugin; a full mailbox drops it for that plugin, counted.
    pub fn tell(&self, hive: &Hive, insight: &Insight) {
        for (name, plugin) in self.0.read().iter() {
            if plugin.try_send(insight.clone()).is_err() {
                hive.metrics.plugin_dropped.with_label_values(&[name]).inc();
            }
        }
    }
}

/// Mailbox of a plugin: a few samples' worth; an older insight is worth nothing once a newer one
/// is queued.
const MAILBOX: usize = 4;

fn spec<P: Plugin>(hive: &Hive, make: fn(Hive) -> P) -> ChildSpec {
    let hive = hive.clone();
    ChildSpec::new(P::NAME, move |_: ChildContext| {
        let (addr, started) = StartedChild::new(make(hive.clone()), MAILBOX);
        hive.plugins.set(P::NAME, addr.recipient());
        started
    })
}

/// The plugins the configuration turns on, in start order.
pub fn specs(hive: &Hive) -> Vec<ChildSpec> {
    let config = &hive.config.plugins;
    let mut specs = Vec::new();
    if config.shedding.enabled {
        specs.push(spec(hive, shedding::Shedder::new));
    }
    if !config.alerts.webhooks.is_empty() {
        specs.push(spec(hive, alerts::Alerter::new));
    }
    if !config.autoscaler.pools.is_empty() {
        specs.push(spec(hive, autoscaler::Autoscaler::new));
    }
    specs
}
