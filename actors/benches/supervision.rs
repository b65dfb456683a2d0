//! What supervision costs: spawning a supervised child, restarting one (exit seen → the new
//! child handling messages), restarting 1,000 at once, and the bytes an idle supervised child
//! holds. `cargo bench -p hive-actors --bench supervision`.
//!
//! Criterion times spawn and single restart; the percentiles and the bulk figures are measured
//! by hand below it, since criterion reports means and medians, not p99. Bytes come from a
//! counting global allocator: everything allocated for the children and not freed.

// A benchmark stops at the first thing that goes wrong, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, Criterion};
use hive_actors::{
    Backoff, ChildContext, ChildPolicy, ChildSpec, EventSink, ExitSlot, Intensity, Shutdown,
    StartChild, StartedChild, SupervisionEvent, SupervisionEventKind, Supervisor, SupervisorSpec,
    Tree,
};
use tokio::sync::mpsc;

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An idle worker that says when it starts and can be told to panic.
struct Worker {
    started: Option<mpsc::UnboundedSender<Instant>>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Crash;

impl Actor for Worker {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        if let Some(tx) = &self.started {
            let _ = tx.send(Instant::now());
        }
    }
}

impl Handler<Crash> for Worker {
    type Result = ();

    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("crash");
    }
}

impl Handler<Shutdown> for Worker {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Mailbox capacity of a benchmark child: the same as an agent's.
const MAILBOX: usize = 8;

/// One policy for every child, as a pool shares its policy among its agents.
fn immediate() -> ChildPolicy {
    ChildPolicy {
        backoff: Backoff::immediate(),
        ..ChildPolicy::default()
    }
}

type Addrs = Arc<parking_lot::Mutex<Vec<Option<Addr<Worker>>>>>;

/// The one spec of a pool of workers, each started from it under its own id `w{i}` with
/// [`ChildSpec::named`], as Hive's pools start their agents; worker `i`'s address is kept in
/// `addrs[i]`.
fn workers(addrs: Addrs, started: Option<mpsc::UnboundedSender<Instant>>) -> ChildSpec {
    workers_on(None, addrs, started)
}

/// [`workers`] that run on `arbiter` when one is given, as Hive's agents do.
fn workers_on(
    arbiter: Option<actix_rt::ArbiterHandle>,
    addrs: Addrs,
    started: Option<mpsc::UnboundedSender<Instant>>,
) -> ChildSpec {
    ChildSpec::new("w", move |ctx: ChildContext| {
        let i = index(&ctx.id);
        let worker = Worker {
            started: started.clone(),
        };
        let (addr, child) = match &arbiter {
            Some(arbiter) => StartedChild::on_arbiter(arbiter, MAILBOX, &ctx.exit, || worker),
            None => StartedChild::new(worker, MAILBOX),
        };
        let mut addrs = addrs.lock();
        if addrs.len() <= i {
            addrs.resize(i + 1, None);
        }
        addrs[i] = Some(addr);
        child
    })
    .policy(immediate())
}

fn name(i: usize) -> String {
    format!("w{i}")
}

fn index(id: &str) -> usize {
    id[1..].parse().expect("a worker's id is w and its index")
}

fn pool(sink: EventSink) -> Addr<Supervisor> {
    let spec = SupervisorSpec::new("bench", Tree::default(), sink).intensity(Intensity {
        max_restarts: u32::MAX,
        period: Duration::from_secs(1),
    });
    Supervisor::new(spec, Vec::new(), ExitSlot::default()).start()
}

/// An event sink that stamps each exit the moment the supervisor sees it.
fn exit_clock() -> (EventSink, mpsc::UnboundedReceiver<Instant>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sink: EventSink = Arc::new(move |e: &SupervisionEvent| {
        if matches!(e.kind, SupervisionEventKind::ChildExited { .. }) {
            let _ = tx.send(Instant::now());
        }
    });
    (sink, rx)
}

fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Restart latencies of `rounds` single crashes of one child.
async fn single_restarts(rounds: usize) -> Vec<Duration> {
    let (sink, mut exits) = exit_clock();
    let sup = pool(sink);
    let (tx, mut starts) = mpsc::unbounded_channel();
    let addrs = Addrs::default();
    sup.send(StartChild(workers(addrs.clone(), Some(tx)).named(name(0))))
        .await
        .unwrap()
        .unwrap();
    starts.recv().await.unwrap();
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let addr = addrs.lock()[0].clone().unwrap();
        addr.do_send(Crash);
        let seen = exits.recv().await.unwrap();
        let up = starts.recv().await.unwrap();
        samples.push(up.duration_since(seen));
    }
    sup.send(Shutdown).await.unwrap();
    samples
}

