//! What the server's own histograms say about a run's submissions: where each `POST
//! /api/v1/tasks` spent its time (`hive_submit_phase_seconds`), how many writes each commit
//! carried (`hive_store_batch_writes`) and how long the commits took
//! (`hive_store_commit_duration_seconds`). Read from `/metrics` before and after the load, so
//! the figures are the run's own and not the server's whole life.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::target::Target;
use crate::metrics::Phase;

const PHASES: &str = "hive_submit_phase_seconds";
const BATCH: &str = "hive_store_batch_writes";
const COMMIT: &str = "hive_store_commit_duration_seconds";

/// One histogram as `/metrics` shows it: cumulative counts by upper bound, the sum and the count.
#[derive(Debug, Clone, Default, PartialEq)]
struct Buckets {
    /// `(le, cumulative count)`, in the order of the text (ascending bounds, `+Inf` last).
    bounds: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Buckets {
    /// The histogram `name` whose labels include `label` (such as `phase="commit"`; empty for
    /// any), from the text of `/metrics`.
    fn parse(text: &str, name: &str, label: &str) -> Buckets {
        let mut buckets = Buckets::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            let (series, value) = match rest.rsplit_once(' ') {
                Some((series, value)) => (series, value.parse::<f64>().unwrap_or(0.0)),
                None => continue,
            };
            if !label.is_empty() && !series.contains(label) {
                continue;
            }
            if let Some(labels) = series.strip_prefix("_bucket{") {
                let le = labels
                    .split("le=\"")
                    .nth(1)
                    .and_then(|v| v.split('"').next())
                    .map(|v| v.parse::<f64>().unwrap_or(f64::INFINITY));
                if let Some(le) = le {
                    buckets.bounds.push((le, value));
                }
            } else if series.starts_with("_sum") {
                buckets.sum = value;
            } else if series.starts_with("_count") {
                buckets.count = value;
            }
        }
        buckets
    }

    /// What was observed between `earlier` and `self`.
    fn since(&self, earlier: &Buckets) -> Buckets {
        let before = |i: usize| earlier.bounds.get(i).map_or(0.0, |b| b.1);
        Buckets {
            bounds: self
                .bounds
                .iter()
                .enumerate()
                .map(|(i, (le, n))| (*le, (n - before(i)).max(0.0)))
                .collect(),
            sum: (self.sum - earlier.sum).max(0.0),
            count: (self.count - earlier.count).max(0.0),
        }
    }

    /// The `q`-quantile, interpolated inside its bucket as Prometheus's `histogram_quantile`
    /// does; `None` without observations.
    fn quantile(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(le, n) in &self.bounds {
            if n >= rank {
                if le.is_infinite() {
                    return Some(lower);
                }
                let inside = (n - below).max(1.0);
                return Some(lower + (le - lower) * ((rank - below) / inside));
            }
            (lower, below) = (le, n);
        }
        Some(lower)
    }

    fn summary(&self, scale: f64) -> Summary {
        Summary {
            count: self.count as u64,
            mean: if self.count > 0.0 {
                self.sum / self.count * scale
            } else {
                0.0
            },
            p50: self.quantile(0.5).unwrap_or(0.0) * scale,
            p99: self.quantile(0.99).unwrap_or(0.0) * scale,
        }
    }
}

/// A histogram's observations over the run, in the unit its field names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
}

/// The server's account of the run's submissions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Submissions {
    /// Milliseconds per phase, by the phase's name, in the order a submission goes through them.
    pub phases_ms: BTreeMap<String, Summary>,
    /// Writes per commit.
    pub batch_writes: Summary,
    /// Milliseconds per commit.
    pub commit_ms: Summary,
}

impl Submissions {
    /// Phases in a submission's order, for showing.
    pub fn in_order(&self) -> impl Iterator<Item = (&'static str, Summary)> + '_ {
        Phase::ALL
            .iter()
            .filter_map(|p| Some((p.as_str(), *self.phases_ms.get(p.as_str())?)))
    }
}

/// The three histograms at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    phases: Vec<(Phase, Buckets)>,
    batch: Buckets,
    commit: Buckets,
}

impl Snapshot {
    pub async fn read(target: &Target) -> anyhow::Result<Snapshot> {
        Ok(Snapshot::of(&target.metrics().await?))
    }

