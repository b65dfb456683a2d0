//! Load figures of the real server, measured from outside its process.
//!
//! `cargo bench --bench http_load` builds the release `hive` binary, starts it on a free port with
//! a fresh data directory, and reports: RSS idle, RSS and spawn time for 1,000 and 10,000 agents
//! (`POST /api/v1/agents/batch`), and tasks/s with latency percentiles of `POST /api/v1/tasks`
//! (`echo` tasks, each answered 202 only after its commit) for 1 and 64 concurrent clients.
//! Between the two spawns it runs 20,000 `echo` tasks end to end on 1,000 agents (64 clients),
//! timed until the last one is committed as succeeded. Last, 64 clients send at a fixed total
//! rate (5,000/s on SQLite, 3,000/s on PostgreSQL) to measure latency at that load.
//! `HIVE_BENCH_SECONDS` sets each load phase's length (default 10); `HIVE_BENCH_DATABASE_URL`
//! (`postgres://…`, an empty database or schema) runs the server on PostgreSQL instead of SQLite;
//! `HIVE_BENCH_BINARY` measures another build of the server (an earlier commit's, back to back).

// A benchmark run stops at the first thing that goes wrong, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hive::loadtest::target::Target;
use serde_json::{json, Value};

/// Resident memory of `pid` in bytes, read from /proc as an operator would.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn spawn_agents(client: &reqwest::Client, base: &str, count: usize) -> Duration {
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/v1/agents/batch"))
        .json(&json!({"count": count, "template": {"role": "worker"}}))
        .send()
        .await
        .expect("batch sent");
    assert_eq!(response.status(), 201, "batch of {count}");
    started.elapsed()
}

