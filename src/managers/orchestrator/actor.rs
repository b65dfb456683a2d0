//! The Orchestrator actor: its state, and the messages it answers itself. What it does with
//! them lives beside it, by concern: `queues`, `attempt`,
//! `dispatch`, `recovery`, `handoff`,
//! `drain`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use hive_actors::{Refused, Shutdown};
use serde_json::Value;
use tokio::sync::oneshot;

use super::attempt::{self, Active, Failure, State};
use super::messages::{
    AgentDown, CancelOutcome, CancelTask, PoolLoad, PoolLoads, RestartAgent, RestartOutcome,
    Submit, SubmitError,
};
use super::queues::{AgentQueue, RoleQueues};
use crate::agents::agent::Restart;
use crate::agents::outcome::{Done, TaskError};
use crate::agents::report::{AgentUp, TaskFinished};
use crate::bus::event::TaskChange;
use crate::context::Hive;
use crate::domain::agent::{check_state, AgentId};
use crate::domain::names::Role;
use crate::domain::task::{
    bounded_result, Priority, TaskId, TaskRecord, TaskSpec, TaskState, TaskStatus,
};
use crate::domain::time::now_ms;
use crate::domain::workflow::Handoff;
use crate::managers::agent_slots::{AgentSlot, AgentSlots};
use crate::managers::slot::Slot;
use crate::metrics::Phase;
use crate::store::manager::{Persist, StoreManager, Write};
use crate::store::StoreError;

/// What a successful attempt's answer stores besides its result, in the same transaction.
#[derive(Debug, Default)]
pub(super) struct Answer {
    /// The new state of the agent that answered (`None` inside is null).
    pub agent_state: Option<(AgentId, Option<Arc<Value>>)>,
    /// The tasks it handed over.
    pub sends: Vec<TaskRecord>,
}

/// How often a backlog spilled to the store is checked for room to read more of it.
const REFILL_EVERY: Duration = Duration::from_millis(100);

pub struct Orchestrator {
    pub(super) hive: Hive,
    pub(super) store: Arc<Slot<StoreManager>>,
    pub(super) tasks: HashMap<TaskId, Active>,
    pub(super) roles: HashMap<Role, RoleQueues>,
    pub(super) agents: AgentSlots,
    pub(super) draining: Option<Vec<oneshot::Sender<()>>>,
    /// Submissions sent to the store and not yet answered: they count against the backlog.
    pub(super) accepting: usize,
    /// Unfinished tasks a restart found beyond what this node holds at once: they wait in the
    /// store (inputs and all), count against the backlog, and are read a page at a time as
    /// room frees, after the task `spill_after`.
    pub(super) spilled: usize,
    pub(super) spill_after: Option<String>,
    pub(super) refilling: bool,
    /// Each agent's own queue of tasks addressed to it.
    pub(super) addressed: HashMap<AgentId, AgentQueue>,
    /// Agents that became free since the last dispatch: their own queues go first.
    pub(super) freed: Vec<AgentId>,
    /// Agents whose mailbox was full: offered work again after a pause.
    pub(super) jammed: HashSet<AgentId>,
}

impl Orchestrator {
    pub fn new(hive: Hive, store: Arc<Slot<StoreManager>>) -> Self {
        Self {
            hive,
            store,
            tasks: HashMap::new(),
            roles: HashMap::new(),
            agents: AgentSlots::default(),
            draining: None,
            accepting: 0,
            spilled: 0,
            spill_after: None,
            refilling: false,
            addressed: HashMap::new(),
            freed: Vec::new(),
            jammed: HashSet::new(),
        }
    }

    /// Store the task's new state; `change`, if any, is announced by the store once that state
    /// is committed, so that whoever reacts to an event reads at least the state it announces.
    pub(super) fn persist(&self, spec: Arc<TaskSpec>, task: TaskState, change: Option<TaskChange>) {
        self.persist_with(spec, task, change, Answer::default());
    }

