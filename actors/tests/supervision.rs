//! Supervisor behaviour, case by case in the manner of OTP's supervisor suite. Every wait is on an
//! event or a message; time that matters (backoff, shutdown timeout) is tokio's paused clock.

// Helpers fail the test the way assertions do: by panicking with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use hive_actors::tree::ChildView;
use hive_actors::Supervisor;
use hive_actors::*;
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// A child that does what its messages say, and logs its starts and stops.
struct Worker {
    name: String,
    exit: ExitSlot,
    log: Arc<Mutex<Vec<String>>>,
    panic_on_start: bool,
}

#[derive(Message)]
#[rtype(result = "()")]
enum Order {
    Panic,
    Fail,
    Quit,
    Restart,
}

impl Actor for Worker {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.log.lock().push(format!("start {}", self.name));
        if self.panic_on_start {
            panic!("cannot start {}", self.name);
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.log.lock().push(format!("stop {}", self.name));
    }
}

impl Handler<Order> for Worker {
    type Result = ();

    fn handle(&mut self, order: Order, ctx: &mut Context<Self>) {
        match order {
            Order::Panic => panic!("{} was told to panic", self.name),
            Order::Fail => {
                self.exit.fail("told to fail");
                ctx.stop();
            }
            Order::Quit => ctx.stop(),
            Order::Restart => {
                self.exit.restart("asked to start afresh");
                ctx.stop();
            }
        }
    }
}

impl Handler<Shutdown> for Worker {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// A tree under test: its events, the start/stop log and the current address of each worker.
struct Harness {
    tree: Tree,
    events: mpsc::UnboundedReceiver<SupervisionEvent>,
    sink: EventSink,
    log: Arc<Mutex<Vec<String>>>,
    addrs: Arc<Mutex<HashMap<String, Addr<Worker>>>>,
}

impl Harness {
    fn new() -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        Self {
            tree: Tree::default(),
            events,
            sink: Arc::new(move |e: &SupervisionEvent| {
                let _ = tx.send(e.clone());
            }),
            log: Default::default(),
            addrs: Default::default(),
        }
    }

    fn worker(&self, name: &str) -> ChildSpec {
        self.worker_with(name, false)
    }

    fn worker_with(&self, name: &str, panic_on_start: bool) -> ChildSpec {
        let (log, addrs, name) = (self.log.clone(), self.addrs.clone(), name.to_owned());
        ChildSpec::new(name.clone(), move |ctx: ChildContext| {
            let worker = Worker {
                name: name.clone(),
                exit: ctx.exit,
                log: log.clone(),
                panic_on_start,
            };
            let (addr, started) = StartedChild::new(worker, 16);
            addrs.lock().insert(name.clone(), addr);
            started
        })
        .backoff(Backoff::immediate())
    }

    /// Like [`Harness::worker`], but the worker runs on `arbiter` while its supervisor stays here.
    fn remote_worker(&self, name: &str, arbiter: &actix_rt::ArbiterHandle) -> ChildSpec {
        let (log, addrs, name) = (self.log.clone(), self.addrs.clone(), name.to_owned());
        let arbiter = arbiter.clone();
        ChildSpec::new(name.clone(), move |ctx: ChildContext| {
            let (log, worker_name) = (log.clone(), name.clone());
            let exit = ctx.exit.clone();
            let (addr, started) =
                StartedChild::on_arbiter(&arbiter, 8, &ctx.exit, move || Worker {
                    name: worker_name,
                    exit,
                    log,
                    panic_on_start: false,
                });
            addrs.lock().insert(name.clone(), addr);
            started
        })
        .backoff(Backoff::immediate())
    }

    fn spec(&self, name: &str, max_restarts: u32) -> SupervisorSpec {
        SupervisorSpec::new(name, self.tree.clone(), self.sink.clone()).intensity(Intensity {
            max_restarts,
            period: Duration::from_secs(5),
        })
    }

    fn addr(&self, name: &str) -> Addr<Worker> {
        self.addrs
            .lock()
            .get(name)
            .cloned()
            .expect("worker was started")
    }

