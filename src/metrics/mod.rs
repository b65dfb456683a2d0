//! Every `hive_*` metric, declared once with its help text and base unit. No label carries an id:
//! label values come from small fixed sets (routes, priorities, statuses, supervisor names, exit
//! kinds), so the series count stays bounded however many agents and tasks there are.

pub mod submission;

pub use submission::{Phase, SubmitClock};

use prometheus::{
    exponential_buckets, Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub supervisor_restarts: IntCounterVec,
    pub supervisor_exits: IntCounterVec,
    pub supervisor_gave_up: IntCounterVec,
    pub tasks_submitted: IntCounterVec,
    pub tasks_finished: IntCounterVec,
    pub task_retries: IntCounter,
    pub task_queue_depth: IntGaugeVec,
    pub task_backlog: IntGauge,
    pub addressed_queued: IntGauge,
    /// The version of the live settings this node runs with.
    pub config_version: IntGauge,
    pub process_starts: IntCounter,
    pub process_exits: IntCounterVec,
    pub task_queue_wait: HistogramVec,
    pub task_slo_missed: IntCounterVec,
    pub task_run: Histogram,
    pub agents: IntGaugeVec,
    pub mailbox_depth: IntGaugeVec,
    pub mailbox_capacity: IntGaugeVec,
    pub mailbox_actors: IntGaugeVec,
    pub mailbox_handled: IntCounterVec,
    pub mailbox_refusals: IntCounterVec,
    pub store_batch_size: Histogram,
    pub store_commit_seconds: Histogram,
    /// `hive_submit_phase_seconds`, by phase (see [`submission`]).
    pub submit_phases: submission::PhaseHistograms,
    pub store_pruned: IntCounterVec,
    pub resident_memory: IntGauge,
    pub allocator: IntGaugeVec,
    pub sqlite_heap: IntGauge,
    pub actor_processing: HistogramVec,
    pub forecast: GaugeVec,
    pub forecast_breach: GaugeVec,
    pub anomalies: IntCounterVec,
    pub monitor_sample_seconds: Histogram,
    pub monitor_history_bytes: IntGauge,
    pub sse_clients: IntGauge,
    pub rate_limited: IntCounter,
    pub audit_dropped: IntCounter,
    pub plugin_dropped: IntCounterVec,
    pub shedding_level: IntGauge,
    pub tasks_shed: IntCounterVec,
    pub alerts: IntCounterVec,
    pub alert_deliveries: IntCounterVec,
    pub autoscaler_changes: IntCounterVec,
    pub autoscaler_agents: IntGaugeVec,
    pub cluster_redis_up: IntGauge,
    pub store_up: IntGauge,
    pub cluster_lease_held: IntGauge,
    pub answers_timed_out: IntCounter,
    pub store_full: IntGauge,
    pub cluster_tasks: IntCounterVec,
    pub cluster_events: IntCounterVec,
}

/// Latency buckets from 50 µs to about 26 s: the API's own work sits at the low end, tasks that
/// sleep or time out at the high end.
fn seconds_buckets() -> Vec<f64> {
    exponential_buckets(0.000_05, 2.0, 20).unwrap_or_default()
}

macro_rules! register {
    ($registry:expr, $metric:expr) => {{
        let metric = $metric?;
        $registry.register(Box::new(metric.clone()))?;
        metric
    }};
}

/// The `q`-quantile of everything `h` has observed, interpolated inside its bucket as
/// Prometheus's `histogram_quantile` does; `None` before the first observation.
pub fn quantile(h: &Histogram, q: f64) -> Option<f64> {
    use prometheus::core::Metric as _;
    let metric = h.metric();
    let buckets = metric.get_histogram().get_bucket();
    let cumulative = buckets
        .iter()
        .map(|b| (b.upper_bound(), b.cumulative_count() as f64));
    quantile_of(cumulative, h.get_sample_count() as f64, q)
}

/// The `q`-quantile of `total` observations given as `(upper bound, cumulative count)` in
/// ascending bounds, interpolated inside its bucket as Prometheus's `histogram_quantile` does;
/// `None` without observations. Past the last finite bound, that bound is the best that can be
/// said.
pub fn quantile_of(
    cumulative: impl IntoIterator<Item = (f64, f64)>,
    total: f64,
    q: f64,
) -> Option<f64> {
    if total <= 0.0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (upper, count) in cumulative {
        if count >= rank {
            if upper.is_infinite() {
                return Some(lower);
            }
            let inside = (count - below).max(1.0);
            return Some(lower + (upper - lower) * ((rank - below) / inside));
        }
        (lower, below) = (upper, count);
    }
    Some(lower)
}

