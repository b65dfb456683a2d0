//! Queueing, dispatch, and the end of every attempt: the orchestrator applying what
//! `attempt` decides and `queues` chooses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use hive_actors::Refused;
use serde_json::Value;

use super::actor::{Answer, Orchestrator};
use super::attempt::{self, Active, Failure, Next, State};
use super::queues;
use crate::agents::agent::{Cancel, Run};
use crate::agents::outcome::Work;
use crate::bus::event::TaskChange;
use crate::domain::agent::{AgentId, AgentStatus};
use crate::domain::names::Role;
use crate::domain::task::{TaskId, TaskRecord, TaskSpec, TaskState, TaskStatus};

/// How long an agent whose mailbox was full waits before it is offered work again.
const JAMMED_AGENT_PAUSE: Duration = Duration::from_millis(10);

impl Orchestrator {
    /// Put a task at the back (or, when handed back, the front) of its queue and dispatch.
    pub(super) fn enqueue(&mut self, id: TaskId, front: bool, ctx: &mut Context<Self>) {
        let Some(active) = self.tasks.get_mut(&id) else {
            return;
        };
        active.state = State::Queued;
        active.queued_at = Instant::now();
        let (role, priority) = (active.spec.role.clone(), active.spec.priority);
        if let Some(agent) = active.spec.agent.clone() {
            return self.enqueue_addressed(agent, id, priority, front, ctx);
        }
        let queue = &mut self.roles.entry(role.clone()).or_default().by_priority[priority.index()];
        if front {
            queue.push_front(id);
        } else {
            queue.push_back(id);
        }
        self.queue_gauge(priority, 1);
        self.dispatch(&role, ctx);
    }

    pub(super) fn admit(&mut self, record: TaskRecord, ctx: &mut Context<Self>) {
        let (spec, task) = record.split();
        self.queue(spec, task, ctx);
    }

    /// Hold a task from now on, queued.
    pub(super) fn queue(&mut self, spec: Arc<TaskSpec>, task: TaskState, ctx: &mut Context<Self>) {
        tracing::debug!(task = %spec.id, role = %spec.role, "queued");
        let id: TaskId = spec.id.as_str().into();
        if let Some(agent) = &spec.agent {
            self.addressed_held(agent);
        }
        self.tasks.insert(id.clone(), Active::queued(spec, task));
        self.backlog_gauge();
        self.enqueue(id, false, ctx);
    }

    pub(super) fn dispatch(&mut self, role: &Role, ctx: &mut Context<Self>) {
        if self.draining.is_some() {
            return;
        }
        // A node that cannot prove it is alive starts nothing: another may be taking over.
        if self.hive.cluster().is_some_and(|c| !c.lease_held()) {
            return;
        }
        // An agent's own queue goes before its role's.
        for agent in std::mem::take(&mut self.freed) {
            if self.addressed.contains_key(&agent) {
                self.wake(agent, ctx);
            }
        }
        loop {
            let Some(queues) = self.roles.get(role) else {
                return;
            };
            let settings = self.hive.settings.load();
            let slo = &settings.slo;
            let Some((priority, pos, agent)) =
                queues::choose(queues, &self.tasks, &self.agents, slo, Instant::now())
            else {
                return;
            };
            let Some(queues) = self.roles.get_mut(role) else {
                return;
            };
            queues.idle.remove(&agent);
            let Some(id) = queues.by_priority[priority.index()].remove(pos) else {
                return;
            };
            self.queue_gauge(priority, -1);
            self.start_attempt(id, agent, ctx);
        }
    }