    async fn until(&mut self, pred: impl Fn(&SupervisionEvent) -> bool) -> SupervisionEvent {
        loop {
            let e = self
                .events
                .recv()
                .await
                .expect("the sink lives as long as the harness");
            if pred(&e) {
                return e;
            }
        }
    }

    /// Start a supervisor with `kids` and wait until every one of them runs.
    async fn start(&mut self, spec: SupervisorSpec, kids: Vec<ChildSpec>) -> Addr<Supervisor> {
        let count = kids.len();
        let sup = Supervisor::new(spec, kids, ExitSlot::default()).start();
        for _ in 0..count {
            self.until(|e| matches!(e.kind, SupervisionEventKind::ChildStarted { .. }))
                .await;
        }
        sup
    }

    async fn child(&self, sup: &str, child: &str) -> Option<ChildView> {
        self.tree.child(sup, child).await
    }
}

fn started(child: &'static str) -> impl Fn(&SupervisionEvent) -> bool {
    move |e| e.child == child && matches!(e.kind, SupervisionEventKind::ChildStarted { .. })
}

fn exited(child: &'static str) -> impl Fn(&SupervisionEvent) -> bool {
    move |e| e.child == child && matches!(e.kind, SupervisionEventKind::ChildExited { .. })
}

fn not_a_restart(e: &SupervisionEvent) -> bool {
    !matches!(e.kind, SupervisionEventKind::ChildRestarted { .. })
}

fn exit_reason(e: &SupervisionEvent) -> ExitReason {
    match &e.kind {
        SupervisionEventKind::ChildExited { reason } => reason.clone(),
        other => panic!("not an exit: {other:?}"),
    }
}

#[actix_rt::test]
async fn panic_in_a_handler_is_seen_with_its_message_and_the_child_restarts() {
    let mut h = Harness::new();
    h.start(h.spec("sup", 3), vec![h.worker("a")]).await;
    h.addr("a").do_send(Order::Panic);
    let e = h.until(exited("a")).await;
    assert_eq!(
        exit_reason(&e),
        ExitReason::Panic("a was told to panic".into())
    );
    let e = h.until(started("a")).await;
    assert!(matches!(
        e.kind,
        SupervisionEventKind::ChildStarted { generation: 1 }
    ));
    let view = h.child("sup", "a").await.expect("child listed");
    assert_eq!(view.restarts, 1);
    assert_eq!(view.status, ChildStatus::Running);
}

#[actix_rt::test]
async fn a_panic_in_started_is_an_abnormal_exit() {
    let mut h = Harness::new();
    let spec = h.worker_with("b", true).restart(Restart::Transient);
    Supervisor::new(h.spec("sup", 0), vec![spec], ExitSlot::default()).start();
    let e = h.until(exited("b")).await;
    assert_eq!(exit_reason(&e), ExitReason::Panic("cannot start b".into()));
}

#[actix_rt::test]
async fn transient_children_restart_only_after_an_abnormal_exit() {
    let mut h = Harness::new();
    let spec = h.worker("t").restart(Restart::Transient);
    h.start(h.spec("sup", 5), vec![spec, h.worker("p")]).await;
    h.addr("t").do_send(Order::Fail);
    assert_eq!(
        exit_reason(&h.until(exited("t")).await),
        ExitReason::Error("told to fail".into())
    );
    h.until(started("t")).await;
    h.addr("t").do_send(Order::Quit);
    assert_eq!(exit_reason(&h.until(exited("t")).await), ExitReason::Normal);
    // The permanent sibling's crash is the next thing that happens: `t` was not started again.
    h.addr("p").do_send(Order::Panic);
    let e = h.until(not_a_restart).await;
    assert_eq!(e.child, "p");
    assert_eq!(
        h.child("sup", "t").await.map(|v| v.status),
        Some(ChildStatus::Stopped)
    );
}

