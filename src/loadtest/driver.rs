//! Sending the load: task submissions and reads, on a fixed schedule (open loop) or back to back
//! from a number of clients (closed loop).
//!
//! Open loop, latency counts from each request's planned send time, not from when it was sent: a
//! server that stalls delays the requests queued behind the stall, and those delays are counted
//! (the coordinated-omission error of a load tester that waits for answers before sending).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::latency::{ByEndpoint, Latency};
use super::observer::TaskWatch;
use super::scenario::Scenario;
use super::target::Target;

pub const SUBMIT: &str = "POST /api/v1/tasks";
const READ_TASK: &str = "GET /api/v1/tasks/{id}";
const LIST_AGENTS: &str = "GET /api/v1/agents";
const STATUS: &str = "GET /api/v1/system/status";
const HEALTH: &str = "GET /health";

/// Counters the progress line reads while the load runs.
#[derive(Default)]
pub struct Live {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    /// Submission latencies since the progress line last took them.
    pub recent: Mutex<Latency>,
}

/// What the load phase sent and what came back.
#[derive(Default)]
pub struct Sent {
    pub latencies: ByEndpoint,
    /// Answers other than success, by status code (`"503"`), and `"transport"` for requests
    /// that got no answer.
    pub errors: BTreeMap<String, u64>,
    /// Tasks answered 202.
    pub accepted: u64,
    pub requests: u64,
    pub elapsed: Duration,
}

impl Sent {
    /// Refusals of a full server: the backpressure answers.
    pub fn refusals(&self) -> u64 {
        ["429", "503"]
            .iter()
            .filter_map(|s| self.errors.get(*s))
            .sum()
    }
}

/// Everything one request needs, shared by all requests of a run.
struct Shooter {
    client: reqwest::Client,
    base: String,
    scenario: Scenario,
    /// Told of every accepted task, when the run follows tasks to their end.
    watch: Option<TaskWatch>,
    live: Arc<Live>,
    sent: Mutex<Sent>,
    /// The newest accepted task, which task reads ask for.
    last_task: Mutex<Option<String>>,
    submitted: AtomicU64,
    /// Reads sent, which picks the next read's endpoint in turn.
    reads: AtomicU64,
}

impl Shooter {
    /// Request `n` is a read when the share of reads up to it says so: `reads = 0.2` makes every
    /// fifth request a read, evenly spread rather than drawn at random.
    fn is_read(&self, n: u64) -> bool {
        let share = self.scenario.reads;
        ((n + 1) as f64 * share).floor() > (n as f64 * share).floor()
    }

    async fn one(&self, n: u64, planned: Instant) {
        let (endpoint, request) = if self.is_read(n) {
            self.read(self.reads.fetch_add(1, Ordering::Relaxed))
        } else {
            let number = self.submitted.fetch_add(1, Ordering::Relaxed);
            let body = self.scenario.task_body(number);
            (
                SUBMIT,
                self.client
                    .post(format!("{}/api/v1/tasks", self.base))
                    .json(&body),
            )
        };
        let outcome = request.send().await;
        let latency = planned.elapsed();
        self.live.requests.fetch_add(1, Ordering::Relaxed);
        let error = match outcome {
            Err(_) => Some("transport".to_owned()),
            Ok(response) => {
                let status = response.status();
                if endpoint == SUBMIT && status.as_u16() == 202 {
                    match response.json::<Value>().await {
                        Ok(task) => match task["id"].as_str() {
                            Some(id) => {
                                if let Some(watch) = &self.watch {
                                    watch.submitted(id.to_owned(), planned);
                                }
                                *self.last_task.lock() = Some(id.to_owned());
                                None
                            }
                            None => Some("202 without an id".to_owned()),
                        },
                        Err(_) => Some("transport".to_owned()),
                    }
                } else {
                    // Read the body to its end so the connection is reused.
                    let _ = response.bytes().await;
                    (!status.is_success()).then(|| status.as_u16().to_string())
                }
            }
        };
        if endpoint == SUBMIT {
            self.live.recent.lock().record(latency);
        }
        let mut sent = self.sent.lock();
        sent.requests += 1;
        match error {
            Some(e) => {
                self.live.errors.fetch_add(1, Ordering::Relaxed);
                if e != "transport" {
                    sent.latencies.record(endpoint, latency);
                }
                *sent.errors.entry(e).or_default() += 1;
            }
            None => {
                sent.latencies.record(endpoint, latency);
                if endpoint == SUBMIT {
                    sent.accepted += 1;
                }
            }
        }
    }