    /// [`Self::persist`], with what a successful answer adds, written in the same transaction.
    pub(super) fn persist_with(
        &self,
        spec: Arc<TaskSpec>,
        task: TaskState,
        change: Option<TaskChange>,
        answer: Answer,
    ) {
        let Answer { agent_state, sends } = answer;
        if let Some(store) = self.store.get() {
            // State changes of accepted tasks: at most a few per attempt, bounded by running work.
            // The spec is shared, not copied: only the state is new.
            let write = Write::UpdateTask {
                spec,
                state: task,
                change,
                agent_state,
                sends,
            };
            self.hive.kinds.store.do_send(&store, Persist(write));
        }
    }

    /// Resolves once every write sent to the store before it is committed (or the store is gone).
    pub(super) fn flush(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if let Some(store) = self.store.get() {
            self.hive
                .kinds
                .store
                .do_send(&store, crate::store::manager::Flush(tx));
        }
        rx
    }

    /// Whether `count` new tasks may be taken now: not while draining, nor past the backlog's
    /// bound.
    pub(super) fn room_for(&self, count: usize) -> Result<(), SubmitError> {
        if self.draining.is_some() {
            return Err(SubmitError::Draining);
        }
        let limit = self.hive.config.queued_task_limit();
        if self.backlog() + count > limit {
            return Err(SubmitError::Backlog { limit });
        }
        Ok(())
    }

    /// Send a creation to the store, through its probe: a full store is a refusal to say.
    pub(super) fn create(&self, write: Write) -> Result<(), SubmitError> {
        let store = self
            .store
            .get()
            .ok_or_else(|| SubmitError::Store(Arc::new(StoreError::Unavailable)))?;
        self.hive
            .kinds
            .store
            .try_send(&store, Persist(write))
            .map_err(|refused| match refused {
                Refused::Full { .. } => SubmitError::StoreBusy,
                Refused::Closed { .. } => SubmitError::Store(Arc::new(StoreError::Unavailable)),
            })
    }

    /// Unfinished tasks held here or waiting in the store for room, and submissions on their
    /// way to being.
    pub(super) fn backlog(&self) -> usize {
        self.tasks.len() + self.accepting + self.spilled
    }

    pub(super) fn backlog_gauge(&self) {
        self.hive
            .metrics
            .task_backlog
            .set(i64::try_from(self.backlog()).unwrap_or(i64::MAX));
    }

    /// After a task joined or left a class's queue: its depth gauge and its oldest task's age.
    pub(super) fn queue_gauge(&self, priority: Priority, delta: i64) {
        self.hive
            .metrics
            .task_queue_depth
            .with_label_values(&[priority.as_str()])
            .add(delta);
        let oldest = self
            .roles
            .values()
            .filter_map(|q| q.by_priority[priority.index()].front())
            .filter_map(|id| self.tasks.get(id).map(|a| a.queued_at))
            .min();
        self.hive.queue_ages.set(priority, oldest);
    }
}

impl Actor for Orchestrator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.hive.kinds.orchestrator.actor_started();
        self.recover(ctx);
        ctx.run_interval(REFILL_EVERY, |act, ctx| act.refill(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.hive.kinds.orchestrator.actor_stopped();
    }
}

impl Handler<Submit> for Orchestrator {
    type Result = ();