#[actix_rt::test]
async fn temporary_children_are_never_restarted_and_leave_the_tree() {
    let mut h = Harness::new();
    let spec = h.worker("tmp").restart(Restart::Temporary);
    h.start(h.spec("sup", 5), vec![spec, h.worker("p")]).await;
    h.addr("tmp").do_send(Order::Panic);
    h.until(exited("tmp")).await;
    h.addr("p").do_send(Order::Panic);
    let e = h.until(not_a_restart).await;
    assert_eq!(e.child, "p", "no restart of tmp came first");
    assert!(h.child("sup", "tmp").await.is_none());
}

#[actix_rt::test]
async fn exceeding_the_intensity_stops_children_and_escalates_to_the_parent() {
    let mut h = Harness::new();
    let inner_spec = h.spec("inner", 2).parent("outer");
    let (w1, w2) = (h.worker("w1"), h.worker("w2"));
    let inner =
        Supervisor::child_spec(inner_spec, move || vec![w1.clone(), w2.clone()], 16, |_| {});
    h.start(h.spec("outer", 0), vec![inner]).await;
    h.until(started("w2")).await;
    for _ in 0..2 {
        h.addr("w1").do_send(Order::Panic);
        h.until(started("w1")).await;
    }
    h.addr("w1").do_send(Order::Panic);
    let gave_up = h
        .until(|e| matches!(e.kind, SupervisionEventKind::SupervisorGaveUp { .. }))
        .await;
    assert_eq!(&*gave_up.supervisor, "inner");
    // Children stop in reverse start order; w1 had already crashed, so w2 is the one stopped.
    assert_eq!(
        exit_reason(&h.until(exited("w2")).await),
        ExitReason::Shutdown
    );
    // The parent sees its child supervisor end with an error naming the intensity.
    match exit_reason(&h.until(exited("inner")).await) {
        ExitReason::Error(msg) => assert!(msg.contains("exceeded 2 restarts"), "{msg}"),
        other => panic!("expected an error exit, got {other:?}"),
    }
    // The outer supervisor has intensity 0: it gives up in turn.
    let e = h
        .until(|e| matches!(e.kind, SupervisionEventKind::SupervisorGaveUp { .. }))
        .await;
    assert_eq!(&*e.supervisor, "outer");
}

#[actix_rt::test]
async fn shutdown_stops_children_in_reverse_start_order() {
    let mut h = Harness::new();
    let kids = vec![h.worker("one"), h.worker("two"), h.worker("three")];
    let sup = h.start(h.spec("sup", 1), kids).await;
    sup.send(Shutdown).await.expect("supervisor alive");
    h.until(exited("one")).await;
    let stops: Vec<String> = h
        .log
        .lock()
        .iter()
        .filter(|l| l.starts_with("stop"))
        .cloned()
        .collect();
    assert_eq!(stops, ["stop three", "stop two", "stop one"]);
}

/// A child that ignores the request to stop.
struct Stubborn;

impl Actor for Stubborn {
    type Context = Context<Self>;
}

impl Handler<Shutdown> for Stubborn {
    type Result = ();

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {}
}

/// Terminate the child `stubborn`, which ignores `Shutdown`: the answer waits out `timeout` and
/// the child is reported killed. Time must be paused.
async fn terminated_after_its_timeout(h: &mut Harness, sup: &Addr<Supervisor>, timeout: Duration) {
    let t0 = tokio::time::Instant::now();
    sup.send(TerminateChild("stubborn".into()))
        .await
        .expect("alive")
        .expect("child exists");
    assert!(t0.elapsed() >= timeout, "waited for the timeout");
    assert_eq!(
        exit_reason(&h.until(exited("stubborn")).await),
        ExitReason::Killed
    );
}

#[actix_rt::test]
async fn a_child_that_ignores_shutdown_is_killed_after_its_timeout() {
    tokio::time::pause();
    let mut h = Harness::new();
    let spec = ChildSpec::new("stubborn", |_ctx| StartedChild::new(Stubborn, 4).1)
        .shutdown(ShutdownPolicy::Timeout(Duration::from_secs(3)));
    let sup = h.start(h.spec("sup", 1), vec![spec]).await;
    terminated_after_its_timeout(&mut h, &sup, Duration::from_secs(3)).await;
}

