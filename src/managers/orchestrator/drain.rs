//! A graceful stop: no new attempt starts, running ones finish within the grace period or are
//! handed back, and the waiter is answered once the store has committed it all.

use actix::prelude::*;

use super::actor::Orchestrator;
use super::messages::Drain;
use crate::domain::task::TaskId;

impl Orchestrator {
    pub(super) fn drained(&mut self) -> bool {
        !self.tasks.values().any(|a| a.is_running())
    }
    /// Stop every running attempt and hand its task back without counting the attempt; answers
    /// the tasks handed back.
    pub(super) fn hand_back_running(&mut self, ctx: &mut Context<Self>) -> Vec<TaskId> {
        let running: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, a)| a.is_running())
            .map(|(id, _)| id.clone())
            .collect();
        for id in &running {
            self.stop_running(id, ctx, true);
            self.hand_back(id);
        }
        running
    }
    /// Hand back every running attempt without counting it, and tell the waiters once committed.
    pub(super) fn complete_drain(&mut self, ctx: &mut Context<Self>) {
        let Some(waiters) = self.draining.as_mut().map(std::mem::take) else {
            return;
        };
        if waiters.is_empty() {
            return;
        }
        self.hand_back_running(ctx);
        let rx = self.flush();
        ctx.spawn(
            async move {
                let _ = rx.await;
                for w in waiters {
                    let _ = w.send(());
                }
            }
            .into_actor(self),
        );
    }
}

impl Handler<Drain> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Drain { grace, reply }: Drain, ctx: &mut Context<Self>) {
        self.draining.get_or_insert_with(Vec::new).push(reply);
        if self.drained() {
            self.complete_drain(ctx);
        } else {
            ctx.run_later(grace, |act, ctx| act.complete_drain(ctx));
        }
    }
}
