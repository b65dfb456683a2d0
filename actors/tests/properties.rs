//! Property: random supervisors (strategy, children, intensity) driven through random crash
//! schedules behave as OTP's model says. Each crash restarts exactly the group the strategy names,
//! in start order, until one incident more than the intensity, when the supervisor gives up and
//! starts nothing again; a clean shutdown stops the children in reverse start order.

// Helpers fail the test the way assertions do: by panicking with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use hive_actors::{
    Backoff, ChildContext, ChildSpec, ExitSlot, Intensity, Shutdown, StartedChild, Strategy,
    SupervisionEvent, SupervisionEventKind, Supervisor, SupervisorSpec, Tree,
};
use parking_lot::Mutex;
use proptest::prelude::*;
use tokio::sync::mpsc;

struct Worker {
    name: String,
    log: Arc<Mutex<Vec<String>>>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Crash;

impl Actor for Worker {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.log.lock().push(self.name.clone());
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

/// Longest (virtual) wait for an event the model expects; time is paused, so a missing event
/// fails at once rather than after this long.
const PATIENCE: Duration = Duration::from_secs(3600);

async fn next(events: &mut mpsc::UnboundedReceiver<SupervisionEvent>) -> SupervisionEvent {
    tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("an expected event")
        .expect("sink alive")
}

fn strategies() -> impl proptest::strategy::Strategy<Value = Strategy> {
    prop_oneof![
        Just(Strategy::OneForOne),
        Just(Strategy::OneForAll),
        Just(Strategy::RestForOne)
    ]
}

fn run_case(strategy: Strategy, children: usize, max_restarts: u32, crashes: Vec<usize>) {
    actix_rt::System::new().block_on(async move {
        tokio::time::pause();
        let (tx, mut events) = mpsc::unbounded_channel::<SupervisionEvent>();
        let sink = Arc::new(move |e: &SupervisionEvent| {
            let _ = tx.send(e.clone());
        });
        let addrs: Arc<Mutex<Vec<Option<Addr<Worker>>>>> =
            Arc::new(Mutex::new(vec![None; children]));
        let stops = Arc::new(Mutex::new(Vec::new()));
        let specs = (0..children)
            .map(|i| {
                let (addrs, stops) = (addrs.clone(), stops.clone());
                ChildSpec::new(format!("c{i}"), move |_: ChildContext| {
                    let worker = Worker {
                        name: format!("c{i}"),
                        log: stops.clone(),
                    };
                    let (addr, child) = StartedChild::new(worker, 8);
                    addrs.lock()[i] = Some(addr);
                    child
                })
                .backoff(Backoff::immediate())
            })
            .collect();
        let spec = SupervisorSpec::new("prop", Tree::default(), sink)
            .strategy(strategy)
            .intensity(Intensity {
                max_restarts,
                period: Duration::from_secs(60),
            });
        let sup = Supervisor::new(spec, specs, ExitSlot::default()).start();
        for _ in 0..children {
            assert!(matches!(
                next(&mut events).await.kind,
                SupervisionEventKind::ChildStarted { .. }
            ));
        }

        let mut incidents = 0u32;
        for victim in crashes {
            let victim = victim % children;
            let addr = addrs.lock()[victim].clone().expect("started");
            addr.do_send(Crash);
            // The crash is seen...
            let e = next(&mut events).await;
            assert_eq!(e.child, format!("c{victim}"));
            assert!(
                matches!(e.kind, SupervisionEventKind::ChildExited { .. }),
                "{e:?}"
            );
            incidents += 1;
            if incidents > max_restarts {
                // ...one incident too many: the supervisor gives up and starts nothing again.
                let mut gave_up = false;
                while let Ok(Some(e)) = tokio::time::timeout(PATIENCE, events.recv()).await {
                    assert!(
                        !matches!(e.kind, SupervisionEventKind::ChildStarted { .. }),
                        "started after giving up: {e:?}"
                    );
                    gave_up |= matches!(e.kind, SupervisionEventKind::SupervisorGaveUp { .. });
                }
                assert!(
                    gave_up,
                    "gave up after {incidents} incidents with intensity {max_restarts}"
                );
                return;
            }
            // ...and exactly the strategy's group starts again, in start order.
            let group: Vec<usize> = match strategy {
                Strategy::OneForOne => vec![victim],
                Strategy::OneForAll => (0..children).collect(),
                Strategy::RestForOne => (victim..children).collect(),
                _ => unreachable!("no other strategy is generated"),
            };
            let mut started = Vec::new();
            while started.len() < group.len() {
                let e = next(&mut events).await;
                match e.kind {
                    SupervisionEventKind::ChildStarted { .. } => started.push(e.child),
                    SupervisionEventKind::SupervisorGaveUp { .. } => {
                        panic!("gave up within intensity")
                    }
                    _ => {}
                }
            }
            let expected: Vec<String> = group.iter().map(|i| format!("c{i}")).collect();
            assert_eq!(started, expected);
        }

        stops.lock().clear();
        sup.send(Shutdown).await.expect("supervisor alive");
        while stops.lock().len() < children {
            next(&mut events).await;
        }
        let reverse: Vec<String> = (0..children).rev().map(|i| format!("c{i}")).collect();
        assert_eq!(*stops.lock(), reverse);
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_follow_the_model(
        strategy in strategies(),
        children in 1usize..6,
        max_restarts in 0u32..5,
        crashes in proptest::collection::vec(0usize..6, 0..8),
    ) {
        std::panic::set_hook(Box::new(|_| {}));
        let outcome = std::panic::catch_unwind(|| run_case(strategy, children, max_restarts, crashes));
        let _ = std::panic::take_hook();
        if let Err(payload) = outcome {
            std::panic::resume_unwind(payload);
        }
    }
}