#[actix_rt::test]
async fn crash_loops_back_off_and_show_restarting_with_the_next_attempt() {
    tokio::time::pause();
    let mut h = Harness::new();
    let backoff = Backoff {
        jitter: 0.0,
        ..Backoff::default()
    };
    let spec = h.worker("loop").backoff(backoff);
    h.start(h.spec("sup", 10), vec![spec]).await;
    h.addr("loop").do_send(Order::Panic);
    let restarted = |e: &SupervisionEvent| !not_a_restart(e);
    // First crash: immediate.
    let e = h.until(restarted).await;
    assert!(matches!(
        e.kind,
        SupervisionEventKind::ChildRestarted { delay_ms: 0, .. }
    ));
    h.until(started("loop")).await;
    h.addr("loop").do_send(Order::Panic);
    let e = h.until(restarted).await;
    assert!(matches!(
        e.kind,
        SupervisionEventKind::ChildRestarted { delay_ms: 10, .. }
    ));
    let view = h.child("sup", "loop").await.expect("listed");
    assert_eq!(view.status, ChildStatus::Restarting);
    assert!(view.next_attempt_ms.is_some());
    h.until(started("loop")).await;
}

/// A child that cannot start crash-loops; past the crash-loop limit it is left stopped with the
/// reason, while its sibling and its supervisor carry on, however large the intensity.
#[actix_rt::test]
async fn a_child_past_the_crash_loop_limit_is_left_stopped_and_its_siblings_carry_on() {
    tokio::time::pause();
    let mut h = Harness::new();
    let spec = h.spec("sup", 1000).crash_loop_limit(3);
    let kids = vec![h.worker("steady"), h.worker_with("broken", true)];
    let sup = Supervisor::new(spec, kids, ExitSlot::default()).start();
    let e = h
        .until(|e| matches!(e.kind, SupervisionEventKind::ChildStopped { .. }))
        .await;
    assert_eq!(e.child, "broken");
    let SupervisionEventKind::ChildStopped { reason } = e.kind else {
        unreachable!()
    };
    let text = reason.to_string();
    assert!(text.contains("crashed 4 times in a row"), "{text}");
    assert!(text.contains("cannot start broken"), "{text}");
    let starts = h.log.lock().iter().filter(|l| *l == "start broken").count();
    assert_eq!(starts, 4, "the first start and three restarts");
    let view = h.child("sup", "broken").await.expect("still listed");
    assert_eq!(view.status, ChildStatus::Stopped);
    // The sibling still answers, and the supervisor still restarts it.
    h.addr("steady").do_send(Order::Fail);
    h.until(started("steady")).await;
    assert!(sup.connected());
}

/// A restart the child asks for is restarted at once, every time, and never makes a crash loop.
#[actix_rt::test]
async fn restarts_a_child_asks_for_are_immediate_and_never_a_crash_loop() {
    tokio::time::pause();
    let mut h = Harness::new();
    let backoff = Backoff {
        jitter: 0.0,
        ..Backoff::default()
    };
    let spec = h.spec("sup", 1000).crash_loop_limit(2);
    h.start(spec, vec![h.worker("w").backoff(backoff)]).await;
    for _ in 0..5 {
        h.addr("w").do_send(Order::Restart);
        let e = h.until(|e| !not_a_restart(e)).await;
        let SupervisionEventKind::ChildRestarted {
            delay_ms, reason, ..
        } = e.kind
        else {
            unreachable!()
        };
        assert_eq!(delay_ms, 0);
        assert_eq!(reason, ExitReason::Restart("asked to start afresh".into()));
        h.until(started("w")).await;
    }
    let view = h.child("sup", "w").await.expect("listed");
    assert_eq!(view.status, ChildStatus::Running);
}

