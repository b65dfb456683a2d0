//! The PerformanceManager actor: samples every mailbox probe, the agent counts and the process's
//! memory at a fixed interval, exports them as metrics and publishes the latest sample for status
//! pages. Forecasting and anomaly detection build on these samples.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use hive_actors::{ProbeReading, Shutdown};
use serde::Serialize;

use crate::allocator::AllocatorStats;
use crate::context::Hive;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    pub at_ms: i64,
    pub resident_memory_bytes: u64,
    pub allocator: AllocatorStats,
}

pub struct PerformanceManager {
    hive: Hive,
    /// Counters already exported per kind, to turn absolute readings into counter increments.
    last: Vec<ProbeReading>,
}

impl PerformanceManager {
    pub fn new(hive: Hive) -> Self {
        Self {
            hive,
            last: Vec::new(),
        }
    }

    fn sample(&mut self) {
        let m = &self.hive.metrics;
        let readings = self.hive.probes.readings();
        for r in &readings {
            m.mailbox_depth
                .with_label_values(&[r.kind])
                .set(r.depth as i64);
            m.mailbox_capacity
                .with_label_values(&[r.kind])
                .set(r.capacity as i64);
            m.mailbox_actors
                .with_label_values(&[r.kind])
                .set(r.actors as i64);
            let before = self.last.iter().find(|l| l.kind == r.kind);
            let (handled, refusals) = before.map_or((0, 0), |b| (b.handled, b.refusals));
            m.mailbox_handled
                .with_label_values(&[r.kind])
                .inc_by(r.handled.saturating_sub(handled));
            m.mailbox_refusals
                .with_label_values(&[r.kind])
                .inc_by(r.refusals.saturating_sub(refusals));
        }
        // A counter that has never moved is still exported, at 0, so that a dashboard's rate()
        // of it shows a flat line rather than no data.
        for name in self.hive.tree.names() {
            m.supervisor_gave_up.with_label_values(&[name.as_str()]);
        }
        for (status, count) in self.hive.agents.counts() {
            m.agents
                .with_label_values(&[status.as_str()])
                .set(count as i64);
        }
        let rss = memory_stats::memory_stats()
            .map(|s| s.physical_mem as u64)
            .unwrap_or(0);
        m.resident_memory.set(rss as i64);
        let allocator = AllocatorStats::read().unwrap_or_default();
        for (kind, bytes) in allocator.by_kind() {
            m.allocator.with_label_values(&[kind]).set(bytes as i64);
        }
        self.hive.sample.store(Arc::new(Sample {
            at_ms: crate::domain::time::now_ms(),
            resident_memory_bytes: rss,
            allocator,
        }));
        self.last = readings;
    }
}

impl Actor for PerformanceManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.sample();
        let every = Duration::from_millis(self.hive.config.sample_interval_ms);
        ctx.run_interval(every, |act, _| act.sample());
    }
}

impl Handler<Shutdown> for PerformanceManager {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
