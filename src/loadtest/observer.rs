//! What the load tester watches besides its own requests: each task's end, seen on the server's
//! event stream (submit → final latency), and the server's memory and restarts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::Notify;

use super::latency::Latency;
use super::report::MonitorCost;
use super::target::{metric_sum, Target};

/// Final task states by name, as the server's events name them.
const FINAL: [&str; 4] = ["succeeded", "failed", "dead", "cancelled"];

/// Ends kept while their submission's answer is on its way. On a server that other clients use
/// too, ends of their tasks (of the same role) would pile up here; past this many the oldest
/// are forgotten, which can only cost the figure of a task whose answer was that late.
const EARLY_LIMIT: usize = 65_536;

/// Tasks submitted and not yet seen to end, and what the ended ones did.
#[derive(Default)]
struct Book {
    /// Submitted, keyed by id: when the submission was planned (or sent, in a closed loop).
    open: HashMap<String, Instant>,
    /// Ends seen before the submission's answer arrived (a fast task can end first).
    early: HashMap<String, (Instant, &'static str)>,
    latency: Latency,
    finals: HashMap<&'static str, u64>,
    /// Events the server dropped for this stream because it fell behind.
    missed_events: u64,
}

impl Book {
    fn finish(&mut self, submitted: Instant, ended: Instant, status: &'static str) {
        self.latency
            .record(ended.saturating_duration_since(submitted));
        *self.finals.entry(status).or_default() += 1;
    }
}

/// The end of every submitted task, from `GET /api/v1/events`.
#[derive(Clone, Default)]
pub struct TaskWatch {
    /// Only tasks of this role are the run's own.
    role: Arc<str>,
    book: Arc<Mutex<Book>>,
    /// Told whenever the last open task ends.
    all_ended: Arc<Notify>,
}

/// What the task watch saw, for the report.
pub struct TaskEnds {
    pub latency: Latency,
    pub finals: HashMap<&'static str, u64>,
    pub unfinished: u64,
    pub missed_events: u64,
}

impl TaskWatch {
    /// Subscribe to the server's events; once this returns, no task end is missed (short of
    /// the server dropping events for a slow reader, which is counted).
    pub async fn start(target: &Target, role: &str) -> anyhow::Result<TaskWatch> {
        let watch = TaskWatch {
            role: role.into(),
            ..TaskWatch::default()
        };
        let reader = watch.clone();
        target
            .events("", move |kind, data| reader.on_event(kind, data))
            .await
            .context("opening the event stream")?;
        Ok(watch)
    }

    fn on_event(&self, kind: &str, data: &str) {
        let now = Instant::now();
        if kind == "lagged" {
            let missed = serde_json::from_str::<Value>(data)
                .ok()
                .and_then(|v| v["missed"].as_u64())
                .unwrap_or(0);
            self.book.lock().missed_events += missed;
            return;
        }
        let Some(status) = kind
            .strip_prefix("task.")
            .and_then(|s| FINAL.into_iter().find(|f| *f == s))
        else {
            return;
        };
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return;
        };
        // The stream's data is the whole event; the task is its `data`.
        let task = &event["data"];
        let Some(id) = task["id"].as_str() else {
            return;
        };
        if task["role"].as_str() != Some(&*self.role) {
            return;
        }
        let mut book = self.book.lock();
        match book.open.remove(id) {
            Some(submitted) => {
                book.finish(submitted, now, status);
                if book.open.is_empty() {
                    self.all_ended.notify_waiters();
                }
            }
            None => {
                if book.early.len() >= EARLY_LIMIT {
                    book.early.clear();
                }
                book.early.insert(id.to_owned(), (now, status));
            }
        }
    }

    /// A task was accepted with `id`; its latency counts from `submitted`.
    pub fn submitted(&self, id: String, submitted: Instant) {
        let mut book = self.book.lock();
        match book.early.remove(&id) {
            Some((ended, status)) => book.finish(submitted, ended, status),
            None => {
                book.open.insert(id, submitted);
            }
        }
    }

    /// Wait up to `limit` for every submitted task to end, then answer what was seen.
    pub async fn wait_and_take(&self, limit: Duration) -> TaskEnds {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let notified = self.all_ended.notified();
                if self.book.lock().open.is_empty() {
                    return;
                }
                notified.await;
            }
        })
        .await;
        let mut book = self.book.lock();
        TaskEnds {
            latency: std::mem::take(&mut book.latency),
            finals: std::mem::take(&mut book.finals),
            unfinished: book.open.len() as u64,
            missed_events: book.missed_events,
        }
    }
}

/// The server's memory over the run, sampled from `GET /api/v1/system/status` once a second.
#[derive(Clone, Default)]
pub struct MemoryWatch {
    samples: Arc<Mutex<Vec<(f64, u64)>>>,
}

/// How often the server's memory is read: the server's own sample is refreshed once a second.
const MEMORY_EVERY: Duration = Duration::from_secs(1);

impl MemoryWatch {
    /// Sample until the returned handle is dropped.
    pub fn start(target: &Target, started: Instant) -> (MemoryWatch, tokio::task::JoinHandle<()>) {
        let watch = MemoryWatch::default();
        let (samples, client, url) = (
            watch.samples.clone(),
            target.client.clone(),
            target.url("/api/v1/system/status"),
        );
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(MEMORY_EVERY);
            loop {
                ticks.tick().await;
                let Ok(response) = client.get(&url).send().await else {
                    continue;
                };
                if let Ok(status) = response.json::<Value>().await {
                    if let Some(rss) = status["memory"]["rss_bytes"].as_u64() {
                        samples.lock().push((started.elapsed().as_secs_f64(), rss));
                    }
                }
            }
        });
        (watch, task)
    }

    pub fn samples(&self) -> Vec<(f64, u64)> {
        self.samples.lock().clone()
    }
}