#[actix_rt::test]
async fn dynamic_children_are_added_and_removed_at_run_time() {
    let mut h = Harness::new();
    let sup = Supervisor::new(h.spec("pool", 5), vec![], ExitSlot::default()).start();
    sup.send(StartChild(h.worker("x")))
        .await
        .expect("alive")
        .expect("added");
    h.until(started("x")).await;
    let dup = sup.send(StartChild(h.worker("x"))).await.expect("alive");
    assert_eq!(dup, Err(SupervisorError::DuplicateChild("x".into())));
    sup.send(TerminateChild("x".into()))
        .await
        .expect("alive")
        .expect("removed");
    assert_eq!(
        exit_reason(&h.until(exited("x")).await),
        ExitReason::Shutdown
    );
    assert!(h.child("pool", "x").await.is_none());
    let gone = sup.send(TerminateChild("x".into())).await.expect("alive");
    assert_eq!(gone, Err(SupervisorError::NoSuchChild("x".into())));
}

#[actix_rt::test]
async fn a_child_on_another_arbiter_is_supervised_like_a_local_one() {
    let mut h = Harness::new();
    let arbiter = actix_rt::Arbiter::new();
    let spec = h.remote_worker("remote", &arbiter.handle());
    h.start(h.spec("sup", 3), vec![spec]).await;
    h.addr("remote").do_send(Order::Panic);
    let e = h.until(exited("remote")).await;
    assert_eq!(
        exit_reason(&e),
        ExitReason::Panic("remote was told to panic".into())
    );
    h.until(started("remote")).await;
    h.addr("remote").do_send(Order::Fail);
    assert_eq!(
        exit_reason(&h.until(exited("remote")).await),
        ExitReason::Error("told to fail".into())
    );
    h.until(started("remote")).await;
    // The thread the child runs on goes away: its supervisor hears of it like of a crash.
    arbiter.stop();
    assert_eq!(
        exit_reason(&h.until(exited("remote")).await),
        ExitReason::Panic("the arbiter of this child stopped".into())
    );
}

/// Ignores `Shutdown`, and says on which thread it is dropped.
struct DroppedOn(mpsc::UnboundedSender<std::thread::ThreadId>);

impl Actor for DroppedOn {
    type Context = Context<Self>;
}

impl Handler<Shutdown> for DroppedOn {
    type Result = ();

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {}
}

impl Drop for DroppedOn {
    fn drop(&mut self) {
        let _ = self.0.send(std::thread::current().id());
    }
}

#[actix_rt::test]
async fn a_killed_child_on_another_arbiter_is_dropped_there_and_its_siblings_run_on() {
    let mut h = Harness::new();
    let arbiter = actix_rt::Arbiter::new();
    let arbiter_thread = {
        let (tx, mut rx) = mpsc::unbounded_channel();
        arbiter.spawn_fn(move || {
            let _ = tx.send(std::thread::current().id());
        });
        rx.recv().await.unwrap()
    };
    let (drops, mut dropped) = mpsc::unbounded_channel();
    let handle = arbiter.handle();
    let stubborn = ChildSpec::new("stubborn", move |ctx: ChildContext| {
        let drops = drops.clone();
        StartedChild::on_arbiter(&handle, 4, &ctx.exit, move || DroppedOn(drops)).1
    })
    .shutdown(ShutdownPolicy::BrutalKill);
    let sibling = h.remote_worker("sibling", &arbiter.handle());
    let sup = h.start(h.spec("sup", 1), vec![stubborn, sibling]).await;
    sup.send(TerminateChild("stubborn".into()))
        .await
        .expect("alive")
        .expect("exists");
    assert_eq!(
        exit_reason(&h.until(exited("stubborn")).await),
        ExitReason::Killed
    );
    assert_eq!(
        dropped.recv().await,
        Some(arbiter_thread),
        "the killed actor is dropped on its own arbiter"
    );
    // The sibling shares the arbiter (and its host) and still handles messages.
    h.addr("sibling").do_send(Order::Fail);
    assert_eq!(
        exit_reason(&h.until(exited("sibling")).await),
        ExitReason::Error("told to fail".into())
    );
    arbiter.stop();
}