/// Time from the first crash order to the last of `n` children running again: the panics, the
/// exits and the restarts, all of them. With `arbiter`, the children run there.
async fn mass_restart(n: usize, arbiter: Option<actix_rt::ArbiterHandle>) -> Duration {
    let sup = pool(hive_actors::discard_events());
    let (tx, mut starts) = mpsc::unbounded_channel();
    let addrs = Addrs::default();
    let spec = workers_on(arbiter, addrs.clone(), Some(tx));
    for i in 0..n {
        sup.send(StartChild(spec.named(name(i))))
            .await
            .unwrap()
            .unwrap();
    }
    for _ in 0..n {
        starts.recv().await.unwrap();
    }
    let all: Vec<_> = addrs.lock().iter().flatten().cloned().collect();
    let ordered = Instant::now();
    for addr in &all {
        addr.do_send(Crash);
    }
    let mut last = ordered;
    for _ in 0..n {
        last = starts.recv().await.unwrap();
    }
    sup.send(Shutdown).await.unwrap();
    last.duration_since(ordered)
}

/// Time from the first kill to the last of `n` children running again, the children killed
/// from outside at once (as `exit(Pid, kill)` kills OTP processes): their supervisor's share of
/// a mass restart, without Rust's unwinder.
async fn mass_kill(n: usize) -> Duration {
    let sup = pool(hive_actors::discard_events());
    let (tx, mut starts) = mpsc::unbounded_channel();
    let slots = Arc::new(parking_lot::Mutex::new(vec![None; n]));
    let spec = {
        let slots = slots.clone();
        ChildSpec::new("w", move |ctx: ChildContext| {
            slots.lock()[index(&ctx.id)] = Some(ctx.exit);
            let started = Some(tx.clone());
            StartedChild::new(Worker { started }, MAILBOX).1
        })
        .policy(immediate())
    };
    for i in 0..n {
        sup.send(StartChild(spec.named(name(i))))
            .await
            .unwrap()
            .unwrap();
    }
    for _ in 0..n {
        starts.recv().await.unwrap();
    }
    let all: Vec<ExitSlot> = slots.lock().iter().flatten().cloned().collect();
    let ordered = Instant::now();
    for slot in &all {
        slot.kill();
    }
    let mut last = ordered;
    for _ in 0..n {
        last = starts.recv().await.unwrap();
    }
    sup.send(Shutdown).await.unwrap();
    last.duration_since(ordered)
}

/// Time to panic and catch the panic `n` times, with a message as a crashing worker's.
fn panics_caught(n: usize) -> Duration {
    let t0 = Instant::now();
    for i in 0..n {
        let caught = std::panic::catch_unwind(|| {
            if std::hint::black_box(true) {
                panic!("w{i} was told to panic");
            }
        });
        std::hint::black_box(caught.is_err());
    }
    t0.elapsed()
}

/// Bytes still allocated per child once `n` idle children run, and the time per spawn.
async fn idle_children(n: usize) -> (f64, Duration) {
    let sup = pool(hive_actors::discard_events());
    let (tx, mut starts) = mpsc::unbounded_channel::<Instant>();
    let addrs = Addrs::default();
    addrs.lock().reserve(n);
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let spec = workers(addrs.clone(), None);
    let t0 = Instant::now();
    for i in 0..n {
        sup.send(StartChild(spec.named(name(i))))
            .await
            .unwrap()
            .unwrap();
    }
    let spawn = t0.elapsed() / n as u32;
    // A round trip through the supervisor: every child's start has been handled by then.
    let _ = sup
        .send(StartChild(workers(addrs.clone(), Some(tx)).named(name(n))))
        .await;
    starts.recv().await.unwrap();
    let bytes = (LIVE_BYTES.load(Ordering::Relaxed) - before) as f64 / n as f64;
    sup.send(Shutdown).await.unwrap();
    (bytes, spawn)
}

/// Like [`idle_children`], for children that run on another arbiter while their supervisor stays
/// on its own thread, as Hive's agents do: the extra is the channel that carries their end back.
async fn idle_remote_children(n: usize) -> f64 {
    let arbiter = actix_rt::Arbiter::new();
    let handle = arbiter.handle();
    let sup = pool(hive_actors::discard_events());
    let (tx, mut starts) = mpsc::unbounded_channel::<Instant>();
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let spec = ChildSpec::new("w", move |ctx: ChildContext| {
        let started = Some(tx.clone());
        StartedChild::on_arbiter(&handle, MAILBOX, &ctx.exit, move || Worker { started }).1
    })
    .policy(immediate());
    for i in 0..n {
        sup.send(StartChild(spec.named(name(i))))
            .await
            .unwrap()
            .unwrap();
    }
    for _ in 0..n {
        starts.recv().await.unwrap();
    }
    let bytes = (LIVE_BYTES.load(Ordering::Relaxed) - before) as f64 / n as f64;
    sup.send(Shutdown).await.unwrap();
    arbiter.stop();
    bytes
}

