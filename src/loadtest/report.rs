//! The report of a load run: one JSON object whose names scripts rely on (`--json`), or the same
//! figures as text for a person.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::latency::Percentiles;
use super::phases::Submissions;

/// The figures of one run. The field names are a contract: scripts and the README's table read
/// them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Agents spawned for the run.
    pub agents: usize,
    /// Length of the load phase.
    pub duration_s: f64,
    /// Requests answered per second of the load phase.
    pub requests_per_s: f64,
    /// Tasks that reached a final state per second, from the first submission to the last end.
    pub tasks_per_s: f64,
    /// Answers other than success by status code, and `transport` for no answer.
    pub errors: BTreeMap<String, u64>,
    /// Latency per endpoint (`"POST /api/v1/tasks"`).
    pub latency_ms: BTreeMap<String, Percentiles>,
    /// Submit → final state, as the server's event stream announced it.
    pub task_latency_ms: Percentiles,
    pub rss_bytes: Rss,
    /// Children restarted by their supervisors during the run.
    pub restarts: u64,
    pub tasks: TaskCounts,
    /// The planned rate (open loop), if any.
    pub target_rate: Option<f64>,
    /// Clients (closed loop) or the most requests in flight (open loop).
    pub concurrency: usize,
    /// Requests refused with 429 or 503 (backpressure and rate limits).
    pub refusals: u64,
    /// What the server's monitor cost while the load ran (absent from reports older than it).
    #[serde(default)]
    pub monitor: MonitorCost,
    /// Where the server says the run's submissions spent their time, its batch sizes and commit
    /// times (absent from reports older than it).
    #[serde(default)]
    pub submissions: Submissions,
}

/// The monitoring actor's own cost over a run, from its `hive_forecast_sample_duration_seconds`:
/// the wall time of its samples, an upper bound on the CPU they took.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct MonitorCost {
    pub samples: u64,
    pub mean_sample_ms: f64,
    /// Time spent sampling over the run's wall time: the share of one core the monitor took.
    pub share_of_core: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rss {
    pub before: u64,
    pub peak: u64,
    pub after: u64,
    /// Growth of a line fitted to the samples, in bytes per hour (a soak's figure).
    pub slope_per_hour: Option<f64>,
    /// The same, fitted to the samples after the first tenth of the run: caches and allocator
    /// arenas fill during warm-up and then stay, which is not growth.
    pub slope_per_hour_after_warmup: Option<f64>,
    /// Seconds into the run and bytes, at most [`MAX_SAMPLES`] evenly spread, for plotting.
    pub samples: Vec<(f64, u64)>,
}

/// Samples kept in a report: one a second over a minute, thinned out over an hour's soak.
pub const MAX_SAMPLES: usize = 360;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct TaskCounts {
    pub accepted: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub dead: u64,
    pub cancelled: u64,
    /// Accepted but not seen to end before the drain time ran out.
    pub unfinished: u64,
    /// Events the server dropped for the load tester's stream because it fell behind; tasks
    /// whose end was among them count as unfinished.
    pub missed_events: u64,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.target_rate {
            Some(rate) => format!(
                "open loop at {rate:.0} req/s, up to {} in flight",
                self.concurrency
            ),
            None => format!("closed loop, {} clients", self.concurrency),
        };
        writeln!(
            f,
            "{} agents, {:.1} s, {mode}",
            self.agents, self.duration_s
        )?;
        writeln!(
            f,
            "requests {:.0}/s, tasks {:.0}/s, refusals {}",
            self.requests_per_s, self.tasks_per_s, self.refusals
        )?;
        writeln!(
            f,
            "{:<32} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "p50", "p90", "p95", "p99", "max"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, p: &Percentiles| {
            writeln!(
                f,
                "{name:<32} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                p.p50, p.p90, p.p95, p.p99, p.max
            )
        };
        for (endpoint, p) in &self.latency_ms {
            row(f, endpoint, p)?;
        }
        row(f, "task submit → final", &self.task_latency_ms)?;
        let t = &self.tasks;
        writeln!(
            f,
            "tasks: {} accepted, {} succeeded, {} failed, {} dead, {} cancelled, {} unfinished",
            t.accepted, t.succeeded, t.failed, t.dead, t.cancelled, t.unfinished
        )?;
        if t.missed_events > 0 {
            writeln!(f, "events missed by the watcher: {}", t.missed_events)?;
        }
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        writeln!(
            f,
            "errors: {}",
            if errors.is_empty() {
                "none".to_owned()
            } else {
                errors.join(", ")
            }
        )?;
        let r = &self.rss_bytes;
        write!(
            f,
            "server RSS: before {:.1} MiB, peak {:.1} MiB, after {:.1} MiB",
            mib(r.before),
            mib(r.peak),
            mib(r.after)
        )?;
        if let Some(slope) = r.slope_per_hour {
            write!(f, ", slope {:+.2} MiB/h", slope / (1024.0 * 1024.0))?;
        }
        if let Some(slope) = r.slope_per_hour_after_warmup {
            write!(
                f,
                " ({:+.2} MiB/h after warm-up)",
                slope / (1024.0 * 1024.0)
            )?;
        }
        writeln!(f)?;
        writeln!(f, "restarts: {}", self.restarts)?;
        let m = &self.monitor;
        writeln!(
            f,
            "monitor: {} samples, {:.3} ms each, {:.3} % of one core",
            m.samples,
            m.mean_sample_ms,
            m.share_of_core * 100.0
        )?;
        let s = &self.submissions;
        if s.phases_ms.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "submission phases, by the server (ms)    mean       p50       p99"
        )?;
        for (phase, p) in s.in_order() {
            writeln!(
                f,
                "  {phase:<36} {:>8.3}  {:>8.3}  {:>8.3}",
                p.mean, p.p50, p.p99
            )?;
        }
        let (b, c) = (&s.batch_writes, &s.commit_ms);
        writeln!(
            f,
            "commits: {} ({:.1} writes each, p50 {:.0}, p99 {:.0}), {:.3} ms each (p50 {:.3}, p99 {:.3})",
            c.count, b.mean, b.p50, b.p99, c.mean, c.p50, c.p99
        )
    }
}