    fn handle(&mut self, submit: Submit, ctx: &mut Context<Self>) {
        let Submit {
            task,
            role,
            mut clock,
            reply,
        } = submit;
        clock.lap(&self.hive.metrics.submit_phases, Phase::ToOrchestrator);
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        if let Err(refused) = self.room_for(1) {
            let _ = reply.send(Err(refused));
            return;
        }
        let agent: Option<AgentId> = task.agent.as_ref().map(|a| a.0.as_str().into());
        if let Some(agent) = &agent {
            let limit = self.hive.settings.load().max_agent_queue;
            if self.addressed_to(agent) >= limit {
                let agent = agent.to_string();
                let _ = reply.send(Err(SubmitError::AgentQueue { agent, limit }));
                return;
            }
        }
        let mut record = TaskRecord::accepted(task, role, now_ms());
        if agent.is_some() {
            // Its agent is here (another node's agent has the call forwarded there): held here
            // from the start, also while it waits for dependencies.
            record.node = self.hive.cluster().map(|c| c.node.to_string());
        }
        let _span = tracing::info_span!("task", task_id = %record.id).entered();
        let (tx, rx) = oneshot::channel();
        let write = Write::CreateTask {
            task: record,
            clock: Some(clock),
            reply: tx,
        };
        if let Err(refused) = self.create(write) {
            let _ = reply.send(Err(refused));
            return;
        }
        self.accepting += 1;
        self.backlog_gauge();
        if let Some(agent) = &agent {
            self.addressed_held(agent);
        }
        ctx.spawn(rx.into_actor(self).map(move |committed, act, ctx| {
            act.accepting -= 1;
            act.backlog_gauge();
            // Held from here on as a task, if it was accepted (see `queue`).
            if let Some(agent) = &agent {
                act.addressed_gone(agent);
            }
            let answer = match committed {
                Ok(Ok(mut created)) => {
                    if let Some(clock) = &mut created.clock {
                        clock.lap(&act.hive.metrics.submit_phases, Phase::Answer);
                    }
                    if !created.existing {
                        act.hive
                            .metrics
                            .tasks_submitted
                            .with_label_values(&[created.task.priority.as_str()])
                            .inc();
                    }
                    // A task that waits for others runs once the store releases it.
                    let queued = created.task.status == TaskStatus::Queued;
                    if !created.existing && queued {
                        if let Some(cluster) = act.hive.cluster().filter(|_| agent.is_none()) {
                            // Answered once the task is on a stream, or held here. A task
                            // addressed to an agent of this node was held here at creation.
                            act.distribute(cluster.clone(), created, Some(reply), ctx);
                            return;
                        }
                        act.admit(created.task.clone(), ctx);
                    }
                    Ok(created)
                }
                Ok(Err(e)) => Err(SubmitError::Store(e)),
                Err(_) => Err(SubmitError::Store(Arc::new(StoreError::Unavailable))),
            };
            let _ = reply.send(answer);
        }));
    }
}

impl Handler<CancelTask> for Orchestrator {
    type Result = ();

    fn handle(&mut self, CancelTask { id, reply }: CancelTask, ctx: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        let Some(key) = self
            .tasks
            .get_key_value(id.as_str())
            .map(|(k, _)| k.clone())
        else {
            let _ = reply.send(CancelOutcome::NotActive);
            return;
        };
        let freed = self.stop_running(&key, ctx, true);
        let record = self.finish(&key, TaskStatus::Cancelled, None);
        if let Some(role) = freed.and_then(|a| self.agents.get(&a).map(|s| s.role().clone())) {
            self.dispatch(&role, ctx);
        }
        let outcome = record.map_or(CancelOutcome::NotActive, |r| {
            CancelOutcome::Cancelled(Box::new(r))
        });
        // Answered once the cancellation is committed, so a read right after the answer sees it.
        let flushed = self.flush();
        ctx.spawn(
            async move {
                let _ = flushed.await;
                let _ = reply.send(outcome);
            }
            .into_actor(self),
        );
    }
}

impl Handler<AgentUp> for Orchestrator {
    type Result = ();

    fn handle(&mut self, up: AgentUp, ctx: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        let (id, role) = (up.entry.info.id.clone(), up.entry.info.role().clone());
        tracing::debug!(agent = %id, role = %role, "agent up");
        self.agents.insert(AgentSlot {
            entry: up.entry,
            addr: up.addr.downgrade(),
            task: None,
        });
        self.roles
            .entry(role.clone())
            .or_default()
            .idle
            .insert(id.clone());
        self.freed.push(id);
        self.room();
        self.dispatch(&role, ctx);
    }
}

impl Handler<PoolLoads> for Orchestrator {
    type Result = ();

    fn handle(&mut self, PoolLoads { roles, reply }: PoolLoads, _: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        let loads = roles
            .iter()
            .map(|role| {
                let mut load = PoolLoad {
                    agents: self.agents.values().filter(|a| a.role() == role).count(),
                    ..PoolLoad::default()
                };
                if let Some(queues) = self.roles.get(role) {
                    load.idle = queues.idle.iter().cloned().collect();
                    for (i, queue) in queues.by_priority.iter().enumerate() {
                        load.queued[i] = queue.len();
                        load.oldest_wait_ms[i] = queue
                            .front()
                            .and_then(|id| self.tasks.get(id))
                            .map_or(0, |a| a.queued_at.elapsed().as_millis() as u64);
                    }
                }
                load
            })
            .collect();
        let _ = reply.send(loads);
    }
}

impl Handler<RestartAgent> for Orchestrator {
    type Result = ();

