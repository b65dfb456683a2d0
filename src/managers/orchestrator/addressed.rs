//! Tasks addressed to one agent: each agent's own queue, run one at a time in submission order
//! within a priority (most urgent first), before any task of its role. A task waiting out a
//! retry's backoff holds its agent's queue, so a later task never overtakes it; a queue waits
//! while its agent restarts, and ends `cancelled` when the agent is deleted.

use actix::prelude::*;

use super::actor::Orchestrator;
use super::messages::QueueOf;
use crate::domain::agent::AgentId;
use crate::domain::task::{Priority, TaskId, TaskStatus};

impl Orchestrator {
    /// How many unfinished tasks are addressed to `agent`.
    pub(super) fn addressed_to(&self, agent: &str) -> usize {
        self.addressed.get(agent).map_or(0, |q| q.unfinished)
    }

    /// A task addressed to `agent` is held here, or a submission to it is on its way to the
    /// store: it counts against the agent's bound.
    pub(super) fn addressed_held(&mut self, agent: &AgentId) {
        self.addressed.entry(agent.clone()).or_default().unfinished += 1;
        self.hive.metrics.addressed_queued.inc();
    }

    /// A task addressed to `agent` ended (or a submission's wait for the store did).
    pub(super) fn addressed_gone(&mut self, agent: &AgentId) {
        if let Some(queue) = self.addressed.get_mut(agent) {
            queue.unfinished = queue.unfinished.saturating_sub(1);
            self.hive.metrics.addressed_queued.dec();
            if queue.unfinished == 0 && queue.queued() == 0 {
                self.addressed.remove(agent);
            }
        }
    }

    /// Put an addressed task in its agent's queue (at the front when it comes back from a
    /// retry's backoff or a hand-back) and start it if the agent is free.
    pub(super) fn enqueue_addressed(
        &mut self,
        agent: AgentId,
        id: TaskId,
        priority: Priority,
        front: bool,
        ctx: &mut Context<Self>,
    ) {
        let queue = self.addressed.entry(agent.clone()).or_default();
        let line = &mut queue.by_priority[priority.index()];
        if front {
            line.push_front(id);
        } else {
            line.push_back(id);
        }
        self.wake(agent, ctx);
    }

    /// `agent` may be free for its own queue: start the next addressed task on it if it is idle.
    pub(super) fn wake(&mut self, agent: AgentId, ctx: &mut Context<Self>) {
        if self.draining.is_some() || self.hive.cluster().is_some_and(|c| !c.lease_held()) {
            return;
        }
        let Some(slot) = self.agents.get(&agent) else {
            return; // not up: its queue waits for it
        };
        if slot.task.is_some() || self.jammed.contains(&agent) {
            return;
        }
        let role = slot.role().clone();
        let Some((priority, id)) = self
            .addressed
            .get(&agent)
            .and_then(|q| q.next().map(|(p, id)| (p, id.clone())))
        else {
            return;
        };
        if let Some(queues) = self.roles.get_mut(&role) {
            queues.idle.remove(&agent);
        }
        if let Some(queue) = self.addressed.get_mut(&agent) {
            queue.by_priority[priority.index()].pop_front();
        }
        self.start_attempt(id, agent, ctx);
    }

    /// A task addressed to `agent` began or ended a retry's backoff.
    pub(super) fn addressed_backoff(&mut self, agent: &AgentId, waiting: bool) {
        if let Some(queue) = self.addressed.get_mut(agent) {
            if waiting {
                queue.backing_off += 1;
            } else {
                queue.backing_off = queue.backing_off.saturating_sub(1);
            }
        }
    }

    /// Take a queued task out of its agent's queue (it was cancelled).
    pub(super) fn unqueue_addressed(&mut self, agent: &AgentId, id: &TaskId, priority: Priority) {
        if let Some(queue) = self.addressed.get_mut(agent) {
            let line = &mut queue.by_priority[priority.index()];
            if let Some(pos) = line.iter().position(|q| q == id) {
                line.remove(pos);
            }
        }
    }

    /// `agent` was deleted: every task addressed to it ends `cancelled`, saying why.
    pub(super) fn cancel_addressed(&mut self, agent: &AgentId, ctx: &mut Context<Self>) {
        let ids: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, a)| a.spec.agent.as_ref() == Some(agent))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.stop_running(&id, ctx, false);
            if let Some(active) = self.tasks.get_mut(&id) {
                active.task.error = Some(format!("cancelled: agent {agent} was deleted"));
            }
            self.finish(&id, TaskStatus::Cancelled, None);
        }
    }
}

/// Most queued ids a [`QueueOf`] answers.
const QUEUE_SHOWN: usize = 100;

impl Handler<QueueOf> for Orchestrator {
    type Result = ();

    fn handle(&mut self, QueueOf { agent, reply }: QueueOf, _: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let answer = self
            .addressed
            .get(agent.as_str())
            .map_or_else(Default::default, |q| {
                let queued = Priority::BY_URGENCY
                    .into_iter()
                    .flat_map(|p| q.by_priority[p.index()].iter())
                    .take(QUEUE_SHOWN)
                    .map(|id| id.to_string())
                    .collect();
                (q.unfinished, queued)
            });
        let _ = reply.send(answer);
    }
}