impl Metrics {
    /// Tasks waiting for an agent in one priority class, as the orchestrator last set it.
    pub fn queue_depth(&self, priority: crate::domain::task::Priority) -> i64 {
        self.task_queue_depth
            .with_label_values(&[priority.as_str()])
            .get()
    }

    /// Times one message of an actor of `kind` until the guard is dropped.
    pub fn processing(&self, kind: &str) -> prometheus::HistogramTimer {
        self.actor_processing
            .with_label_values(&[kind])
            .start_timer()
    }

    pub fn new() -> Result<Self, prometheus::Error> {
        let r = Registry::new();
        let opts = |name: &str, help: &str| Opts::new(name, help);
        let hist =
            |name: &str, help: &str| HistogramOpts::new(name, help).buckets(seconds_buckets());
        Ok(Self {
            http_requests: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_http_requests_total",
                        "HTTP requests answered, by route pattern, method and status."
                    ),
                    &["method", "route", "status"]
                )
            ),
            http_duration: register!(
                r,
                HistogramVec::new(
                    hist(
                        "hive_http_request_duration_seconds",
                        "Time to answer an HTTP request, by route pattern and method."
                    ),
                    &["method", "route"]
                )
            ),
            supervisor_restarts: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_supervisor_restarts_total",
                        "Children restarted, by supervisor and the kind of exit that caused it."
                    ),
                    &["supervisor", "reason"]
                )
            ),
            supervisor_exits: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_supervisor_child_exits_total",
                        "Child exits seen by supervisors, by supervisor and exit kind."
                    ),
                    &["supervisor", "reason"]
                )
            ),
            supervisor_gave_up: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_supervisor_gave_up_total",
                        "Supervisors that exceeded their restart intensity and shut down, by supervisor."
                    ),
                    &["supervisor"]
                )
            ),
            tasks_submitted: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_tasks_submitted_total",
                        "Tasks accepted (answered 202), by priority."
                    ),
                    &["priority"]
                )
            ),
            tasks_finished: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_tasks_finished_total",
                        "Tasks that reached a final status, by status."
                    ),
                    &["status"]
                )
            ),
            task_retries: register!(
                r,
                IntCounter::new(
                    "hive_task_retries_total",
                    "Attempts that failed and were scheduled again."
                )
            ),
            addressed_queued: register!(
                r,
                IntGauge::new(
                    "hive_addressed_tasks_queued",
                    "Unfinished tasks addressed to one agent (queued, waiting to retry, running), over all agents, each agent bounded by max_agent_queue."
                )
            ),
            config_version: register!(
                r,
                IntGauge::new(
                    "hive_config_version",
                    "The version of the live settings this node applied (0: as started, never changed)."
                )
            ),
            process_starts: register!(
                r,
                IntCounter::new(
                    "hive_process_starts_total",
                    "Programs of process agents started."
                )
            ),
            process_exits: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_process_exits_total",
                        "Programs of process agents that ended, by reason: exited (by itself), killed (a broken protocol, a cancel or a timeout), stopped (at a shutdown), not_started."
                    ),
                    &["reason"]
                )
            ),
            task_backlog: register!(
                r,
                IntGauge::new(
                    "hive_task_backlog",
                    "Unfinished tasks this node holds (queued, waiting to retry, running, being accepted), against max_queued_tasks."
                )
            ),
            task_queue_depth: register!(
                r,
                IntGaugeVec::new(
                    opts(
                        "hive_task_queue_depth",
                        "Tasks waiting for an agent, by priority."
                    ),
                    &["priority"]
                )
            ),
            task_slo_missed: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_task_slo_missed_total",
                        "Attempts dispatched after waiting longer than their class's queue-wait target."
                    ),
                    &["priority"]
                )
            ),
            task_queue_wait: register!(
                r,
                HistogramVec::new(
                    hist(
                        "hive_task_queue_wait_seconds",
                        "Time from acceptance (or retry) to dispatch, by priority."
                    ),
                    &["priority"]
                )
            ),
            task_run: register!(
                r,
                Histogram::with_opts(hist(
                    "hive_task_run_duration_seconds",
                    "Time from dispatch to the result of one attempt."
                ))
            ),
            agents: register!(
                r,
                IntGaugeVec::new(opts("hive_agents", "Agents, by status."), &["status"])
            ),
            mailbox_depth: register!(
                r,
                IntGaugeVec::new(
                    opts(
                        "hive_mailbox_depth_messages",
                        "Messages waiting in the mailboxes of one actor kind."
                    ),
                    &["kind"]
                )
            ),
            mailbox_capacity: register!(
                r,
                IntGaugeVec::new(
                    opts(
                        "hive_mailbox_capacity_messages",
                        "Mailbox capacity of one actor of the kind."
                    ),
                    &["kind"]
                )
            ),
            mailbox_actors: register!(
                r,
                IntGaugeVec::new(
                    opts("hive_mailbox_actors", "Running actors of the kind."),
                    &["kind"]
                )
            ),
            mailbox_handled: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_mailbox_handled_total",
                        "Messages handled by actors of the kind."
                    ),
                    &["kind"]
                )
            ),
            mailbox_refusals: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_mailbox_refusals_total",
                        "Messages refused because a mailbox of the kind was full."
                    ),
                    &["kind"]
                )
            ),
            store_batch_size: register!(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "hive_store_batch_writes",
                        "Writes committed together in one transaction."
                    )
                    .buckets(exponential_buckets(1.0, 2.0, 12)?)
                )
            ),
            store_commit_seconds: register!(
                r,
                Histogram::with_opts(hist(
                    "hive_store_commit_duration_seconds",
                    "Time to commit one batch of writes."
                ))
            ),
            submit_phases: {
                // Finer than `seconds_buckets`: a submission's phases are tens of µs to tens of
                // ms, and their 99th percentiles are what the buckets must tell apart.
                let phases = register!(
                    r,
                    HistogramVec::new(
                        HistogramOpts::new(
                            "hive_submit_phase_seconds",
                            "Time one task submission spent in each phase of its way from the \
                             HTTP handler to its 202: to_orchestrator, to_store, batch_wait, \
                             commit, answer, reply."
                        )
                        .buckets(exponential_buckets(0.000_025, 1.5, 24)?),
                        &["phase"]
                    )
                );
                submission::PhaseHistograms::new(|p| phases.with_label_values(&[p.as_str()]))
            },
            store_pruned: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_store_pruned_rows_total",
                        "Rows deleted by retention, by table."
                    ),
                    &["table"]
                )
            ),
            resident_memory: register!(
                r,
                IntGauge::new(
                    "hive_process_resident_memory_bytes",
                    "Resident memory of the server process."
                )
            ),
            allocator: register!(
                r,
                IntGaugeVec::new(
                    opts(
                        "hive_allocator_bytes",
                        "jemalloc's heap figures: allocated, active, resident and retained bytes."
                    ),
                    &["kind"]
                )
            ),
            sqlite_heap: register!(
                r,
                IntGauge::new(
                    "hive_sqlite_heap_bytes",
                    "SQLite's own heap (page caches, statements), outside jemalloc's figures."
                )
            ),
            actor_processing: register!(
                r,
                HistogramVec::new(
                    hist(
                        "hive_actor_processing_seconds",
                        "Time an actor spends on one message, by actor kind (an agent's is its task's run)."
                    ),
                    &["kind"]
                )
            ),
            forecast: register!(
                r,
                GaugeVec::new(
                    opts(
                        "hive_forecast_value",
                        "The monitor's forecast of a series 30 samples ahead (bound: value, lower, upper of the 80 % interval), in the series' unit."
                    ),
                    &["series", "bound"]
                )
            ),
            forecast_breach: register!(
                r,
                GaugeVec::new(
                    opts(
                        "hive_forecast_time_to_breach_seconds",
                        "Seconds until a series is forecast to reach its limit; absent when not within five minutes."
                    ),
                    &["series"]
                )
            ),
            anomalies: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_forecast_anomalies_total",
                        "Samples the monitor's detector flagged as anomalous, by series."
                    ),
                    &["series"]
                )
            ),
            monitor_sample_seconds: register!(
                r,
                Histogram::with_opts(hist(
                    "hive_forecast_sample_duration_seconds",
                    "The monitor's time for one sample: reading, detecting and forecasting."
                ))
            ),
            monitor_history_bytes: register!(
                r,
                IntGauge::with_opts(opts(
                    "hive_forecast_history_bytes",
                    "Memory the monitor's bounded history takes."
                ))
            ),
            sse_clients: register!(
                r,
                IntGauge::new("hive_sse_clients", "Open server-sent-event streams.")
            ),
            rate_limited: register!(
                r,
                IntCounter::new(
                    "hive_http_rate_limited_total",
                    "Requests refused with 429 by a token's or an address's rate limit."
                )
            ),
            audit_dropped: register!(
                r,
                IntCounter::new(
                    "hive_audit_dropped_total",
                    "Audit entries dropped because the buffer waiting for the store was full."
                )
            ),
            plugin_dropped: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_plugin_insights_dropped_total",
                        "Monitor samples a plugin missed because its mailbox was full."
                    ),
                    &["plugin"]
                )
            ),
            shedding_level: register!(
                r,
                IntGauge::new(
                    "hive_shedding_level",
                    "Submissions turned away early: 0 none, 1 low priority, 2 low and normal."
                )
            ),
            tasks_shed: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_tasks_shed_total",
                        "Submissions refused with 503 because a mailbox was forecast to fill."
                    ),
                    &["priority"]
                )
            ),
            alerts: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_alerts_total",
                        "Alerts raised, by kind (breach_forecast, anomaly)."
                    ),
                    &["kind"]
                )
            ),
            alert_deliveries: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_alert_deliveries_total",
                        "Alert webhook calls, by outcome (delivered, failed)."
                    ),
                    &["outcome"]
                )
            ),
            autoscaler_changes: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_autoscaler_changes_total",
                        "Agents the autoscaler added or removed, by pool and direction (up, down)."
                    ),
                    &["pool", "direction"]
                )
            ),
            autoscaler_agents: register!(
                r,
                IntGaugeVec::new(
                    opts(
                        "hive_autoscaler_agents",
                        "Agents in a pool the autoscaler sizes, as it last counted them."
                    ),
                    &["pool"]
                )
            ),
            answers_timed_out: register!(
                r,
                IntCounter::new(
                    "hive_http_answers_timed_out_total",
                    "Requests answered 503 because the server's own answer took longer than answer_timeout_ms."
                )
            ),
            cluster_lease_held: register!(
                r,
                IntGauge::new(
                    "hive_cluster_lease_held",
                    "1 while this node holds its lease in the database and may start work (nodes of a cluster)."
                )
            ),
            store_full: register!(
                r,
                IntGauge::new(
                    "hive_store_storage_full",
                    "1 while the database's volume is full: new work is refused, state changes wait."
                )
            ),
            store_up: register!(
                r,
                IntGauge::new(
                    "hive_store_up",
                    "1 while the store's writer is connected to its database, else 0 (new tasks \
                     are refused, state changes wait)."
                )
            ),
            cluster_redis_up: register!(
                r,
                IntGauge::new(
                    "hive_cluster_redis_up",
                    "1 while this node reaches Redis (tasks go through the streams), else 0."
                )
            ),
            cluster_tasks: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_cluster_tasks_total",
                        "Tasks by what this node did with them: published, taken (from a stream), \
                         skipped (held elsewhere or ended), held_locally (Redis down), \
                         taken_over (from a lost node), released, claimed (addressed to an \
                         agent here, committed on another node)."
                    ),
                    &["action"]
                )
            ),
            cluster_events: register!(
                r,
                IntCounterVec::new(
                    opts(
                        "hive_cluster_events_total",
                        "Events relayed between nodes, by direction (out, in, dropped)."
                    ),
                    &["direction"]
                )
            ),
            registry: r,
        })
        .inspect(|m| {
            // Each reason is a series from the start, at zero, so a dashboard finds it before
            // the first program ends that way.
            for reason in ["exited", "killed", "stopped", "not_started"] {
                m.process_exits.with_label_values(&[reason]);
            }
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod quantile_tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let h = Histogram::with_opts(HistogramOpts::new("q", "q").buckets(vec![1.0, 2.0, 4.0]))
            .unwrap();
        assert_eq!(quantile(&h, 0.5), None);
        for v in [0.5, 1.5, 1.5, 3.0] {
            h.observe(v);
        }
        // Ranks: 1 in (0,1], 3 in (1,2], 4 in (2,4].
        assert_eq!(quantile(&h, 0.25), Some(1.0));
        assert_eq!(quantile(&h, 0.5), Some(1.5));
        assert_eq!(quantile(&h, 1.0), Some(4.0));
    }
}