    pub(super) fn start_attempt(&mut self, id: TaskId, agent_id: AgentId, ctx: &mut Context<Self>) {
        let Some(agent) = self.agents.get_mut(&agent_id) else {
            return;
        };
        let Some(active) = self.tasks.get_mut(&id) else {
            return;
        };
        let attempt = active.task.attempts + 1;
        let _span = attempt::span(&id, &agent_id, attempt).entered();
        let run = Run(Work {
            task_id: id.clone(),
            attempt,
            input: active.spec.input.clone(),
            state: agent.entry.agent_state(),
            dependencies: active.spec.dependencies.clone(),
        });
        // Busy before the send: an agent on another thread may finish the task (and mark itself
        // idle) before this thread would get to a mark made after it.
        let entry = agent.entry.clone();
        entry.set_status(AgentStatus::Busy, Some(id.clone()));
        if let Err(refused) = self.hive.kinds.agent.try_send_weak(&agent.addr, run) {
            tracing::warn!(agent = %agent_id, error = %refused, "dispatch refused");
            entry.set_status(AgentStatus::Idle, None);
            match refused {
                // Gone: it says up again if its supervisor restarts it.
                Refused::Closed { .. } => {
                    self.agents.remove(&agent_id);
                }
                // Jammed (cancels still queued): offered work again shortly.
                Refused::Full { .. } => {
                    let (role, again) = (agent.role().clone(), agent_id.clone());
                    self.jammed.insert(agent_id.clone());
                    ctx.run_later(JAMMED_AGENT_PAUSE, move |act, ctx| {
                        act.jammed.remove(&again);
                        act.freed.push(again.clone());
                        if act.agents.get(&again).is_some_and(|a| a.task.is_none()) {
                            act.roles
                                .entry(role.clone())
                                .or_default()
                                .idle
                                .insert(again);
                            act.dispatch(&role, ctx);
                        }
                    });
                }
            }
            self.enqueue(id, true, ctx);
            return;
        }
        agent.task = Some(id.clone());
        let wait = active.queued_at.elapsed();
        let priority = active.spec.priority;
        self.hive
            .metrics
            .task_queue_wait
            .with_label_values(&[priority.as_str()])
            .observe(wait.as_secs_f64());
        if wait.as_millis() > u128::from(self.hive.settings.load().slo.of(priority)) {
            self.hive
                .metrics
                .task_slo_missed
                .with_label_values(&[priority.as_str()])
                .inc();
        }
        let timeout_after = Duration::from_millis(active.spec.timeout_ms);
        let timed = id.clone();
        let timeout = ctx.run_later(timeout_after, move |act, ctx| {
            act.on_timeout(timed, attempt, ctx)
        });
        attempt::start(&mut active.task, &agent_id);
        active.state = State::Running {
            agent: agent_id,
            started: Instant::now(),
            timeout,
        };
        let (spec, task) = (active.spec.clone(), active.task.clone());
        self.persist(spec, task, Some(TaskChange::Started));
    }

    /// Free the agent of a running task, cancel its timer, and answer the task's record.
    pub(super) fn stop_running(
        &mut self,
        id: &TaskId,
        ctx: &mut Context<Self>,
        tell_agent: bool,
    ) -> Option<AgentId> {
        let active = self.tasks.get_mut(id)?;
        let State::Running {
            agent,
            timeout,
            started,
        } = std::mem::replace(&mut active.state, State::Backoff)
        else {
            return None;
        };
        ctx.cancel_future(timeout);
        self.hive
            .metrics
            .task_run
            .observe(started.elapsed().as_secs_f64());
        let attempt = active.task.attempts;
        if let Some(slot) = self.agents.get_mut(&agent) {
            slot.task = None;
            if tell_agent {
                // One cancel per running task: bounded by the number of agents.
                self.hive.kinds.agent.do_send_weak(
                    &slot.addr,
                    Cancel {
                        task_id: id.clone(),
                        attempt,
                    },
                );
            }
            let role = slot.role().clone();
            self.roles
                .entry(role)
                .or_default()
                .idle
                .insert(agent.clone());
            self.freed.push(agent.clone());
            self.room();
        }
        Some(agent)
    }

    pub(super) fn finish(
        &mut self,
        id: &TaskId,
        status: TaskStatus,
        result: Option<Value>,
    ) -> Option<TaskRecord> {
        self.finish_with(id, status, result, Answer::default())
    }

