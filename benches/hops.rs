//! What a message hop costs, and what it costs a request: `cargo bench --bench hops`.
//!
//! - **hop**: an actix mailbox round trip (`send().await` and the answer) against a bare tokio
//!   channel round trip (mpsc there, oneshot back), each to a receiver on the same thread and on
//!   another thread.
//! - **store**: one group commit of 1, 64 and 512 new tasks on SQLite (fsync on each commit), as
//!   the StoreManager makes it before a 202.
//! - **http**: one request to a bare actix-web handler against one to a handler that asks an
//!   actor on another thread (as a request reaches an agent), over loopback with a real client;
//!   then both under 16 concurrent clients, interleaved, with the throughput ratio printed.
//!
//! Supervised spawn and restart latency are in `cargo bench -p hive-actors --bench supervision`.

// A benchmark stops at the first thing that goes wrong, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{BenchmarkId, Criterion};
use hive::bus::EventBus;
use hive::domain::task::{NewTask, TaskRecord};
use hive::domain::time::now_ms;
use hive::metrics::Metrics;
use hive::store::manager::{Persist, StoreManager, Write};
use hive::store::Database;
use hive_actors::{ExitSlot, MailboxProbe};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

struct Echo;

impl Actor for Echo {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Ping(u64);

impl Handler<Ping> for Echo {
    type Result = u64;

    fn handle(&mut self, ping: Ping, _: &mut Context<Self>) -> u64 {
        ping.0
    }
}

type Request = (u64, oneshot::Sender<u64>);

/// A tokio task that answers each request on its oneshot: the bare-channel baseline.
fn channel_echo(
    spawn: impl FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
) -> mpsc::Sender<Request> {
    let (tx, mut rx) = mpsc::channel::<Request>(16);
    spawn(Box::pin(async move {
        while let Some((n, reply)) = rx.recv().await {
            let _ = reply.send(n);
        }
    }));
    tx
}

async fn actix_round_trips(addr: &Addr<Echo>, iters: u64) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        std::hint::black_box(addr.send(Ping(i)).await.unwrap());
    }
    start.elapsed()
}

async fn channel_round_trips(tx: &mpsc::Sender<Request>, iters: u64) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        let (reply, answer) = oneshot::channel();
        tx.send((i, reply)).await.unwrap();
        std::hint::black_box(answer.await.unwrap());
    }
    start.elapsed()
}

/// Round trips timed by hand for the JSON report: the median of 5 runs of 100,000.
fn nanos_each(run: impl Fn(u64) -> Duration) -> f64 {
    const N: u64 = 100_000;
    let mut runs: Vec<f64> = (0..5)
        .map(|_| run(N).as_nanos() as f64 / N as f64)
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

fn hop(c: &mut Criterion, report: &mut Report) {
    let system = System::new();
    let other = Arbiter::new();
    let (local_actor, remote_actor, local_channel, remote_channel) = system.block_on(async {
        let remote_channel = channel_echo(|f| {
            other.spawn(f);
        });
        (
            Echo.start(),
            Echo::start_in_arbiter(&other.handle(), |_| Echo),
            channel_echo(|f| {
                actix_rt::spawn(f);
            }),
            remote_channel,
        )
    });
    let mut group = c.benchmark_group("hop");
    for (name, addr) in [
        ("actix, same thread", &local_actor),
        ("actix, other thread", &remote_actor),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| system.block_on(actix_round_trips(addr, iters)))
        });
        let ns = nanos_each(|n| system.block_on(actix_round_trips(addr, n)));
        report.insert(format!("round trip ns, {name}"), ns.into());
    }
    for (name, tx) in [
        ("tokio channel, same thread", &local_channel),
        ("tokio channel, other thread", &remote_channel),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| system.block_on(channel_round_trips(tx, iters)))
        });
        let ns = nanos_each(|n| system.block_on(channel_round_trips(tx, n)));
        report.insert(format!("round trip ns, {name}"), ns.into());
    }
    group.finish();
    other.stop();
}

fn task() -> TaskRecord {
    let new: NewTask =
        serde_json::from_value(json!({"role": "bench", "input": {"op": "echo", "value": 1}}))
            .unwrap();
    TaskRecord::accepted(new, "bench".to_owned().try_into().unwrap(), now_ms())
}

type Report = serde_json::Map<String, serde_json::Value>;

