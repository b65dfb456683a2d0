//! loom models of the concurrent counters in `hive-actors`. Run with
//! `RUSTFLAGS="--cfg hive_loom" cargo test -p hive-actors --test loom --release`; without the cfg
//! this file is empty.
#![cfg(hive_loom)]
// Helpers fail the test the way assertions do: by panicking with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hive_actors::MailboxProbe;
use loom::sync::Arc;
use loom::thread;
use std::future::Future;

/// Senders and a handler on different threads: whatever the interleaving, the depth returns to
/// zero, every message is handled once, and every refusal is counted.
#[test]
fn probe_counts_survive_every_interleaving() {
    loom::model(|| {
        let probe = Arc::new(MailboxProbe::new("model", 1));
        let sender = {
            let probe = probe.clone();
            thread::spawn(move || {
                probe.enqueued();
                probe.enqueued();
                probe.refused();
            })
        };
        let handler = {
            let probe = probe.clone();
            thread::spawn(move || {
                probe.enqueued();
                probe.handled();
            })
        };
        sender.join().unwrap();
        handler.join().unwrap();
        probe.handled();
        let reading = probe.reading();
        assert_eq!(reading.depth, 0);
        assert_eq!(reading.handled, 2);
        assert_eq!(reading.refusals, 1);
    });
}

/// Sets a loom flag when woken, so that a model can ask whether a wake happened.
struct Flag(loom::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, loom::sync::atomic::Ordering::SeqCst);
    }
}

/// A kill from another thread while the supervisor polls the child: either the poll sees the
/// kill, or the kill wakes the waker the poll left, so the child is never left running.
#[test]
fn a_kill_is_never_lost_between_polls() {
    loom::model(|| {
        let slot = hive_actors::ExitSlot::default();
        let flag = std::sync::Arc::new(Flag(loom::sync::atomic::AtomicBool::new(false)));
        let waker = std::task::Waker::from(flag.clone());
        let cx = std::task::Context::from_waker(&waker);
        let killer = {
            let slot = slot.clone();
            thread::spawn(move || slot.kill())
        };
        let seen = slot.poll_killed(&cx);
        killer.join().unwrap();
        let woken = flag.0.load(loom::sync::atomic::Ordering::SeqCst);
        assert!(seen || woken, "the kill was neither seen nor signalled");
        assert!(slot.poll_killed(&cx), "a kill stays visible");
    });
}

/// A child on another arbiter ends while its supervisor polls the link: either the poll sees
/// the end, or the end wakes the waker the poll left, so an exit is never lost.
#[test]
fn a_remote_end_is_never_lost_between_polls() {
    loom::model(|| {
        let (child, mut supervisor) = hive_actors::remote::link();
        let flag = std::sync::Arc::new(Flag(loom::sync::atomic::AtomicBool::new(false)));
        let waker = std::task::Waker::from(flag.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let runner = thread::spawn(move || {
            let mut linked = child.run(std::future::ready(()));
            let noop = std::task::Waker::noop();
            let polled =
                std::pin::Pin::new(&mut linked).poll(&mut std::task::Context::from_waker(noop));
            assert!(polled.is_ready());
        });
        let seen = std::pin::Pin::new(&mut supervisor).poll(&mut cx).is_ready();
        runner.join().unwrap();
        let woken = flag.0.load(loom::sync::atomic::Ordering::SeqCst);
        assert!(seen || woken, "the end was neither seen nor signalled");
        if !seen {
            assert!(std::pin::Pin::new(&mut supervisor).poll(&mut cx).is_ready());
        }
    });
}

/// The supervisor drops its end (a kill) while the child's arbiter polls it: either that poll
/// sees the kill and ends the child, or the kill wakes the child's task to see it next time.
#[test]
fn a_remote_kill_is_never_lost_between_polls() {
    loom::model(|| {
        let (child, supervisor) = hive_actors::remote::link();
        let flag = std::sync::Arc::new(Flag(loom::sync::atomic::AtomicBool::new(false)));
        let waker = std::task::Waker::from(flag.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut linked = child.run(std::future::pending::<()>());
        let killer = thread::spawn(move || drop(supervisor));
        let ended = std::pin::Pin::new(&mut linked).poll(&mut cx).is_ready();
        killer.join().unwrap();
        let woken = flag.0.load(loom::sync::atomic::Ordering::SeqCst);
        assert!(ended || woken, "the kill was neither seen nor signalled");
        assert!(
            std::pin::Pin::new(&mut linked).poll(&mut cx).is_ready(),
            "a kill stays visible"
        );
    });
}