/// The server's RSS now, from its status page.
pub async fn rss(target: &Target) -> anyhow::Result<u64> {
    let status = target.get_json("/api/v1/system/status").await?;
    status["memory"]["rss_bytes"]
        .as_u64()
        .context("the status page has no memory.rss_bytes")
}

/// Restarts counted by every supervisor since the server started.
pub async fn restarts(target: &Target) -> anyhow::Result<u64> {
    let tree = target.get_json("/api/v1/supervision?children=0").await?;
    Ok(tree["supervisors"]
        .as_array()
        .map(|all| all.iter().filter_map(|s| s["restarts"].as_u64()).sum())
        .unwrap_or(0))
}

/// The monitor's time spent sampling so far, from its own histogram: total seconds and samples.
#[derive(Debug, Clone, Copy)]
pub struct MonitorTime {
    at: Instant,
    seconds: f64,
    samples: f64,
}

const SAMPLE_TIME: &str = "hive_forecast_sample_duration_seconds";

impl MonitorTime {
    pub async fn read(target: &Target) -> anyhow::Result<MonitorTime> {
        let metrics = target.metrics().await?;
        Ok(MonitorTime {
            at: Instant::now(),
            seconds: metric_sum(&metrics, &format!("{SAMPLE_TIME}_sum")),
            samples: metric_sum(&metrics, &format!("{SAMPLE_TIME}_count")),
        })
    }

    /// What the monitor cost from `self` to `later`.
    pub fn until(&self, later: &MonitorTime) -> MonitorCost {
        let seconds = (later.seconds - self.seconds).max(0.0);
        let samples = (later.samples - self.samples).max(0.0);
        let wall = later.at.saturating_duration_since(self.at).as_secs_f64();
        MonitorCost {
            samples: samples as u64,
            mean_sample_ms: if samples > 0.0 {
                seconds / samples * 1e3
            } else {
                0.0
            },
            share_of_core: if wall > 0.0 { seconds / wall } else { 0.0 },
        }
    }
}

/// The least-squares slope of `samples` (seconds, bytes), in bytes per hour: how fast memory
/// grows under a steady load. Fewer than two samples have no slope.
pub fn slope_per_hour(samples: &[(f64, u64)]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let n = samples.len() as f64;
    let mean_t = samples.iter().map(|(t, _)| t).sum::<f64>() / n;
    let mean_b = samples.iter().map(|(_, b)| *b as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (t, b) in samples {
        num += (t - mean_t) * (*b as f64 - mean_b);
        den += (t - mean_t).powi(2);
    }
    (den > 0.0).then(|| num / den * 3600.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_of_a_line_is_its_rate_per_hour() {
        let growing: Vec<(f64, u64)> = (0..10).map(|s| (s as f64, 1000 + 2 * s)).collect();
        let slope = slope_per_hour(&growing).unwrap();
        assert!((slope - 7200.0).abs() < 1e-6, "{slope}");
        let flat: Vec<(f64, u64)> = (0..10).map(|s| (s as f64, 5000)).collect();
        assert_eq!(slope_per_hour(&flat), Some(0.0));
        assert_eq!(slope_per_hour(&flat[..1]), None);
    }

    #[test]
    fn the_monitors_cost_is_its_sampling_time_over_the_wall_time() {
        let at = Instant::now();
        let before = MonitorTime {
            at,
            seconds: 0.5,
            samples: 10.0,
        };
        let after = MonitorTime {
            at: at + Duration::from_secs(60),
            seconds: 0.8,
            samples: 70.0,
        };
        let cost = before.until(&after);
        assert_eq!(cost.samples, 60);
        assert!((cost.mean_sample_ms - 5.0).abs() < 1e-9, "{cost:?}");
        assert!((cost.share_of_core - 0.005).abs() < 1e-9, "{cost:?}");
        let none = after.until(&after);
        assert_eq!(
            (none.samples, none.mean_sample_ms, none.share_of_core),
            (0, 0.0, 0.0)
        );
    }

    #[test]
    fn an_end_seen_before_the_answer_still_counts() {
        let watch = TaskWatch {
            role: "load".into(),
            ..TaskWatch::default()
        };
        let submitted = Instant::now();
        watch.on_event(
            "task.succeeded",
            r#"{"kind":"k","data":{"id":"a","role":"load"}}"#,
        );
        watch.on_event(
            "task.succeeded",
            r#"{"kind":"k","data":{"id":"x","role":"other"}}"#,
        );
        watch.on_event(
            "task.queued",
            r#"{"kind":"k","data":{"id":"b","role":"load"}}"#,
        );
        watch.submitted("a".into(), submitted);
        watch.submitted("b".into(), submitted);
        watch.on_event(
            "task.dead",
            r#"{"kind":"k","data":{"id":"b","role":"load"}}"#,
        );
        watch.on_event("lagged", r#"{"missed":3}"#);
        let book = watch.book.lock();
        assert_eq!(book.finals.get("succeeded"), Some(&1));
        assert_eq!(book.finals.get("dead"), Some(&1));
        assert!(
            book.open.is_empty() && book.early.is_empty(),
            "other roles are not kept"
        );
        assert_eq!(book.missed_events, 3);
    }
}