/// `iters` group commits of `batch` new tasks each, sent together so the writer commits each
/// group as one transaction.
async fn commits(writer: &Addr<StoreManager>, batch: usize, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let mut pending = Vec::with_capacity(batch);
        for _ in 0..batch {
            let (reply, committed) = oneshot::channel();
            writer.do_send(Persist(Write::CreateTask {
                task: task(),
                clock: None,
                reply,
            }));
            pending.push(committed);
        }
        for committed in pending {
            committed.await.unwrap().unwrap();
        }
    }
    start.elapsed()
}

fn store(c: &mut Criterion, report: &mut Report) {
    let system = System::new();
    let dir = tempfile::tempdir().unwrap();
    let writer = system.block_on(async {
        let database = Database::Sqlite(dir.path().join("hive.db"));
        database.migrate().await.unwrap();
        StoreManager::new(
            database,
            ExitSlot::default(),
            Arc::new(MailboxProbe::new("store", 8192)),
            Arc::new(Metrics::new().unwrap()),
            EventBus::default(),
            hive::store::retention::Retention::default(),
        )
        .start()
    });
    let mut group = c.benchmark_group("store commit");
    for batch in [1usize, 64, 512] {
        group.bench_with_input(BenchmarkId::new("new tasks", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| system.block_on(commits(&writer, batch, iters)))
        });
        const ROUNDS: u64 = 50;
        let each = system.block_on(commits(&writer, batch, ROUNDS)) / ROUNDS as u32;
        report.insert(
            format!("store commit ms, {batch} new tasks"),
            (each.as_secs_f64() * 1e3).into(),
        );
    }
    group.finish();
}

/// An actix-web server on its own thread with `/bare` and `/hop`; answers its address.
fn http_server() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = System::new();
        system.block_on(async move {
            let agents = Arbiter::new();
            let agent = Echo::start_in_arbiter(&agents.handle(), |_| Echo);
            let server = actix_web::HttpServer::new(move || {
                let agent = agent.clone();
                actix_web::App::new()
                    .route("/bare", actix_web::web::get().to(|| async { "1" }))
                    .route(
                        "/hop",
                        actix_web::web::get().to(move || {
                            let agent = agent.clone();
                            async move { agent.send(Ping(1)).await.unwrap().to_string() }
                        }),
                    )
            })
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// `clients` closed loops on `path` for `length`: requests per second.
async fn throughput(client: &reqwest::Client, url: &str, clients: usize, length: Duration) -> f64 {
    let deadline = Instant::now() + length;
    let mut loops = Vec::new();
    for _ in 0..clients {
        let (client, url) = (client.clone(), url.to_owned());
        loops.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                client
                    .get(&url)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for l in loops {
        total += l.await.unwrap();
    }
    total as f64 / length.as_secs_f64()
}

fn http(c: &mut Criterion, report: &mut Report) {
    let addr = http_server();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let mut group = c.benchmark_group("http request");
    for path in ["bare", "hop"] {
        let url = format!("http://{addr}/{path}");
        group.bench_function(path, |b| {
            b.to_async(&runtime).iter(|| async {
                client
                    .get(&url)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap()
            })
        });
    }
    group.finish();

    // Throughput under concurrency, interleaved so that drift of the machine hits both alike.
    let (mut bare, mut hop) = (0.0, 0.0);
    const ROUNDS: usize = 5;
    let length = Duration::from_secs(1);
    runtime.block_on(async {
        for _ in 0..ROUNDS {
            bare += throughput(&client, &format!("http://{addr}/bare"), 16, length).await;
            hop += throughput(&client, &format!("http://{addr}/hop"), 16, length).await;
        }
    });
    let (bare, hop) = (bare / ROUNDS as f64, hop / ROUNDS as f64);
    println!(
        "http, 16 clients, one worker: bare {bare:.0} req/s, through an agent hop {hop:.0} req/s, ratio {:.3} (hop/bare)",
        hop / bare
    );
    report.insert("http bare req/s".into(), bare.into());
    report.insert("http through an agent hop req/s".into(), hop.into());
    report.insert("http hop/bare throughput ratio".into(), (hop / bare).into());
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let mut report = Report::new();
    hop(&mut criterion, &mut report);
    store(&mut criterion, &mut report);
    http(&mut criterion, &mut report);
    for (figure, value) in &report {
        println!("{figure}: {value}");
    }
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hops.json");
    let _ = std::fs::write(
        &out,
        serde_json::to_string_pretty(&serde_json::Value::Object(report)).unwrap_or_default(),
    );
    println!("report: {}", out.display());
    criterion.final_summary();
}