/// A child on another arbiter that stops when asked ends with `Shutdown`; one that ignores the
/// request is killed once its timeout passes, the kill carried to its arbiter through its exit
/// slot.
#[actix_rt::test]
async fn a_child_on_another_arbiter_stops_when_asked_or_is_killed_after_its_timeout() {
    let mut h = Harness::new();
    let arbiter = actix_rt::Arbiter::new();
    let (drops, mut dropped) = mpsc::unbounded_channel();
    let handle = arbiter.handle();
    let stubborn = ChildSpec::new("stubborn", move |ctx: ChildContext| {
        let drops = drops.clone();
        StartedChild::on_arbiter(&handle, 4, &ctx.exit, move || DroppedOn(drops)).1
    })
    .shutdown(ShutdownPolicy::Timeout(Duration::from_secs(3)));
    let polite = h.remote_worker("polite", &arbiter.handle());
    let sup = h.start(h.spec("sup", 1), vec![stubborn, polite]).await;

    sup.send(TerminateChild("polite".into()))
        .await
        .expect("alive")
        .expect("exists");
    assert_eq!(
        exit_reason(&h.until(exited("polite")).await),
        ExitReason::Shutdown
    );
    // Paused only now: a paused clock jumps ahead whenever this thread idles, and it idles
    // while the polite child stops on its own thread.
    tokio::time::pause();
    terminated_after_its_timeout(&mut h, &sup, Duration::from_secs(3)).await;
    assert!(
        dropped.recv().await.is_some(),
        "the killed actor was dropped"
    );
    arbiter.stop();
}

fn strategy_spec(h: &Harness, strategy: Strategy, max_restarts: u32) -> SupervisorSpec {
    h.spec("sup", max_restarts).strategy(strategy)
}

/// The log lines from `from` on.
fn log_since(h: &Harness, from: usize) -> Vec<String> {
    h.log.lock()[from..].to_vec()
}

#[actix_rt::test]
async fn one_for_all_stops_the_siblings_in_reverse_order_and_restarts_all_in_start_order() {
    let mut h = Harness::new();
    let kids = vec![h.worker("a"), h.worker("b"), h.worker("c")];
    h.start(strategy_spec(&h, Strategy::OneForAll, 3), kids)
        .await;
    let mark = h.log.lock().len();
    h.addr("b").do_send(Order::Panic);
    assert_eq!(
        exit_reason(&h.until(exited("b")).await),
        ExitReason::Panic("b was told to panic".into())
    );
    assert_eq!(
        exit_reason(&h.until(exited("c")).await),
        ExitReason::Shutdown
    );
    assert_eq!(
        exit_reason(&h.until(exited("a")).await),
        ExitReason::Shutdown
    );
    h.until(started("c")).await;
    let log = log_since(&h, mark);
    let stops: Vec<_> = log
        .iter()
        .filter(|l| *l == "stop a" || *l == "stop c")
        .collect();
    assert_eq!(stops, ["stop c", "stop a"]);
    let starts: Vec<_> = log.iter().filter(|l| l.starts_with("start")).collect();
    assert_eq!(starts, ["start a", "start b", "start c"]);
    for id in ["a", "b", "c"] {
        assert_eq!(h.child("sup", id).await.unwrap().restarts, 1, "{id}");
    }
}

#[actix_rt::test]
async fn rest_for_one_restarts_the_crashed_child_and_those_started_after_it() {
    let mut h = Harness::new();
    let kids = vec![h.worker("a"), h.worker("b"), h.worker("c")];
    h.start(strategy_spec(&h, Strategy::RestForOne, 3), kids)
        .await;
    let mark = h.log.lock().len();
    h.addr("b").do_send(Order::Panic);
    h.until(exited("b")).await;
    assert_eq!(
        exit_reason(&h.until(exited("c")).await),
        ExitReason::Shutdown
    );
    h.until(started("c")).await;
    let starts: Vec<_> = log_since(&h, mark)
        .into_iter()
        .filter(|l| l.starts_with("start"))
        .collect();
    assert_eq!(starts, ["start b", "start c"]);
    assert_eq!(
        h.child("sup", "a").await.unwrap().restarts,
        0,
        "a was started before b: untouched"
    );
    assert_eq!(h.child("sup", "b").await.unwrap().restarts, 1);
    assert_eq!(h.child("sup", "c").await.unwrap().restarts, 1);
}