    fn handle(&mut self, RestartAgent { id, reply }: RestartAgent, _: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        // The agent's address is weak (see `AgentSlot`), so each send has a fresh sender, which
        // actix's per-sender bound never refuses; at most one restart per incarnation is sent.
        let outcome = match self.agents.get(id.as_str()) {
            None => RestartOutcome::NotRunning,
            Some(slot) if !slot.entry.request_restart() => RestartOutcome::Restarting,
            Some(slot) => match self.hive.kinds.agent.try_send_weak(&slot.addr, Restart) {
                Ok(()) => RestartOutcome::Restarting,
                Err(refused) => {
                    slot.entry.restart_not_sent();
                    match refused {
                        hive_actors::Refused::Full { .. } => RestartOutcome::Busy,
                        hive_actors::Refused::Closed { .. } => RestartOutcome::NotRunning,
                    }
                }
            },
        };
        let _ = reply.send(outcome);
    }
}

impl Handler<AgentDown> for Orchestrator {
    type Result = ();

    fn handle(&mut self, down: AgentDown, ctx: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        self.agent_down(&down.id, &down.reason, down.crashed, ctx);
        if down.deleted {
            self.cancel_addressed(&down.id, ctx);
        }
        if let Some(ack) = down.ack {
            let flushed = self.flush();
            ctx.spawn(
                async move {
                    let _ = flushed.await;
                    let _ = ack.send(());
                }
                .into_actor(self),
            );
        }
    }
}

impl Handler<TaskFinished> for Orchestrator {
    type Result = ();

    fn handle(&mut self, done: TaskFinished, ctx: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        let _span = attempt::span(&done.task_id, &done.agent_id, done.attempt).entered();
        tracing::debug!(ok = done.outcome.is_ok(), "attempt finished");
        let current = self.tasks.get(&done.task_id).is_some_and(|a| {
            a.task.attempts == done.attempt
                && matches!(&a.state, State::Running { agent, .. } if *agent == done.agent_id)
        });
        if !current {
            return; // a late result of an attempt already given up on
        }
        self.stop_running(&done.task_id, ctx, false);
        match done.outcome {
            Ok(Done {
                result,
                state,
                send,
            }) => {
                let (truncate, role) = self
                    .tasks
                    .get(&done.task_id)
                    .map(|a| (a.spec.truncate_result, a.spec.role.clone()))
                    .unzip();
                let truncate = truncate.unwrap_or(false);
                let limit = self.hive.config.max_result_bytes;
                let state_limit = self.hive.config.max_agent_state_bytes;
                // Another attempt would produce as large a state, or the same hand-offs: no retry.
                let state_checked = match &state {
                    Some(new) => check_state(new, state_limit).map(drop),
                    None => Ok(()),
                };
                let sends = state_checked.and_then(|()| match (send, role) {
                    (Some(send), Some(role)) => {
                        let now = now_ms();
                        Handoff::parse_all(&send).map(|all| {
                            all.into_iter()
                                .map(|(to, h)| h.into_task(to, &done.task_id, &role, now))
                                .collect()
                        })
                    }
                    _ => Ok(Vec::new()),
                });
                match sends.and_then(|sends| Ok((sends, bounded_result(result, limit, truncate)?)))
                {
                    Ok((sends, value)) => {
                        let agent_state = state.map(|s| {
                            let s = (!s.is_null()).then(|| Arc::new(s));
                            (done.agent_id.clone(), s)
                        });
                        let answer = Answer { agent_state, sends };
                        self.finish_with(&done.task_id, TaskStatus::Succeeded, Some(value), answer);
                    }
                    // Another attempt would produce the same result: no retry.
                    Err(message) => {
                        self.fail_attempt(done.task_id, message, Failure::Error, false, ctx);
                    }
                }
            }
            Err(TaskError { message, retryable }) => {
                self.fail_attempt(done.task_id, message, Failure::Error, retryable, ctx);
            }
        }
        if let Some(role) = self.agents.get(&done.agent_id).map(|s| s.role().clone()) {
            self.dispatch(&role, ctx);
        }
        if self.draining.is_some() && self.drained() {
            self.complete_drain(ctx);
        }
    }
}

impl Handler<Shutdown> for Orchestrator {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
