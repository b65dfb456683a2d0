//! The PerformanceManager actor, Hive's monitor: samples every mailbox probe, the task queues,
//! the agent counts and the process's memory at a fixed interval, exports them as metrics,
//! publishes the latest sample for status pages, and feeds the [`Monitor`] that forecasts each
//! bounded series against its limit and flags anomalies (as `monitor.*` events and metrics).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use hive_actors::{ProbeReading, Shutdown};

use super::monitor::{Findings, Monitor, Reading};
use crate::allocator::AllocatorStats;
use crate::bus::Event;
use crate::context::Hive;
use crate::domain::task::Priority;
use crate::snapshots::monitor::Insight;
use crate::snapshots::sample::Sample;

/// A breach forecast is announced at most this often per series.
const BREACH_COOLDOWN: Duration = Duration::from_secs(30);

pub struct PerformanceManager {
    hive: Hive,
    /// Counters already exported per kind, to turn absolute readings into counter increments.
    last: Vec<ProbeReading>,
    monitor: Monitor,
    /// When each series last announced a forecast breach.
    announced: HashMap<String, Instant>,
    /// Recent samples of the task counters, for demand and capacity.
    work: std::collections::VecDeque<WorkCounters>,
}

/// Task counters at one sample.
#[derive(Debug, Clone, Copy)]
struct WorkCounters {
    submitted: u64,
    run_seconds: f64,
    runs: u64,
}

/// Samples over which an attempt's mean run time is estimated.
const RUN_WINDOW: usize = 30;

impl WorkCounters {
    fn read(m: &crate::metrics::Metrics) -> Self {
        Self {
            submitted: Priority::BY_URGENCY
                .into_iter()
                .map(|p| m.tasks_submitted.with_label_values(&[p.as_str()]).get())
                .sum(),
            run_seconds: m.task_run.get_sample_sum(),
            runs: m.task_run.get_sample_count(),
        }
    }
}

impl PerformanceManager {
    pub fn new(hive: Hive) -> Self {
        Self {
            monitor: Monitor::new(hive.config.sample_interval_ms),
            hive,
            last: Vec::new(),
            announced: HashMap::new(),
            work: std::collections::VecDeque::with_capacity(RUN_WINDOW + 1),
        }
    }

    /// The series the monitor watches, with their limits.
    fn readings(&self, probes: &[ProbeReading], sample: &Sample) -> Vec<Reading> {
        let budget = Some(self.hive.config.memory_budget_bytes as f64);
        let mut readings = vec![
            Reading {
                name: "memory.rss".into(),
                unit: "bytes",
                value: sample.resident_memory_bytes as f64,
                limit: budget,
                leading: false,
            },
            Reading {
                name: "memory.allocated".into(),
                unit: "bytes",
                value: sample.allocator.allocated_bytes as f64,
                limit: budget,
                leading: false,
            },
        ];
        readings.extend(probes.iter().map(|r| Reading {
            name: format!("mailbox.{}", r.kind),
            unit: "messages",
            value: r.depth as f64,
            limit: Some((r.capacity as u64 * r.actors.max(1)) as f64),
            leading: false,
        }));
        readings.extend(Priority::BY_URGENCY.into_iter().map(|p| Reading {
            name: format!("queue.{}", p.as_str()),
            unit: "tasks",
            value: self.hive.metrics.queue_depth(p) as f64,
            limit: None,
            leading: false,
        }));
        readings.push(Reading {
            name: "tasks.backlog".into(),
            unit: "tasks",
            value: self.hive.metrics.task_backlog.get() as f64,
            limit: Some(self.hive.config.queued_task_limit() as f64),
            leading: false,
        });
        readings.extend(self.demand());
        let now = Instant::now();
        let slo = self.hive.settings.load().slo.clone();
        readings.extend(Priority::BY_URGENCY.into_iter().map(|p| Reading {
            name: format!("wait.{}", p.as_str()),
            unit: "ms",
            value: self.hive.queue_ages.wait_ms(p, now) as f64,
            limit: Some(slo.of(p) as f64),
            leading: false,
        }));
        readings
    }