fn criterion_benches(c: &mut Criterion) {
    quiet_panics();
    let system = actix_rt::System::new();
    c.bench_function("spawn one supervised child", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let sup = pool(hive_actors::discard_events());
                let spec = workers(Addrs::default(), None);
                let t0 = Instant::now();
                for i in 0..iters as usize {
                    sup.send(StartChild(spec.named(name(i))))
                        .await
                        .unwrap()
                        .unwrap();
                }
                let elapsed = t0.elapsed();
                sup.send(Shutdown).await.unwrap();
                elapsed
            })
        })
    });
    c.bench_function("restart one child (exit seen to running)", |b| {
        b.iter_custom(|iters| {
            system
                .block_on(single_restarts(iters as usize))
                .into_iter()
                .sum()
        })
    });
}

criterion_group!(benches, criterion_benches);

fn main() {
    benches();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let mut report = serde_json::Map::new();
    let system = actix_rt::System::new();
    system.block_on(async {
        let mut samples = single_restarts(10_000).await;
        samples.sort();
        let (p50, p99) = (percentile(&samples, 50.0), percentile(&samples, 99.0));
        println!(
            "single restart, 10,000 rounds: p50 {p50:?}, p99 {p99:?}, max {:?}",
            samples.last().unwrap()
        );
        report.insert("restart_p50_us".into(), micros(p50).into());
        report.insert("restart_p99_us".into(), micros(p99).into());
        let arbiter = actix_rt::Arbiter::new();
        for (place, key) in [(None, "restart_1000"), (Some(arbiter.handle()), "restart_1000_remote")] {
            let mut bulk: Vec<Duration> = Vec::new();
            for _ in 0..20 {
                bulk.push(mass_restart(1000, place.clone()).await);
            }
            bulk.sort();
            let (p50, max) = (percentile(&bulk, 50.0), *bulk.last().unwrap());
            println!(
                "1,000 simultaneous crashes ({key}), 20 rounds: crash orders sent → all running again p50 {p50:?}, max {max:?}"
            );
            report.insert(format!("{key}_p50_ms"), (micros(p50) / 1e3).into());
            report.insert(format!("{key}_max_ms"), (micros(max) / 1e3).into());
        }
        arbiter.stop();
        // The floor under the panicked figure: 1,000 panics caught one frame down, with no
        // actor and no supervisor, on this machine and in this process.
        let mut unwinding: Vec<Duration> = (0..20).map(|_| panics_caught(1000)).collect();
        unwinding.sort();
        let p50 = percentile(&unwinding, 50.0);
        println!("1,000 panics caught, nothing supervised, 20 rounds: p50 {p50:?}");
        report.insert("panics_1000_p50_ms".into(), (micros(p50) / 1e3).into());
        let mut killed: Vec<Duration> = Vec::new();
        for _ in 0..20 {
            killed.push(mass_kill(1000).await);
        }
        killed.sort();
        let (p50, max) = (percentile(&killed, 50.0), *killed.last().unwrap());
        println!(
            "1,000 children killed at once, 20 rounds: kills → all running again p50 {p50:?}, max {max:?}"
        );
        report.insert("restart_1000_killed_p50_ms".into(), (micros(p50) / 1e3).into());
        report.insert("restart_1000_killed_max_ms".into(), (micros(max) / 1e3).into());
    });
    drop(system);
    // Each memory figure in a system of its own: a supervisor frees its children after it has
    // answered `Shutdown`, and those frees must not be counted against the next figure.
    // Five passes per size, the spawn time their median: one pass is a fraction of a second,
    // which a busy neighbour on a shared machine can slow by half. The bytes are the same in
    // every pass; the first is kept.
    for n in [10_000, 100_000] {
        let passes: Vec<(f64, Duration)> = (0..5)
            .map(|_| actix_rt::System::new().block_on(idle_children(n)))
            .collect();
        let bytes = passes[0].0;
        let mut spawns: Vec<Duration> = passes.iter().map(|p| p.1).collect();
        spawns.sort();
        let spawn = percentile(&spawns, 50.0);
        println!(
            "{n} idle supervised children: {bytes:.0} bytes each, spawn {spawn:?} each (median of 5, {:?} to {:?})",
            spawns[0], spawns[4]
        );
        report.insert(format!("bytes_per_child_{n}"), bytes.into());
        report.insert(format!("spawn_us_{n}"), micros(spawn).into());
    }
    let bytes = actix_rt::System::new().block_on(idle_remote_children(10_000));
    println!("10000 idle supervised children on another arbiter: {bytes:.0} bytes each");
    report.insert("bytes_per_remote_child_10000".into(), bytes.into());
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("supervision.json");
    let _ = std::fs::write(
        &out,
        serde_json::to_string_pretty(&serde_json::Value::Object(report)).unwrap_or_default(),
    );
    println!("report: {}", out.display());
    Criterion::default().configure_from_args().final_summary();
}
