//! A full mailbox is a counted refusal, not unbounded memory.

// Helpers fail the test the way assertions do: by panicking with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use actix::prelude::*;
use hive_actors::{MailboxProbe, Refused};
use tokio::sync::oneshot;

/// Holds its mailbox closed to processing until `release` fires, so that its queue fills.
struct Jammed {
    probe: Arc<MailboxProbe>,
    release: Option<oneshot::Receiver<()>>,
}

#[derive(Message)]
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