#[actix_rt::test]
async fn a_group_restart_counts_once_against_the_intensity() {
    let mut h = Harness::new();
    let kids = vec![h.worker("a"), h.worker("b"), h.worker("c")];
    h.start(strategy_spec(&h, Strategy::OneForAll, 1), kids)
        .await;
    h.addr("a").do_send(Order::Panic);
    // Three children restarted: one incident, within an intensity of 1.
    h.until(started("c")).await;
    h.addr("a").do_send(Order::Panic);
    let e = h
        .until(|e| matches!(e.kind, SupervisionEventKind::SupervisorGaveUp { .. }))
        .await;
    assert_eq!(e.child, "a");
}

#[actix_rt::test]
async fn one_for_all_removes_temporary_siblings_instead_of_restarting_them() {
    let mut h = Harness::new();
    let kids = vec![
        h.worker("p"),
        h.worker("tmp").restart(Restart::Temporary),
        h.worker("q"),
    ];
    h.start(strategy_spec(&h, Strategy::OneForAll, 3), kids)
        .await;
    h.addr("p").do_send(Order::Panic);
    h.until(started("q")).await;
    assert!(h.child("sup", "tmp").await.is_none());
    assert_eq!(
        h.child("sup", "p").await.unwrap().status,
        ChildStatus::Running
    );
}

#[actix_rt::test]
async fn a_normal_exit_of_a_transient_child_does_not_restart_its_group() {
    let mut h = Harness::new();
    let kids = vec![
        h.worker("a"),
        h.worker("t").restart(Restart::Transient),
        h.worker("c"),
    ];
    h.start(strategy_spec(&h, Strategy::OneForAll, 3), kids)
        .await;
    h.addr("t").do_send(Order::Quit);
    h.until(exited("t")).await;
    h.addr("c").do_send(Order::Panic);
    // The next decision is c's group restart; nothing happened to a in between.
    let e = h
        .until(|e| matches!(e.kind, SupervisionEventKind::ChildRestarted { .. }))
        .await;
    assert_eq!(
        e.child, "a",
        "a is restarted as part of c's group, not before"
    );
    assert_eq!(h.child("sup", "a").await.unwrap().restarts, 1);
}

#[actix_rt::test]
async fn a_simple_one_for_one_pool_stops_all_its_children_at_once() {
    tokio::time::pause();
    let mut h = Harness::new();
    let spec = h.spec("pool", 5).strategy(Strategy::SimpleOneForOne);
    let sup = Supervisor::new(spec, vec![], ExitSlot::default()).start();
    for i in 0..10 {
        let child = ChildSpec::new(format!("s{i}"), |_ctx| StartedChild::new(Stubborn, 4).1)
            .shutdown(ShutdownPolicy::Timeout(Duration::from_secs(5)));
        sup.send(StartChild(child))
            .await
            .expect("alive")
            .expect("added");
    }
    let t0 = tokio::time::Instant::now();
    sup.send(Shutdown).await.expect("alive");
    let mut killed = 0;
    while killed < 10 {
        let e = h
            .until(|e| matches!(e.kind, SupervisionEventKind::ChildExited { .. }))
            .await;
        assert_eq!(exit_reason(&e), ExitReason::Killed);
        killed += 1;
    }
    // Ten children that ignore the request, each with 5 s: one timeout in all, not ten.
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
}

/// Collects the `Down` messages it is sent.
struct Watcher(mpsc::UnboundedSender<Down>);

impl Actor for Watcher {
    type Context = Context<Self>;
}

impl Handler<Down> for Watcher {
    type Result = ();

    fn handle(&mut self, down: Down, _: &mut Context<Self>) {
        let _ = self.0.send(down);
    }
}

