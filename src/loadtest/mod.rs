//! `hive loadtest`: load against a running server, or one it starts itself, measured from outside
//! the server's process, with a report as text or as one JSON object.
//!
//! # Layout
//! - [`scenario`] — what a run does (agents, task mix, rate or clients, duration, ramp); TOML.
//! - [`target`] — the server under load and the HTTP client.
//! - [`driver`] — sends the requests, open or closed loop, and records their latency.
//! - [`observer`] — each task's end from the event stream; the server's memory and restarts.
//! - [`latency`] — HDR histograms per endpoint.
//! - [`phases`] — the server's own account of the submissions: phases, batches, commits.
//! - [`report`] — the report and its text form.
//! - [`replay`] — `hive replay`: load traces that overload a server, the monitor's predictions
//!   scored, SLO violations with the plugins off and on.
//! - [`capacity`] — `--find-capacity`: steps the rate up until p95 crosses a limit.

pub mod capacity;
pub mod driver;
pub mod latency;
pub mod observer;
pub mod phases;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod target;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use driver::Live;
use latency::ByEndpoint;
use observer::{MemoryWatch, TaskWatch};
use report::{Report, Rss, TaskCounts};
use scenario::Scenario;
use target::Target;

/// The most agents one batch request may create (the server's default `max_batch_agents`).
const BATCH: usize = 10_000;
const SPAWN: &str = "POST /api/v1/agents/batch";

/// Spawn `count` agents of `role`, in batches; each batch's latency is recorded.
pub async fn spawn_agents(
    target: &Target,
    role: &str,
    count: usize,
    latencies: &mut ByEndpoint,
) -> anyhow::Result<()> {
    let mut left = count;
    while left > 0 {
        let n = left.min(BATCH);
        let sent = Instant::now();
        let response = target
            .client
            .post(target.url("/api/v1/agents/batch"))
            .json(&json!({"count": n, "template": {"role": role}}))
            .send()
            .await
            .context("spawning agents")?;
        let status = response.status();
        anyhow::ensure!(
            status.as_u16() == 201,
            "spawning {n} agents answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
        latencies.record(SPAWN, sent.elapsed());
        left -= n;
    }
    Ok(())
}

/// Run `scenario` against `target`: spawn its agents, send its load, wait for its tasks to end,
/// and report. `progress` draws a live line on standard error (hidden when that is not a
/// terminal).
pub async fn run(target: &Target, scenario: &Scenario, progress: bool) -> anyhow::Result<Report> {
    scenario.validate()?;
    let restarts_before = observer::restarts(target).await?;
    let rss_before = observer::rss(target).await?;
    let mut spawn_latency = ByEndpoint::default();
    spawn_agents(target, &scenario.role, scenario.agents, &mut spawn_latency).await?;

    let watch = TaskWatch::start(target, &scenario.role).await?;
    let monitor_before = observer::MonitorTime::read(target).await?;
    let server_before = phases::Snapshot::read(target).await?;
    let started = Instant::now();
    let (memory, sampler) = MemoryWatch::start(target, started);
    let live = Arc::new(Live::default());
    let bar = progress.then(|| progress_line(scenario, live.clone()));

    let mut sent = driver::drive(target, scenario, Some(watch.clone()), live).await;
    if let Some((bar, ticker)) = bar {
        ticker.abort();
        bar.finish_and_clear();
    }
    let ends = watch.wait_and_take(scenario.drain).await;
    let ended_at = started.elapsed();
    sampler.abort();
    let rss_after = observer::rss(target).await?;
    let restarts_after = observer::restarts(target).await?;
    let monitor = monitor_before.until(&observer::MonitorTime::read(target).await?);
    let submissions = server_before.until(&phases::Snapshot::read(target).await?);

    let mut samples = memory.samples();
    samples.push((started.elapsed().as_secs_f64(), rss_after));
    let peak = samples
        .iter()
        .map(|(_, b)| *b)
        .chain([rss_before, rss_after])
        .max()
        .unwrap_or(rss_after);
    sent.latencies.merge(&spawn_latency);
    let finals = |s: &str| ends.finals.get(s).copied().unwrap_or(0);
    let ended: u64 = ends.finals.values().sum();
    let refusals = sent.refusals();
    Ok(Report {
        agents: scenario.agents,
        duration_s: sent.elapsed.as_secs_f64(),
        requests_per_s: sent.requests as f64 / sent.elapsed.as_secs_f64().max(1e-9),
        tasks_per_s: ended as f64 / ended_at.as_secs_f64().max(1e-9),
        errors: sent.errors,
        latency_ms: sent.latencies.percentiles(),
        task_latency_ms: ends.latency.percentiles(),
        rss_bytes: Rss {
            before: rss_before,
            peak,
            after: rss_after,
            slope_per_hour: observer::slope_per_hour(&samples),
            slope_per_hour_after_warmup: observer::slope_per_hour(&samples[samples.len() / 10..]),
            samples: thin(&samples, report::MAX_SAMPLES),
        },
        restarts: restarts_after.saturating_sub(restarts_before),
        tasks: TaskCounts {
            accepted: sent.accepted,
            succeeded: finals("succeeded"),
            failed: finals("failed"),
            dead: finals("dead"),
            cancelled: finals("cancelled"),
            unfinished: ends.unfinished,
            missed_events: ends.missed_events,
        },
        target_rate: scenario.rate,
        concurrency: scenario.concurrency,
        refusals,
        monitor,
        submissions,
    })
}

/// At most `max` of `samples`, evenly spread, the last one kept.
fn thin(samples: &[(f64, u64)], max: usize) -> Vec<(f64, u64)> {
    let step = samples.len().div_ceil(max.max(1)).max(1);
    let mut kept: Vec<_> = samples.iter().copied().step_by(step).collect();
    if let (Some(last), Some(kept_last)) = (samples.last(), kept.last()) {
        if last != kept_last {
            kept.push(*last);
        }
    }
    kept
}

/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// A bar over the run's duration with the current rate, errors and submission p99.
fn progress_line(
    scenario: &Scenario,
    live: Arc<Live>,
) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::new(scenario.duration.as_millis() as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {percent:>3}% {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let shown = bar.clone();
    let started = Instant::now();
    let ticker = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PROGRESS_EVERY);
        let mut last = (Instant::now(), 0u64);
        loop {
            ticks.tick().await;
            let requests = live.requests.load(Ordering::Relaxed);
            let rate = (requests - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-9);
            last = (Instant::now(), requests);
            let p99 = std::mem::take(&mut *live.recent.lock()).quantile_ms(0.99);
            shown.set_position(started.elapsed().as_millis() as u64);
            shown.set_message(format!(
                "{rate:>7.0} req/s  errors {}  submit p99 {p99:.2} ms",
                live.errors.load(Ordering::Relaxed)
            ));
        }
    });
    (bar, ticker)
}