    /// [`Self::finish`], with the new state of the agent whose attempt succeeded: it is what
    /// the agent's next task sees, and it is stored in the same transaction as the result.
    pub(super) fn finish_with(
        &mut self,
        id: &TaskId,
        status: TaskStatus,
        result: Option<Value>,
        answer: Answer,
    ) -> Option<TaskRecord> {
        let mut active = self.tasks.remove(id)?;
        self.backlog_gauge();
        if let Some(agent) = active.spec.agent.clone() {
            if matches!(active.state, State::Queued) {
                self.unqueue_addressed(&agent, id, active.spec.priority);
            }
            if active.retrying {
                self.addressed_backoff(&agent, false);
                self.freed.push(agent.clone());
            }
            self.addressed_gone(&agent);
        } else if matches!(active.state, State::Queued) {
            if let Some(queues) = self.roles.get_mut(&active.spec.role) {
                let queue = &mut queues.by_priority[active.spec.priority.index()];
                if let Some(pos) = queue.iter().position(|q| q == id) {
                    queue.remove(pos);
                    self.queue_gauge(active.spec.priority, -1);
                }
            }
        }
        attempt::end(&mut active.task, status, result);
        self.hive
            .metrics
            .tasks_finished
            .with_label_values(&[status.as_str()])
            .inc();
        if let Some((agent, state)) = &answer.agent_state {
            if let Some(slot) = self.agents.get(agent) {
                slot.entry.set_agent_state(state.clone());
            }
        }
        let change = Some(TaskChange::to(status));
        self.persist_with(active.spec.clone(), active.task.clone(), change, answer);
        if let Some(cluster) = self.hive.cluster() {
            cluster.settled(id);
        }
        Some(TaskRecord::join(&active.spec, &active.task))
    }

    pub(super) fn fail_attempt(
        &mut self,
        id: TaskId,
        error: String,
        failure: Failure,
        retryable: bool,
        ctx: &mut Context<Self>,
    ) {
        let Some(active) = self.tasks.get_mut(&id) else {
            return;
        };
        let base_ms = self.hive.settings.load().retry_backoff_ms;
        let delay = match attempt::fail(
            &active.spec,
            &mut active.task,
            error,
            failure,
            retryable,
            base_ms,
        ) {
            Next::End(status) => {
                self.finish(&id, status, None);
                return;
            }
            Next::Retry(delay) => delay,
        };
        active.state = State::Backoff;
        active.retrying = true;
        let (spec, task) = (active.spec.clone(), active.task.clone());
        if let Some(agent) = &spec.agent {
            self.addressed_backoff(agent, true);
        }
        self.hive.metrics.task_retries.inc();
        self.persist(spec, task, Some(TaskChange::Retrying));
        ctx.run_later(delay, move |act, ctx| {
            let Some(active) = act.tasks.get_mut(&id) else {
                return;
            };
            if !(matches!(active.state, State::Backoff) && active.retrying) {
                return;
            }
            active.retrying = false;
            // An addressed task comes back first in its agent's queue, which it held meanwhile.
            let agent = active.spec.agent.clone();
            if let Some(agent) = &agent {
                act.addressed_backoff(agent, false);
            }
            act.enqueue(id, agent.is_some(), ctx);
        });
    }

    pub(super) fn on_timeout(&mut self, id: TaskId, attempt: u32, ctx: &mut Context<Self>) {
        let running = self
            .tasks
            .get(&id)
            .is_some_and(|a| a.task.attempts == attempt && a.is_running());
        if !running {
            return;
        }
        let timeout_ms = self
            .tasks
            .get(&id)
            .map(|a| a.spec.timeout_ms)
            .unwrap_or_default();
        let agent = self.stop_running(&id, ctx, true);
        self.fail_attempt(
            id,
            format!("timed out after {timeout_ms} ms"),
            Failure::Crash,
            true,
            ctx,
        );
        if let Some(role) = agent.and_then(|a| self.agents.get(&a).map(|s| s.role().clone())) {
            self.dispatch(&role, ctx);
        }
    }

    /// Forget an agent; its task is retried (a crash uses a retry) or handed back (it does not).
    pub(super) fn agent_down(
        &mut self,
        id: &str,
        reason: &str,
        crashed: bool,
        ctx: &mut Context<Self>,
    ) {
        let Some(slot) = self.agents.remove(id) else {
            return;
        };
        if let Some(queues) = self.roles.get_mut(slot.role()) {
            queues.idle.remove(id);
        }
        let Some(task) = slot.task else { return };
        self.stop_running(&task, ctx, false);
        if crashed {
            let error = format!("agent {id} crashed: {reason}");
            self.fail_attempt(task, error, Failure::Crash, true, ctx);
        } else if self.hand_back(&task) {
            self.enqueue(task, true, ctx);
        }
    }

    /// An attempt that ended through no fault of the task is handed back ([`attempt::hand_back`])
    /// and stored.
    pub(super) fn hand_back(&mut self, id: &TaskId) -> bool {
        let Some(active) = self.tasks.get_mut(id) else {
            return false;
        };
        attempt::hand_back(&mut active.task);
        let (spec, task) = (active.spec.clone(), active.task.clone());
        self.persist(spec, task, None);
        true
    }
}
