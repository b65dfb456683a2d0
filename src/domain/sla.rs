//! The SLA report: per priority class, queue-wait and run-time percentiles of the tasks that
//! finished in a window, and the share whose queue wait stayed within the class's target.

use serde::Serialize;
use utoipa::ToSchema;

use super::task::Priority;
use crate::config::SloTargets;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Percentiles {
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `sorted` (ascending, not empty).
    fn of(sorted: &[u64]) -> Self {
        let rank = |p: f64| {
            let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[i - 1]
        };
        Self {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ClassReport {
    pub priority: Priority,
    /// The class's queue-wait target.
    pub target_ms: u64,
    /// Tasks of the class that finished in the window after starting at least once.
    pub tasks: usize,
    /// Milliseconds from due to started; absent without tasks.
    pub queue_wait_ms: Option<Percentiles>,
    /// Milliseconds from started to finished.
    pub run_ms: Option<Percentiles>,
    /// Share (0 to 1) of the tasks whose queue wait met the target; absent without tasks.
    pub within_target: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SlaReport {
    pub window_s: u64,
    /// Most urgent class first.
    pub classes: Vec<ClassReport>,
}

/// `finished` holds (priority, queue wait ms, run ms) per task.
pub fn report(finished: &[(Priority, i64, i64)], targets: &SloTargets, window_s: u64) -> SlaReport {
    let classes = Priority::BY_URGENCY
        .into_iter()
        .map(|priority| {
            let target_ms = targets.of(priority);
            let mut waits: Vec<u64> = Vec::new();
            let mut runs: Vec<u64> = Vec::new();
            for &(p, wait, run) in finished {
                if p == priority {
                    waits.push(wait.max(0) as u64);
                    runs.push(run.max(0) as u64);
                }
            }
            waits.sort_unstable();
            runs.sort_unstable();
            let tasks = waits.len();
            let (queue_wait_ms, run_ms, within_target) = if tasks == 0 {
                (None, None, None)
            } else {
                let met = waits.iter().filter(|&&w| w <= target_ms).count();
                (
                    Some(Percentiles::of(&waits)),
                    Some(Percentiles::of(&runs)),
                    Some(met as f64 / tasks as f64),
                )
            };
            ClassReport {
                priority,
                target_ms,
                tasks,
                queue_wait_ms,
                run_ms,
                within_target,
            }
        })
        .collect();
    SlaReport { window_s, classes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_the_share_counts_waits_within_target() {
        // 100 normal tasks waiting 1..=100 ms and running 10× as long; target 95 ms.
        let rows: Vec<_> = (1..=100).map(|i| (Priority::Normal, i, i * 10)).collect();
        let targets = SloTargets {
            normal_ms: 95,
            ..SloTargets::default()
        };
        let report = report(&rows, &targets, 300);
        let normal = &report.classes[2];
        assert_eq!(normal.priority, Priority::Normal);
        assert_eq!(normal.tasks, 100);
        assert_eq!(
            normal.queue_wait_ms,
            Some(Percentiles {
                p50: 50,
                p95: 95,
                p99: 99
            })
        );
        assert_eq!(normal.run_ms.unwrap().p99, 990);
        assert_eq!(normal.within_target, Some(0.95));
        let critical = &report.classes[0];
        assert_eq!((critical.tasks, critical.within_target), (0, None));
    }

    #[test]
    fn one_task_is_every_percentile() {
        let report = report(&[(Priority::Low, 7, 3)], &SloTargets::default(), 60);
        let low = &report.classes[3];
        assert_eq!(
            low.queue_wait_ms,
            Some(Percentiles {
                p50: 7,
                p95: 7,
                p99: 7
            })
        );
        assert_eq!(low.within_target, Some(1.0));
    }
}