/// The server's task counts by status, from `/api/v1/system/status`.
async fn tasks_by_status(client: &reqwest::Client, base: &str) -> Value {
    let status: Value = client
        .get(format!("{base}/api/v1/system/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status JSON");
    status["tasks"].clone()
}

/// Print one load phase's figures and answer them for the JSON report.
fn summary(phase: &str, rate: f64, latencies: &[Duration], errors: usize) -> Value {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let [p50, p95, p99] = [50.0, 95.0, 99.0].map(|p| ms(percentile(latencies, p)));
    let max = ms(latencies.last().copied().unwrap_or_default());
    println!(
        "POST /api/v1/tasks, {phase}: {rate:.0} tasks/s accepted, p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms, max {max:.2} ms, errors {errors}"
    );
    json!({"tasks_per_s": rate, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": max, "errors": errors})
}

/// `clients` closed loops submitting echo tasks until `length` has passed or `total` tasks were
/// accepted; answers tasks/s and sorted latencies.
async fn load(
    base: &str,
    clients: usize,
    length: Duration,
    total: usize,
) -> (f64, Vec<Duration>, usize) {
    let client = reqwest::Client::new();
    let body = Arc::new(json!({"role": "worker", "input": {"op": "echo", "value": 1}}));
    let deadline = Instant::now() + length;
    let started = Instant::now();
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (client, body, url) = (client.clone(), body.clone(), format!("{base}/api/v1/tasks"));
        let accepted = accepted.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline && accepted.fetch_add(1, Ordering::Relaxed) < total {
                let sent = Instant::now();
                match client.post(&url).json(&*body).send().await {
                    Ok(r) if r.status() == 202 => latencies.push(sent.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    gather(workers, started).await
}

type Worker = tokio::task::JoinHandle<(Vec<Duration>, usize)>;

/// All workers' latencies (sorted) and errors, and the accepted rate since `started`.
async fn gather(workers: Vec<Worker>, started: Instant) -> (f64, Vec<Duration>, usize) {
    let (mut all, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (latencies, e) = w.await.expect("worker");
        all.extend(latencies);
        errors += e;
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (rate, all, errors)
}

/// 64 clients sending `rate` echo tasks per second in all, evenly spaced, for `length`: the
/// latency at a given load rather than at saturation. Latency runs from each request's planned
/// send time, so a stall delays the planned sends behind it and counts against them too.
async fn paced(base: &str, rate: f64, length: Duration) -> (f64, Vec<Duration>, usize) {
    const CLIENTS: usize = 64;
    let client = reqwest::Client::new();
    let body = Arc::new(json!({"role": "worker", "input": {"op": "echo", "value": 1}}));
    let period = Duration::from_secs_f64(CLIENTS as f64 / rate);
    let start = tokio::time::Instant::now();
    let mut workers = Vec::new();
    for i in 0..CLIENTS {
        let (client, body, url) = (client.clone(), body.clone(), format!("{base}/api/v1/tasks"));
        let first = start + period.mul_f64(i as f64 / CLIENTS as f64);
        workers.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(first, period);
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            loop {
                let planned = ticks.tick().await;
                if planned.duration_since(start) >= length {
                    return (latencies, errors);
                }
                match client.post(&url).json(&*body).send().await {
                    Ok(r) if r.status() == 202 => latencies.push(planned.elapsed()),
                    _ => errors += 1,
                }
            }
        }));
    }
    gather(workers, start.into_std()).await
}

fn main() {
    let seconds: u64 = std::env::var("HIVE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let database_url = std::env::var("HIVE_BENCH_DATABASE_URL").ok();
    let backend = if database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    println!("store: {backend}");
    let extra: Vec<&str> = database_url
        .iter()
        .flat_map(|url| ["--database-url", url.as_str()])
        .collect();
    let exe = std::env::var_os("HIVE_BENCH_BINARY").map_or_else(
        || env!("CARGO_BIN_EXE_hive").into(),
        std::path::PathBuf::from,
    );
    let server = Target::start_server(&exe, &extra).expect("hive starts");
    let pid = server.own_pid().expect("a server of our own");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut report = serde_json::Map::new();
    report.insert("store".into(), backend.into());
    runtime.block_on(async {
        let client = reqwest::Client::new();
        // Let the first metrics sample settle.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = rss(pid);
        println!("RSS idle: {}", mib(idle));
        report.insert("rss_idle_bytes".into(), idle.into());

        let t1k = spawn_agents(&client, &server.base, 1000).await;
        let rss1k = rss(pid);
        println!("1,000 agents: spawned in {t1k:?}, RSS {}", mib(rss1k));
        // End to end with 1,000 agents: accepted, dispatched, run, committed as succeeded.
        const E2E_TASKS: usize = 20_000;
        let e2e_started = Instant::now();
        let (_, _, errors) = load(&server.base, 64, Duration::from_secs(600), E2E_TASKS).await;
        loop {
            let tasks = tasks_by_status(&client, &server.base).await;
            if tasks["succeeded"].as_u64().unwrap_or(0) >= E2E_TASKS as u64 {
                break;
            }
            // Measurement, not synchronisation: the poll interval bounds the figure's error.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let e2e = E2E_TASKS as f64 / e2e_started.elapsed().as_secs_f64();
        println!("end to end, 1,000 agents, 64 clients: {E2E_TASKS} echo tasks succeeded at {e2e:.0} tasks/s (errors {errors})");
        report.insert("end_to_end_1000_agents_tasks_per_s".into(), e2e.into());

        let t9k = spawn_agents(&client, &server.base, 9000).await;
        let rss10k = rss(pid);
        println!("10,000 agents: 9,000 more spawned in {t9k:?}, RSS {}", mib(rss10k));
        report.insert("spawn_1000_ms".into(), (t1k.as_secs_f64() * 1e3).into());
        report.insert("spawn_9000_ms".into(), (t9k.as_secs_f64() * 1e3).into());
        report.insert("rss_1000_agents_bytes".into(), rss1k.into());
        report.insert("rss_10000_agents_bytes".into(), rss10k.into());

        for clients in [1usize, 64] {
            let (rate, latencies, errors) =
                load(&server.base, clients, Duration::from_secs(seconds), usize::MAX).await;
            let phase = format!("{clients} client(s), {seconds} s");
            let figures = summary(&phase, rate, &latencies, errors);
            println!("RSS after: {}", mib(rss(pid)));
            report.insert(format!("submit_{clients}_clients"), figures);
        }
        // The durable-throughput goals: 5,000/s on SQLite, 3,000/s on PostgreSQL, p99 < 10 ms.
        let rate = if database_url.is_some() { 3_000.0 } else { 5_000.0 };
        let (achieved, latencies, errors) =
            paced(&server.base, rate, Duration::from_secs(seconds)).await;
        let phase = format!("paced at {rate:.0}/s by 64 clients, {seconds} s");
        let mut figures = summary(&phase, achieved, &latencies, errors);
        figures["target_per_s"] = rate.into();
        report.insert("submit_paced".into(), figures);
        let tasks = tasks_by_status(&client, &server.base).await;
        println!("tasks by status after the run: {tasks}");
        report.insert("rss_after_bytes".into(), rss(pid).into());
    });
    let out =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("http_load_{backend}.json"));
    let _ = std::fs::write(
        &out,
        serde_json::to_string_pretty(&Value::Object(report)).unwrap_or_default(),
    );
    println!("report: {}", out.display());
}
