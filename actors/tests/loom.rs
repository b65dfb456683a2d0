//! loom models of the concurrent pieces of `hive-actors`: probe counters, kills, and the host that
//! runs remote children. Run with `RUSTFLAGS="--cfg hive_loom" cargo test -p hive-actors --test loom
//! --release`; without the cfg this file is empty.
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

impl Flag {
    /// A lowered flag and the waker that raises it.
    fn waker() -> (std::sync::Arc<Flag>, std::task::Waker) {
        let flag = std::sync::Arc::new(Flag(loom::sync::atomic::AtomicBool::new(false)));
        (flag.clone(), std::task::Waker::from(flag))
    }

    fn lower(&self) {
        self.0.store(false, loom::sync::atomic::Ordering::SeqCst);
    }

    fn raised(&self) -> bool {
        self.0.load(loom::sync::atomic::Ordering::SeqCst)
    }
}

/// After a race with the host's poll: the child is gone, or the host was woken to poll it
/// again, and that poll ends it.
fn ended_or_host_woken(
    host: &hive_actors::remote::Host,
    cx: &mut std::task::Context<'_>,
    flag: &Flag,
    what: &str,
) {
    if host.len() == 1 {
        assert!(
            flag.raised(),
            "{what} was neither seen nor signalled to the host"
        );
        let _ = host.poll_children(cx);
    }
    assert_eq!(host.len(), 0, "after {what}, the child ended");
}

/// A kill from another thread while the supervisor polls the child: either the poll sees the
/// kill, or the kill wakes the waker the poll left, so the child is never left running.
#[test]
fn a_kill_is_never_lost_between_polls() {
    loom::model(|| {
        let slot = hive_actors::ExitSlot::default();
        let (flag, waker) = Flag::waker();
        let cx = std::task::Context::from_waker(&waker);
        let killer = {
            let slot = slot.clone();
            thread::spawn(move || slot.kill())
        };
        let seen = slot.poll_killed(&cx);
        killer.join().unwrap();
        let woken = flag.raised();
        assert!(seen || woken, "the kill was neither seen nor signalled");
        assert!(slot.poll_killed(&cx), "a kill stays visible");
    });
}

/// A child woken from another thread while its host polls it: either the host's poll saw what
/// the wake announced, or the wake queued the child again and woke the host, so a message is
/// never left unhandled in a hosted child's mailbox.
#[test]
fn a_wake_from_another_thread_always_reaches_the_host() {
    loom::model(|| {
        let host = hive_actors::remote::Host::default();
        let (child, _supervisor) = hive_actors::remote::link(hive_actors::ExitSlot::default());
        let signal = Arc::new(Signal::default());
        host.add(child, Waiting(signal.clone()));
        let (flag, waker) = Flag::waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let sender = {
            let signal = signal.clone();
            thread::spawn(move || signal.raise())
        };
        let _ = host.poll_children(&mut cx);
        sender.join().unwrap();
        ended_or_host_woken(&host, &mut cx, &flag, "the wake");
    });
}

/// The supervisor drops its end (a kill) while the child's host polls: either that poll sees
/// the kill and drops the child, or the kill wakes the host to see it next time.
#[test]
fn a_remote_kill_is_never_lost_between_polls() {
    loom::model(|| {
        let host = hive_actors::remote::Host::default();
        let (child, supervisor) = hive_actors::remote::link(hive_actors::ExitSlot::default());
        host.add(child, std::future::pending::<()>());
        let (flag, waker) = Flag::waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let _ = host.poll_children(&mut cx);
        flag.lower();
        let killer = thread::spawn(move || drop(supervisor));
        let _ = host.poll_children(&mut cx);
        killer.join().unwrap();
        ended_or_host_woken(&host, &mut cx, &flag, "the kill");
    });
}

/// A kill through a remote child's exit slot (a shutdown timeout) from another thread while its
/// host polls: either that poll sees the kill, or the kill wakes the child in its host.
#[test]
fn a_kill_through_the_exit_slot_reaches_a_remote_child() {
    loom::model(|| {
        let host = hive_actors::remote::Host::default();
        let slot = hive_actors::ExitSlot::default();
        let (child, _supervisor) = hive_actors::remote::link(slot.clone());
        host.add(child, std::future::pending::<()>());
        let (flag, waker) = Flag::waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let _ = host.poll_children(&mut cx);
        flag.lower();
        let killer = thread::spawn(move || slot.kill());
        let _ = host.poll_children(&mut cx);
        killer.join().unwrap();
        ended_or_host_woken(&host, &mut cx, &flag, "the kill");
    });
}

/// A child on another arbiter ends while its supervisor starts to watch it: whichever comes
/// first, the end is queued for the supervisor exactly once and wakes it.
#[test]
fn a_remote_end_is_reported_once_whether_it_comes_before_or_after_the_watch() {
    loom::model(|| {
        let (child, supervisor) = hive_actors::remote::link(hive_actors::ExitSlot::default());
        let ends = hive_actors::remote::EndQueue::default();
        let (flag, waker) = Flag::waker();
        let cx = std::task::Context::from_waker(&waker);
        assert!(ends.take(&cx).is_empty());
        let runner = thread::spawn(move || {
            let host = hive_actors::remote::Host::default();
            host.add(child, std::future::ready(()));
            let _ =
                host.poll_children(&mut std::task::Context::from_waker(std::task::Waker::noop()));
            assert_eq!(host.len(), 0);
        });
        supervisor.watch().report_to(&ends, 7);
        runner.join().unwrap();
        assert!(flag.raised(), "the end woke the supervisor");
        assert_eq!(
            ends.take(&cx),
            [(7, hive_actors::ExitReason::Normal)],
            "the end, once"
        );
        assert!(ends.take(&cx).is_empty(), "and only once");
        drop(supervisor);
    });
}

/// A flag raised from another thread, with the waker of the future waiting for it.
#[derive(Default)]
struct Signal {
    raised: loom::sync::atomic::AtomicBool,
    waiter: loom::sync::Mutex<Option<std::task::Waker>>,
}

impl Signal {
    fn raise(&self) {
        self.raised
            .store(true, loom::sync::atomic::Ordering::SeqCst);
        if let Some(waker) = self.waiter.lock().unwrap().take() {
            waker.wake();
        }
    }
}

/// A child that ends once its signal is raised, as an actor ends on a message.
struct Waiting(Arc<Signal>);

impl Future for Waiting {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        *self.0.waiter.lock().unwrap() = Some(cx.waker().clone());
        if self.0.raised.load(loom::sync::atomic::Ordering::SeqCst) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}
