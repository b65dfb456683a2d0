//! The channel from the monitor to the plugins: each plugin's current mailbox, by name, replaced
//! when it restarts. The monitor hands every sample's [`Insight`] to all of them without knowing
//! what they are, and a plugin needs nothing of the monitor but this message.

use actix::Recipient;
use parking_lot::RwLock;

use crate::metrics::Metrics;
use crate::snapshots::monitor::Insight;

/// The plugins' current addresses, replaced when a plugin restarts.
#[derive(Default)]
pub struct PluginBoard(RwLock<Vec<(&'static str, Recipient<Insight>)>>);

impl PluginBoard {
    pub fn set(&self, name: &'static str, recipient: Recipient<Insight>) {
        let mut plugins = self.0.write();
        plugins.retain(|(n, _)| *n != name);
        plugins.push((name, recipient));
    }

    /// Hand `insight` to every plugin; a full mailbox drops it for that plugin, counted.
    pub fn tell(&self, metrics: &Metrics, insight: &Insight) {
        for (name, plugin) in self.0.read().iter() {
            if plugin.try_send(insight.clone()).is_err() {
                metrics.plugin_dropped.with_label_values(&[name]).inc();
            }
        }
    }
}