    /// Tasks submitted per second against what the agents can finish per second (agents that
    /// can work, over an attempt's mean run time lately): the leading sign of overload, visible
    /// while demand climbs and before any queue has formed.
    fn demand(&self) -> Option<Reading> {
        let (newest, previous, oldest) = (
            self.work.back()?,
            self.work.iter().rev().nth(1)?,
            self.work.front()?,
        );
        let interval_s = self.hive.config.sample_interval_ms.max(1) as f64 / 1000.0;
        let demand = newest.submitted.saturating_sub(previous.submitted) as f64 / interval_s;
        let runs = newest.runs.saturating_sub(oldest.runs);
        let workers: usize = self
            .hive
            .agents
            .counts()
            .into_iter()
            .filter(|(status, _)| {
                matches!(
                    status,
                    crate::domain::agent::AgentStatus::Idle
                        | crate::domain::agent::AgentStatus::Busy
                )
            })
            .map(|(_, n)| n)
            .sum();
        let limit = (runs > 0 && workers > 0).then(|| {
            let mean_run_s = (newest.run_seconds - oldest.run_seconds) / runs as f64;
            workers as f64 / mean_run_s.max(1e-6)
        });
        Some(Reading {
            name: "demand".into(),
            unit: "tasks/s",
            value: demand,
            limit,
            // Past what the agents can finish, the queues grow: a warning of the overload to
            // come, not one yet.
            leading: true,
        })
    }

    /// Export and announce what one sample of the monitor found.
    fn publish(&mut self, findings: Findings) {
        let m = &self.hive.metrics;
        for a in &findings.anomalies {
            m.anomalies.with_label_values(&[a.series.as_str()]).inc();
            self.hive.bus.publish(Event::Anomaly(a.clone()));
        }
        for s in &findings.view.series {
            if let Some(f) = s.forecast {
                for (bound, v) in [("value", f.value), ("lower", f.lower), ("upper", f.upper)] {
                    m.forecast
                        .with_label_values(&[s.name.as_str(), bound])
                        .set(v);
                }
            }
            match s.time_to_breach_s {
                Some(seconds) => {
                    m.forecast_breach
                        .with_label_values(&[s.name.as_str()])
                        .set(seconds);
                    let due = self
                        .announced
                        .get(&s.name)
                        .is_none_or(|at| at.elapsed() >= BREACH_COOLDOWN);
                    if s.warning && due {
                        self.announced.insert(s.name.clone(), Instant::now());
                        self.hive.bus.publish(Event::BreachForecast(s.clone()));
                    }
                }
                None => {
                    let _ = m.forecast_breach.remove_label_values(&[s.name.as_str()]);
                }
            }
        }
        m.monitor_history_bytes
            .set(findings.view.history_bytes as i64);
        let view = Arc::new(findings.view);
        self.hive.monitor.store(view.clone());
        let insight = Insight {
            view,
            anomalies: findings.anomalies.into(),
        };
        self.hive.plugins.tell(&self.hive.metrics, &insight);
    }

    fn sample(&mut self) {
        let started = Instant::now();
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
        let sqlite_heap_bytes = crate::store::sqlite_heap::used();
        m.sqlite_heap.set(sqlite_heap_bytes as i64);
        let sample = Sample {
            at_ms: crate::domain::time::now_ms(),
            resident_memory_bytes: rss,
            allocator,
            sqlite_heap_bytes,
        };
        if self.work.len() > RUN_WINDOW {
            self.work.pop_front();
        }
        self.work.push_back(WorkCounters::read(m));
        let watched = self.readings(&readings, &sample);
        let findings = self.monitor.observe(sample.at_ms, watched);
        self.publish(findings);
        self.hive.sample.store(Arc::new(sample));
        self.last = readings;
        self.hive
            .metrics
            .monitor_sample_seconds
            .observe(started.elapsed().as_secs_f64());
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
