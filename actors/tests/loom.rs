//! loom models of the concurrent counters in `hive-actors`. Run with
//! `RUSTFLAGS="--cfg hive_loom" cargo test -p hive-actors --test loom --release`; without the cfg
//! this file is empty.
#![cfg(hive_loom)]
// Helpers fail the test the way assertions do: by panicking with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hive_actors::MailboxProbe;
use loom::sync::Arc;
use loom::thread;

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
