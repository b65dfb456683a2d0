//! A full mailbox is a counted refusal, not unbounded memory.

// Helpers fail the test the way assertions do: by panicking with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use actix::prelude::*;
use hive_actors::{MailboxProbe, Refused};
use tokio::sync::oneshot;

/// Holds its mailbox closed to processing until `release` fires, so that its queue fills; tells
/// `gone` when it stops.
struct Jammed {
    probe: Arc<MailboxProbe>,
    release: Option<oneshot::Receiver<()>>,
    gone: Option<oneshot::Sender<()>>,
}

#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Work;

impl Actor for Jammed {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(release) = self.release.take() {
            ctx.wait(fut::wrap_future(async move {
                let _ = release.await;
            }));
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(gone) = self.gone.take() {
            let _ = gone.send(());
        }
    }
}

impl Handler<Work> for Jammed {
    type Result = ();

    fn handle(&mut self, _: Work, _: &mut Context<Self>) {
        self.probe.handled();
    }
}

#[actix_rt::test]
async fn try_send_beyond_capacity_is_refused_and_counted() {
    let probe = Arc::new(MailboxProbe::new("jammed", 4));
    let (release, held) = oneshot::channel();
    let mut ctx = Context::<Jammed>::new();
    ctx.set_mailbox_capacity(4);
    let addr = ctx.run(Jammed {
        probe: probe.clone(),
        release: Some(held),
        gone: None,
    });

    let mut accepted = 0;
    let mut refused = 0;
    for _ in 0..20 {
        match probe.try_send(&addr, Work) {
            Ok(()) => accepted += 1,
            Err(Refused::Full { .. }) => refused += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(accepted, 4, "exactly the capacity is admitted");
    assert_eq!(refused, 16);
    let reading = probe.reading();
    assert_eq!(
        (reading.depth, reading.refusals, reading.handled),
        (4, 16, 0)
    );

    release.send(()).expect("actor waiting");
    // A request queued behind the four is answered after they are handled.
    probe.enqueued();
    addr.send(Work).await.expect("actor alive");
    let reading = probe.reading();
    assert_eq!(
        (reading.depth, reading.handled),
        (0, 5),
        "the four queued messages and the request"
    );
}

#[actix_rt::test]
async fn a_weak_address_reaches_a_live_actor_and_finds_a_stopped_one_closed() {
    let probe = Arc::new(MailboxProbe::new("watched", 4));
    let (gone, stopped) = oneshot::channel();
    let addr = Jammed {
        probe: probe.clone(),
        release: None,
        gone: Some(gone),
    }
    .start();
    let weak = addr.downgrade();

    probe
        .try_send_weak(&weak, Work)
        .expect("the actor is running");
    probe.enqueued();
    addr.send(Work).await.expect("actor alive");
    assert_eq!(probe.reading().handled, 2);

    // The last strong address gone, the actor stops; the weak one does not keep it alive.
    drop(addr);
    stopped.await.expect("the actor stops");
    match probe.try_send_weak(&weak, Work) {
        Err(Refused::Closed { kind, .. }) => assert_eq!(kind, "watched"),
        other => panic!("expected Closed, got {other:?}"),
    }
    probe.do_send_weak(&weak, Work);
    let reading = probe.reading();
    assert_eq!(
        (reading.depth, reading.refusals, reading.handled),
        (0, 0, 2),
        "nothing was counted for the stopped actor"
    );
}