    fn of(text: &str) -> Snapshot {
        Snapshot {
            phases: Phase::ALL
                .iter()
                .map(|p| {
                    let label = format!("phase=\"{}\"", p.as_str());
                    (*p, Buckets::parse(text, PHASES, &label))
                })
                .collect(),
            batch: Buckets::parse(text, BATCH, ""),
            commit: Buckets::parse(text, COMMIT, ""),
        }
    }

    /// What happened between `self` and `later`.
    pub fn until(&self, later: &Snapshot) -> Submissions {
        let phases_ms = later
            .phases
            .iter()
            .zip(&self.phases)
            .map(|((phase, after), (_, before))| {
                (phase.as_str().to_owned(), after.since(before).summary(1e3))
            })
            .filter(|(_, s)| s.count > 0)
            .collect();
        Submissions {
            phases_ms,
            batch_writes: later.batch.since(&self.batch).summary(1.0),
            commit_ms: later.commit.since(&self.commit).summary(1e3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
hive_submit_phase_seconds_bucket{phase=\"commit\",le=\"0.001\"} 1
hive_submit_phase_seconds_bucket{phase=\"commit\",le=\"0.002\"} 1
hive_submit_phase_seconds_bucket{phase=\"commit\",le=\"+Inf\"} 1
hive_submit_phase_seconds_sum{phase=\"commit\"} 0.0005
hive_submit_phase_seconds_count{phase=\"commit\"} 1
hive_submit_phase_seconds_bucket{phase=\"reply\",le=\"0.001\"} 7
hive_submit_phase_seconds_bucket{phase=\"reply\",le=\"0.002\"} 7
hive_submit_phase_seconds_bucket{phase=\"reply\",le=\"+Inf\"} 7
hive_submit_phase_seconds_sum{phase=\"reply\"} 0.001
hive_submit_phase_seconds_count{phase=\"reply\"} 7
hive_store_batch_writes_bucket{le=\"1\"} 1
hive_store_batch_writes_bucket{le=\"2\"} 1
hive_store_batch_writes_bucket{le=\"+Inf\"} 1
hive_store_batch_writes_sum 1
hive_store_batch_writes_count 1
";

    const AFTER: &str = "\
hive_submit_phase_seconds_bucket{phase=\"commit\",le=\"0.001\"} 51
hive_submit_phase_seconds_bucket{phase=\"commit\",le=\"0.002\"} 101
hive_submit_phase_seconds_bucket{phase=\"commit\",le=\"+Inf\"} 101
hive_submit_phase_seconds_sum{phase=\"commit\"} 0.1005
hive_submit_phase_seconds_count{phase=\"commit\"} 101
hive_submit_phase_seconds_bucket{phase=\"reply\",le=\"0.001\"} 7
hive_submit_phase_seconds_bucket{phase=\"reply\",le=\"0.002\"} 7
hive_submit_phase_seconds_bucket{phase=\"reply\",le=\"+Inf\"} 7
hive_submit_phase_seconds_sum{phase=\"reply\"} 0.001
hive_submit_phase_seconds_count{phase=\"reply\"} 7
hive_store_batch_writes_bucket{le=\"1\"} 1
hive_store_batch_writes_bucket{le=\"2\"} 5
hive_store_batch_writes_bucket{le=\"+Inf\"} 11
hive_store_batch_writes_sum 41
hive_store_batch_writes_count 11
";

    #[test]
    fn the_runs_own_observations_are_told_apart_from_what_came_before() {
        let run = Snapshot::of(BEFORE).until(&Snapshot::of(AFTER));
        let commit = run.phases_ms["commit"];
        assert_eq!(commit.count, 100);
        assert!((commit.mean - 1.0).abs() < 1e-9, "{commit:?}");
        // Half the run's 100 commits ended under 1 ms, half between 1 and 2 ms.
        assert!((commit.p50 - 1.0).abs() < 1e-9, "{commit:?}");
        assert!((commit.p99 - 1.98).abs() < 1e-9, "{commit:?}");
        // A phase the run did not reach is left out rather than shown as zeros.
        assert!(!run.phases_ms.contains_key("reply"), "{run:?}");
        // Batches: 10 in the run, 40 writes; one of them beyond the last finite bound.
        assert_eq!(run.batch_writes.count, 10);
        assert!((run.batch_writes.mean - 4.0).abs() < 1e-9);
        assert_eq!(
            run.batch_writes.p99, 2.0,
            "past the last bound, its bound is said"
        );
        let order: Vec<_> = run.in_order().map(|(p, _)| p).collect();
        assert_eq!(order, ["commit"]);
    }
}
