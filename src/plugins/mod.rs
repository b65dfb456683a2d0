//! Plugins: actors under the `plugins` supervisor that act on what the monitor finds. After every
//! sample the PerformanceManager hands each plugin one
//! [`Insight`](crate::snapshots::monitor::Insight) (shared, not copied) through the plugin board,
//! with `try_send`, so a slow plugin misses samples (counted) instead of holding the monitor up.
//! Neither imports the other: the board and the message are snapshots.
//!
//! # Layout
//! - [`plugin`] — what every plugin is.
//! - [`shedding`] turns low-priority submissions away (503 + Retry-After) while a mailbox on
//!   the submission path is forecast to fill, so that critical work keeps flowing.
//! - [`alerts`] POSTs forecast breaches and anomalies to webhooks, with a cooldown.
//! - [`autoscaler`] adds agents to a pool before its forecast queue wait breaks the class
//!   target, and removes the ones it added once they idle.

pub mod alerts;
pub mod autoscaler;
pub mod plugin;
pub mod shedding;

use std::sync::Arc;

use hive_actors::{ChildContext, ChildSpec, StartedChild};

use crate::context::Hive;
use crate::managers::handles::Handles;
use plugin::Plugin;

/// Mailbox of a plugin: a few samples' worth; an older insight is worth nothing once a newer one
/// is queued.
const MAILBOX: usize = 4;

fn spec<P: Plugin>(hive: &Hive, make: impl Fn(Hive) -> P + Send + Sync + 'static) -> ChildSpec {
    let hive = hive.clone();
    ChildSpec::new(P::NAME, move |_: ChildContext| {
        let (addr, started) = StartedChild::new(make(hive.clone()), MAILBOX);
        hive.plugins.set(P::NAME, addr.recipient());
        started
    })
}

/// Every plugin, in start order. Each reads whether it is on (shedding enabled, webhooks, pools)
/// from the live settings at every sample, so that a change of settings turns it on or off.
pub fn specs(hive: &Hive, handles: &Arc<Handles>) -> Vec<ChildSpec> {
    let handles = handles.clone();
    vec![
        spec(hive, shedding::Shedder::new),
        spec(hive, alerts::Alerter::new),
        spec(hive, move |hive| {
            autoscaler::Autoscaler::new(hive, handles.clone())
        }),
    ]
}
