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
use criterion::{criterion_group, BenchmarkId, Criterion};
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

fn hop(c: &mut Criterion) {
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
            b.iter_custom(|iters| {
                system.block_on(async {
                    let start = Instant::now();
                    for i in 0..iters {
                        std::hint::black_box(addr.send(Ping(i)).await.unwrap());
                    }
                    start.elapsed()
                })
            })
        });
    }
    for (name, tx) in [
        ("tokio channel, same thread", &local_channel),
        ("tokio channel, other thread", &remote_channel),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    let start = Instant::now();
                    for i in 0..iters {
                        let (reply, answer) = oneshot::channel();
                        tx.send((i, reply)).await.unwrap();
                        std::hint::black_box(answer.await.unwrap());
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
    other.stop();
}

fn task() -> TaskRecord {
    let new: NewTask =
        serde_json::from_value(json!({"role": "bench", "input": {"op": "echo", "value": 1}}))
            .unwrap();
    TaskRecord::accepted(new, now_ms())
}

fn store(c: &mut Criterion) {
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
        )
        .start()
    });
    let mut group = c.benchmark_group("store commit");
    for batch in [1usize, 64, 512] {
        group.bench_with_input(BenchmarkId::new("new tasks", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        // Sent together, so the writer commits them as one group.
                        let mut commits = Vec::with_capacity(batch);
                        for _ in 0..batch {
                            let (reply, committed) = oneshot::channel();
                            writer.do_send(Persist(Write::CreateTask {
                                task: task(),
                                reply,
                            }));
                            commits.push(committed);
                        }
                        for committed in commits {
                            committed.await.unwrap().unwrap();
                        }
                    }
                    start.elapsed()
                })
            })
        });
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

fn http(c: &mut Criterion) {
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
}

criterion_group!(benches, hop, store, http);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