    /// The reads take turns: a task, the agent list, the status page and the health check.
    fn read(&self, n: u64) -> (&'static str, reqwest::RequestBuilder) {
        let task = self.last_task.lock().clone();
        let (endpoint, path) = match (n % 4, task) {
            (0, Some(id)) => (READ_TASK, format!("/api/v1/tasks/{id}")),
            (1, _) => (
                LIST_AGENTS,
                format!("/api/v1/agents?role={}&limit=20", self.scenario.role),
            ),
            (2, _) => (STATUS, "/api/v1/system/status".to_owned()),
            _ => (HEALTH, "/health".to_owned()),
        };
        (endpoint, self.client.get(format!("{}{path}", self.base)))
    }
}

/// Run the scenario's load against `target`; accepted tasks are handed to `watch`, if given.
pub async fn drive(
    target: &Target,
    scenario: &Scenario,
    watch: Option<TaskWatch>,
    live: Arc<Live>,
) -> Sent {
    let shooter = Arc::new(Shooter {
        client: target.client.clone(),
        base: target.base.clone(),
        scenario: scenario.clone(),
        watch,
        live,
        sent: Mutex::new(Sent::default()),
        last_task: Mutex::new(None),
        submitted: AtomicU64::new(0),
        reads: AtomicU64::new(0),
    });
    let started = Instant::now();
    let mut running = JoinSet::new();
    match scenario.rate {
        Some(_) => {
            let slots = Arc::new(Semaphore::new(scenario.concurrency));
            let start = tokio::time::Instant::now();
            for (n, offset) in scenario.schedule().enumerate() {
                let planned = start + offset;
                tokio::time::sleep_until(planned).await;
                // A request without a free slot waits here, late; its lateness is counted.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let shooter = shooter.clone();
                running.spawn(async move {
                    let _slot = slot;
                    shooter.one(n as u64, planned.into_std()).await;
                });
                // Finished requests are collected as the run goes, so the set stays small.
                while running.try_join_next().is_some() {}
            }
        }
        None => {
            let deadline = started + scenario.duration;
            let next = Arc::new(AtomicU64::new(0));
            for _ in 0..scenario.concurrency {
                let (shooter, next) = (shooter.clone(), next.clone());
                running.spawn(async move {
                    while Instant::now() < deadline {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        shooter.one(n, Instant::now()).await;
                    }
                });
            }
        }
    }
    while running.join_next().await.is_some() {}
    let mut sent = std::mem::take(&mut *shooter.sent.lock());
    sent.elapsed = started.elapsed();
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_spread_evenly() {
        let shooter = |reads| Shooter {
            client: reqwest::Client::new(),
            base: String::new(),
            scenario: Scenario {
                reads,
                ..Scenario::default()
            },
            watch: None,
            live: Arc::default(),
            sent: Mutex::default(),
            last_task: Mutex::default(),
            submitted: AtomicU64::new(0),
            reads: AtomicU64::new(0),
        };
        let fifth = shooter(0.2);
        let reads: Vec<u64> = (0..20).filter(|n| fifth.is_read(*n)).collect();
        assert_eq!(reads, [4, 9, 14, 19]);
        let none = shooter(0.0);
        assert!((0..100).all(|n| !none.is_read(n)));
    }
}