#[actix_rt::test]
async fn a_monitor_gets_one_down_per_incarnation_and_noproc_for_a_missing_child() {
    let mut h = Harness::new();
    let sup = h.start(h.spec("sup", 5), vec![h.worker("m")]).await;
    let (tx, mut downs) = mpsc::unbounded_channel();
    let watcher = Watcher(tx).start();
    sup.send(MonitorChild {
        id: "m".into(),
        watcher: watcher.clone().recipient(),
    })
    .await
    .expect("alive");
    h.addr("m").do_send(Order::Panic);
    h.until(started("m")).await;
    let down = downs.recv().await.expect("a down");
    assert_eq!((&*down.supervisor, down.child.as_str()), ("sup", "m"));
    assert_eq!(down.reason, ExitReason::Panic("m was told to panic".into()));
    // The restarted incarnation is not watched: its crash sends nothing.
    h.addr("m").do_send(Order::Panic);
    h.until(started("m")).await;
    sup.send(MonitorChild {
        id: "nobody".into(),
        watcher: watcher.recipient(),
    })
    .await
    .expect("alive");
    let down = downs.recv().await.expect("a down");
    assert_eq!(
        (down.child.as_str(), &down.reason),
        ("nobody", &ExitReason::NoProc)
    );
}

/// Panics inside a future it spawned on its own context, on its first message.
struct SpawnsAPanic;

impl Actor for SpawnsAPanic {
    type Context = Context<Self>;
}

impl Handler<Order> for SpawnsAPanic {
    type Result = ();

    fn handle(&mut self, _: Order, ctx: &mut Context<Self>) {
        ctx.spawn(fut::wrap_future(async {
            panic!("inside a spawned future");
        }));
    }
}

impl Handler<Shutdown> for SpawnsAPanic {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[actix_rt::test]
async fn a_panic_in_a_future_the_actor_spawned_is_seen_with_its_message() {
    let mut h = Harness::new();
    let (tx, mut addr_rx) = mpsc::unbounded_channel();
    let spec = ChildSpec::new("spawner", move |_ctx| {
        let (addr, child) = StartedChild::new(SpawnsAPanic, 4);
        let _ = tx.send(addr);
        child
    })
    .restart(Restart::Temporary);
    Supervisor::new(h.spec("sup", 1), vec![spec], ExitSlot::default()).start();
    addr_rx.recv().await.expect("started").do_send(Order::Quit);
    let e = h.until(exited("spawner")).await;
    assert_eq!(
        exit_reason(&e),
        ExitReason::Panic("inside a spawned future".into())
    );
}

#[actix_rt::test]
async fn brutal_kill_drops_a_child_without_asking() {
    tokio::time::pause();
    let mut h = Harness::new();
    let spec = ChildSpec::new("stubborn", |_ctx| StartedChild::new(Stubborn, 4).1)
        .shutdown(ShutdownPolicy::BrutalKill);
    let sup = h.start(h.spec("sup", 1), vec![spec]).await;
    let t0 = tokio::time::Instant::now();
    sup.send(TerminateChild("stubborn".into()))
        .await
        .expect("alive")
        .expect("exists");
    assert_eq!(
        t0.elapsed(),
        Duration::ZERO,
        "no shutdown timeout was waited for"
    );
    assert_eq!(
        exit_reason(&h.until(exited("stubborn")).await),
        ExitReason::Killed
    );
}

#[actix_rt::test]
async fn a_root_that_gives_up_tells_whoever_runs_it_why() {
    let mut h = Harness::new();
    let exit = ExitSlot::default();
    let root = Supervisor::new(h.spec("root", 0), vec![h.worker("only")], exit.clone());
    let (_addr, child) = StartedChild::new(root, 16);
    let running = actix_rt::spawn(child.run_unsupervised(exit));
    // Crash the only child once it is up: with intensity 0 the root gives up at once.
    h.until(started("only")).await;
    h.addr("only").do_send(Order::Panic);
    match running.await.expect("root future ran") {
        ExitReason::Error(why) => assert!(why.contains("root exceeded 0 restarts"), "{why}"),
        other => panic!("expected an error exit, got {other:?}"),
    }
}
