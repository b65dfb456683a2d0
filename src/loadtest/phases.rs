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

    fn quantile(&self, q: f64) -> Option<f64> {
        crate::metrics::quantile_of(self.bounds.iter().copied(), self.count, q)
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

    /// `/metrics` text: the commit phase's cumulative counts at 1 ms, 2 ms and +Inf with their
    /// sum in seconds, the batches' at 1, 2 and +Inf writes with their sum, and a reply phase
    /// that is the same in every snapshot.
    fn exposition(commit: [u64; 3], commit_sum: f64, batch: [u64; 3], batch_sum: u64) -> String {
        let mut text = String::new();
        let histogram = |text: &mut String,
                         name: &str,
                         label: &str,
                         les: [&str; 3],
                         counts: [u64; 3],
                         sum: String| {
            let sep = if label.is_empty() { "" } else { "," };
            for (le, n) in les.iter().zip(counts) {
                text.push_str(&format!("{name}_bucket{{{label}{sep}le=\"{le}\"}} {n}\n"));
            }
            let labels = if label.is_empty() {
                String::new()
            } else {
                format!("{{{label}}}")
            };
            text.push_str(&format!(
                "{name}_sum{labels} {sum}\n{name}_count{labels} {}\n",
                counts[2]
            ));
        };
        let seconds = ["0.001", "0.002", "+Inf"];
        histogram(
            &mut text,
            PHASES,
            "phase=\"commit\"",
            seconds,
            commit,
            commit_sum.to_string(),
        );
        histogram(
            &mut text,
            PHASES,
            "phase=\"reply\"",
            seconds,
            [7, 7, 7],
            "0.001".into(),
        );
        histogram(
            &mut text,
            BATCH,
            "",
            ["1", "2", "+Inf"],
            batch,
            batch_sum.to_string(),
        );
        text
    }

    #[test]
    fn the_runs_own_observations_are_told_apart_from_what_came_before() {
        let before = exposition([1, 1, 1], 0.0005, [1, 1, 1], 1);
        let after = exposition([51, 101, 101], 0.1005, [1, 5, 11], 41);
        let run = Snapshot::of(&before).until(&Snapshot::of(&after));
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
