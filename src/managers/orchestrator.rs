//! The Orchestrator actor: accepts tasks, has them persisted before answering, queues them by role
//! and priority, dispatches each to an idle agent whose capabilities cover it, and decides what
//! follows every attempt: success, retry with backoff, or a final failure.
//!
//! It owns the state of every unfinished task in memory; the store holds the same state durably,
//! written after each change. At start it takes over what a previous process left unfinished.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use hive_actors::{Refused, Shutdown};
use rand::Rng;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::agents::agent::{Cancel, Restart, Run};
use crate::agents::outcome::TaskError;
use crate::agents::report::{AgentUp, TaskFinished};
use crate::bus::event::TaskChange;
use crate::cluster::port::{Adopt, LeaseChanged, Release, Wanted};
use crate::context::Hive;
use crate::domain::agent::{AgentId, AgentStatus};
use crate::domain::names::Role;
use crate::domain::task::TaskId;
use crate::domain::task::{bounded_result, NewTask, Priority, TaskRecord, TaskStatus};
use crate::domain::time::now_ms;
use crate::managers::agent_slots::{AgentSlot, AgentSlots};
use crate::managers::slot::Slot;
use crate::store::manager::StoreManager;
use crate::store::manager::{Created, Persist, Write};
use crate::store::StoreError;

/// How far into each priority queue the dispatcher looks for a task that an idle agent's
/// capabilities cover; bounds the cost of one dispatch when the head of a queue is unservable.
const DISPATCH_SCAN: usize = 256;
/// How often a backlog spilled to the store is checked for room to read more of it.
const REFILL_EVERY: Duration = Duration::from_millis(100);
/// How long an agent whose mailbox was full waits before it is offered work again.
const JAMMED_AGENT_PAUSE: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the store is busy; try again shortly")]
    StoreBusy,
    #[error("this node holds as many unfinished tasks as it may ({limit}); try again shortly")]
    Backlog { limit: usize },
    #[error("the server is shutting down")]
    Draining,
    #[error(transparent)]
    Store(Arc<StoreError>),
}

/// A new task from a client; answered once it is committed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Submit {
    pub task: NewTask,
    pub reply: oneshot::Sender<Result<Created, SubmitError>>,
}

#[derive(Debug)]
pub enum CancelOutcome {
    Cancelled(Box<TaskRecord>),
    /// Not queued or running here: finished already, or unknown.
    NotActive,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelTask {
    pub id: String,
    pub reply: oneshot::Sender<CancelOutcome>,
}

/// Restart a running agent (see [`crate::agents::agent::Restart`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RestartAgent {
    pub id: String,
    pub reply: oneshot::Sender<RestartOutcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartOutcome {
    /// Asked to stop; its supervisor starts it again.
    Restarting,
    /// Not running now (unknown, restarting or stopped).
    NotRunning,
    /// Its mailbox is full.
    Busy,
}

/// The load of some pools, for the autoscaler.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PoolLoads {
    pub roles: Vec<Role>,
    pub reply: oneshot::Sender<Vec<PoolLoad>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolLoad {
    /// Agents of the role that can take work now or are working.
    pub agents: usize,
    /// Ids of the idle ones (shared, not copied: read every sample).
    pub idle: Vec<AgentId>,
    /// Queued tasks by priority (`Priority::index`).
    pub queued: [usize; 4],
    /// How long the oldest queued task of each priority has waited, in milliseconds.
    pub oldest_wait_ms: [u64; 4],
}

/// An agent ended. `crashed` attempts count against the task's retries; an agent removed on
/// purpose (deleted, shut down) hands its task back without using one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AgentDown {
    pub id: AgentId,
    pub reason: String,
    pub crashed: bool,
    /// Answered once the hand-back of the agent's task is committed (DELETE waits for it).
    pub ack: Option<oneshot::Sender<()>>,
}

/// Stop dispatching, let running attempts finish for up to `grace`, hand the rest back to the
/// queue in the store; answered when the store has committed it all.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain {
    pub grace: Duration,
    pub reply: oneshot::Sender<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The executor returned an error: the task ends `failed` when no retry is left.
    Error,
    /// The agent crashed or the attempt timed out: the task ends `dead`.
    Crash,
}

enum State {
    Queued,
    /// Waiting out its retry backoff.
    Backoff,
    Running {
        agent: AgentId,
        started: Instant,
        timeout: SpawnHandle,
    },
}

struct Active {
    record: TaskRecord,
    state: State,
    queued_at: Instant,
}

#[derive(Default)]
struct RoleQueues {
    by_priority: [VecDeque<TaskId>; 4],
    idle: BTreeSet<AgentId>,
}

pub struct Orchestrator {
    hive: Hive,
    store: Arc<Slot<StoreManager>>,
    tasks: HashMap<TaskId, Active>,
    roles: HashMap<Role, RoleQueues>,
    agents: AgentSlots,
    draining: Option<Vec<oneshot::Sender<()>>>,
    /// Submissions sent to the store and not yet answered: they count against the backlog.
    accepting: usize,
    /// Unfinished tasks a restart found beyond what this node holds at once: they wait in the
    /// store (inputs and all), count against the backlog, and are read a page at a time as
    /// room frees, after the task `spill_after`.
    spilled: usize,
    spill_after: Option<String>,
    refilling: bool,
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
        }
    }

    /// Store the task's new state; `change`, if any, is announced by the store once that state
    /// is committed, so that whoever reacts to an event reads at least the state it announces.
    fn persist(&self, task: &TaskRecord, change: Option<TaskChange>) {
        if let Some(store) = self.store.get() {
            // State changes of accepted tasks: at most a few per attempt, bounded by running work.
            let write = Write::UpdateTask {
                task: task.clone(),
                change,
            };
            self.hive.kinds.store.do_send(&store, Persist(write));
        }
    }

    /// Resolves once every write sent to the store before it is committed (or the store is gone).
    fn flush(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if let Some(store) = self.store.get() {
            self.hive
                .kinds
                .store
                .do_send(&store, crate::store::manager::Flush(tx));
        }
        rx
    }

    /// Unfinished tasks held here or waiting in the store for room, and submissions on their
    /// way to being.
    fn backlog(&self) -> usize {
        self.tasks.len() + self.accepting + self.spilled
    }

    /// Read the next page of a spilled backlog once a quarter of the room is free.
    fn refill(&mut self, ctx: &mut Context<Self>) {
        let limit = self.hive.config.queued_task_limit();
        let room = limit.saturating_sub(self.tasks.len() + self.accepting);
        if self.spilled == 0 || self.refilling || room < (limit / 4).max(1) {
            return;
        }
        self.refilling = true;
        let store = self.hive.store.clone();
        let after = self.spill_after.clone();
        let page = i64::try_from(room).unwrap_or(i64::MAX);
        let load = async move { store.unfinished_tasks(after.as_deref(), page).await };
        ctx.spawn(load.into_actor(self).map(move |loaded, act, ctx| {
            act.refilling = false;
            let tasks = match loaded {
                Ok(tasks) => tasks,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the next page of the backlog; retrying");
                    return;
                }
            };
            act.spilled = if tasks.len() < room {
                0
            } else {
                act.spilled.saturating_sub(tasks.len())
            };
            if let Some(last) = tasks.last() {
                act.spill_after = Some(last.id.clone());
            }
            for task in tasks {
                act.resume(task, "the server stopped", ctx);
            }
            act.backlog_gauge();
        }));
    }

    fn backlog_gauge(&self) {
        self.hive
            .metrics
            .task_backlog
            .set(i64::try_from(self.backlog()).unwrap_or(i64::MAX));
    }

    /// After a task joined or left a class's queue: its depth gauge and its oldest task's age.
    fn queue_gauge(&self, priority: Priority, delta: i64) {
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

    /// Put a task at the back (or, when handed back, the front) of its queue and dispatch.
    fn enqueue(&mut self, id: TaskId, front: bool, ctx: &mut Context<Self>) {
        let Some(active) = self.tasks.get_mut(&id) else {
            return;
        };
        active.state = State::Queued;
        active.queued_at = Instant::now();
        let (role, priority) = (active.record.role.clone(), active.record.priority);
        let queue = &mut self.roles.entry(role.clone()).or_default().by_priority[priority.index()];
        if front {
            queue.push_front(id);
        } else {
            queue.push_back(id);
        }
        self.queue_gauge(priority, 1);
        self.dispatch(&role, ctx);
    }

    fn admit(&mut self, record: TaskRecord, ctx: &mut Context<Self>) {
        tracing::debug!(task = %record.id, role = %record.role, "queued");
        let id: TaskId = record.id.as_str().into();
        self.tasks.insert(
            id.clone(),
            Active {
                record,
                state: State::Queued,
                queued_at: Instant::now(),
            },
        );
        self.backlog_gauge();
        self.enqueue(id, false, ctx);
    }

    fn dispatch(&mut self, role: &Role, ctx: &mut Context<Self>) {
        if self.draining.is_some() {
            return;
        }
        // A node that cannot prove it is alive starts nothing: another may be taking over.
        if self.hive.cluster().is_some_and(|c| !c.lease_held()) {
            return;
        }
        loop {
            let Some(queues) = self.roles.get(role) else {
                return;
            };
            if queues.idle.is_empty() {
                return;
            }
            // Per class, the first task an idle agent can serve; of those, the one that has used
            // the largest share of its class's queue-wait target (ties go to the more urgent
            // class). A waiting `low` task's share grows until it wins: no class starves.
            let now = Instant::now();
            let mut chosen: Option<(f64, Priority, usize, &AgentId)> = None;
            for priority in Priority::BY_URGENCY {
                let target_ms = self.hive.config.slo.of(priority) as f64;
                for (pos, id) in queues.by_priority[priority.index()]
                    .iter()
                    .enumerate()
                    .take(DISPATCH_SCAN)
                {
                    let Some(task) = self.tasks.get(id) else {
                        continue;
                    };
                    let required = &task.record.required_capabilities;
                    let agent = if required.is_empty() {
                        queues.idle.first()
                    } else {
                        queues.idle.iter().find(|a| {
                            self.agents
                                .get(a)
                                .is_some_and(|s| s.entry.info.kind.capabilities.cover(required))
                        })
                    };
                    if let Some(agent) = agent {
                        let waited_ms =
                            now.saturating_duration_since(task.queued_at).as_secs_f64() * 1000.0;
                        let share = waited_ms / target_ms;
                        if chosen.is_none_or(|(best, ..)| share > best) {
                            chosen = Some((share, priority, pos, agent));
                        }
                        break;
                    }
                }
            }
            let Some((_, priority, pos, agent)) = chosen else {
                return;
            };
            let agent = agent.clone();
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

    fn start_attempt(&mut self, id: TaskId, agent_id: AgentId, ctx: &mut Context<Self>) {
        let Some(agent) = self.agents.get_mut(&agent_id) else {
            return;
        };
        let Some(active) = self.tasks.get_mut(&id) else {
            return;
        };
        let attempt = active.record.attempts + 1;
        let _span = attempt_span(&id, &agent_id, attempt).entered();
        let run = Run {
            task_id: id.clone(),
            attempt,
            input: active.record.input.clone(),
        };
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
                    ctx.run_later(JAMMED_AGENT_PAUSE, move |act, ctx| {
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
        let priority = active.record.priority;
        self.hive
            .metrics
            .task_queue_wait
            .with_label_values(&[priority.as_str()])
            .observe(wait.as_secs_f64());
        if wait.as_millis() > u128::from(self.hive.config.slo.of(priority)) {
            self.hive
                .metrics
                .task_slo_missed
                .with_label_values(&[priority.as_str()])
                .inc();
        }
        let timeout_after = Duration::from_millis(active.record.timeout_ms);
        let timed = id.clone();
        let timeout = ctx.run_later(timeout_after, move |act, ctx| {
            act.on_timeout(timed, attempt, ctx)
        });
        active.record.attempts = attempt;
        active.record.status = TaskStatus::Running;
        active.record.agent_id = Some(agent_id.to_string());
        active.record.started_at = Some(now_ms());
        active.state = State::Running {
            agent: agent_id,
            started: Instant::now(),
            timeout,
        };
        let record = active.record.clone();
        self.persist(&record, Some(TaskChange::Started));
    }

    /// Free the agent of a running task, cancel its timer, and answer the task's record.
    fn stop_running(
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
        let attempt = active.record.attempts;
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
            self.room();
        }
        Some(agent)
    }

    fn finish(
        &mut self,
        id: &TaskId,
        status: TaskStatus,
        result: Option<Value>,
    ) -> Option<TaskRecord> {
        let mut active = self.tasks.remove(id)?;
        self.backlog_gauge();
        if matches!(active.state, State::Queued) {
            if let Some(queues) = self.roles.get_mut(&active.record.role) {
                let queue = &mut queues.by_priority[active.record.priority.index()];
                if let Some(pos) = queue.iter().position(|q| q == id) {
                    queue.remove(pos);
                    self.queue_gauge(active.record.priority, -1);
                }
            }
        }
        active.record.status = status;
        active.record.finished_at = Some(now_ms());
        if result.is_some() {
            active.record.result = result;
            active.record.error = None;
        }
        self.hive
            .metrics
            .tasks_finished
            .with_label_values(&[status.as_str()])
            .inc();
        self.persist(&active.record, Some(TaskChange::to(status)));
        if let Some(cluster) = self.hive.cluster() {
            cluster.settled(id);
        }
        Some(active.record)
    }

    fn fail_attempt(
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
        active.record.error = Some(error);
        let retries_left = active.record.attempts <= active.record.max_retries;
        if !(retryable && retries_left) {
            let status = match failure {
                Failure::Error => TaskStatus::Failed,
                Failure::Crash => TaskStatus::Dead,
            };
            self.finish(&id, status, None);
            return;
        }
        let delay = retry_delay(self.hive.config.retry_backoff_ms, active.record.attempts);
        active.record.status = TaskStatus::Queued;
        active.record.agent_id = None;
        active.record.queued_at = now_ms() + delay.as_millis() as i64;
        active.state = State::Backoff;
        let record = active.record.clone();
        self.hive.metrics.task_retries.inc();
        self.persist(&record, Some(TaskChange::Retrying));
        ctx.run_later(delay, move |act, ctx| {
            if act
                .tasks
                .get(&id)
                .is_some_and(|a| matches!(a.state, State::Backoff))
            {
                act.enqueue(id, false, ctx);
            }
        });
    }

    fn on_timeout(&mut self, id: TaskId, attempt: u32, ctx: &mut Context<Self>) {
        let running = self.tasks.get(&id).is_some_and(|a| {
            a.record.attempts == attempt && matches!(a.state, State::Running { .. })
        });
        if !running {
            return;
        }
        let timeout_ms = self
            .tasks
            .get(&id)
            .map(|a| a.record.timeout_ms)
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
    fn agent_down(&mut self, id: &str, reason: &str, crashed: bool, ctx: &mut Context<Self>) {
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

    /// An attempt that ended through no fault of the task (its agent was deleted, the server is
    /// draining) is not counted: the task is queued again as it was before that attempt.
    fn hand_back(&mut self, id: &TaskId) -> bool {
        let Some(active) = self.tasks.get_mut(id) else {
            return false;
        };
        active.record.attempts = active.record.attempts.saturating_sub(1);
        active.record.status = TaskStatus::Queued;
        active.record.agent_id = None;
        active.record.started_at = None;
        active.record.queued_at = now_ms();
        let record = active.record.clone();
        self.persist(&record, None);
        true
    }

    /// A new task of a cluster node goes on its stream, for whichever node has an agent free.
    /// Without Redis it is held and run here, as a single server would.
    fn distribute(
        &mut self,
        cluster: Arc<crate::cluster::Cluster>,
        created: Created,
        reply: oneshot::Sender<Result<Created, SubmitError>>,
        ctx: &mut Context<Self>,
    ) {
        let store = self.hive.store.clone();
        let work = async move {
            let mut created = created;
            if cluster.is_up() && cluster.publish(&created.task).await.is_ok() {
                return (created, "published");
            }
            // Held before it is queued here, so that no other node runs it as well.
            match store.hold(&created.task.id, &cluster.node).await {
                Ok(_) => created.task.node = Some(cluster.node.to_string()),
                Err(e) => {
                    tracing::warn!(task = %created.task.id, error = %e, "cannot hold a task; running it here")
                }
            }
            (created, "held_locally")
        };
        ctx.spawn(work.into_actor(self).map(move |(created, how), act, ctx| {
            act.hive
                .metrics
                .cluster_tasks
                .with_label_values(&[how])
                .inc();
            if how == "held_locally" {
                act.admit(created.task.clone(), ctx);
            }
            let _ = reply.send(Ok(created));
        }));
    }

    fn drained(&mut self) -> bool {
        !self
            .tasks
            .values()
            .any(|a| matches!(a.state, State::Running { .. }))
    }

    /// Stop every running attempt and hand its task back without counting the attempt; answers
    /// the tasks handed back.
    fn hand_back_running(&mut self, ctx: &mut Context<Self>) -> Vec<TaskId> {
        let running: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, a)| matches!(a.state, State::Running { .. }))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &running {
            self.stop_running(id, ctx, true);
            self.hand_back(id);
        }
        running
    }

    /// Hand back every running attempt without counting it, and tell the waiters once committed.
    fn complete_drain(&mut self, ctx: &mut Context<Self>) {
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

    /// An agent is free for more work: the cluster feeder may read more from the streams.
    fn room(&self) {
        if let Some(cluster) = self.hive.cluster() {
            cluster.room.notify_one();
        }
    }

    /// Queue a task this orchestrator did not accept itself. One found running was interrupted
    /// (`why`): that attempt counts, and the task is dead if it was the last.
    fn resume(&mut self, mut task: TaskRecord, why: &str, ctx: &mut Context<Self>) {
        if self.tasks.contains_key(task.id.as_str()) {
            return;
        }
        if task.status == TaskStatus::Running {
            task.status = TaskStatus::Queued;
            task.agent_id = None;
            task.queued_at = now_ms();
            task.error = Some(format!("interrupted: {why} while this attempt ran"));
            if task.attempts > task.max_retries {
                task.status = TaskStatus::Dead;
                task.finished_at = Some(now_ms());
                self.persist(&task, Some(TaskChange::Dead));
                self.hive
                    .metrics
                    .tasks_finished
                    .with_label_values(&["dead"])
                    .inc();
                if let Some(cluster) = self.hive.cluster() {
                    cluster.settled(&task.id);
                }
                return;
            }
            self.persist(&task, None);
        }
        self.admit(task, ctx);
    }

    /// Take over the tasks a previous process accepted: running ones count the attempt they
    /// were in, and become dead if that was their last. A node of a cluster takes only those it
    /// held; the others' are theirs, or come through the streams.
    fn recover(&mut self, ctx: &mut Context<Self>) {
        let store = self.hive.store.clone();
        let node = self.hive.cluster().map(|c| c.node.clone());
        let limit = self.hive.config.queued_task_limit();
        // A single server reads at most what it holds at once; the rest waits in the store and
        // is read as room frees, so a restart with any backlog stays within the memory budget.
        let load = async move {
            match node {
                Some(node) => Ok((store.take_over(&node, &node).await?, 0)),
                None => {
                    let page = store
                        .unfinished_tasks(None, i64::try_from(limit).unwrap_or(i64::MAX))
                        .await?;
                    let total = store.unfinished_count().await?;
                    let spilled = total.saturating_sub(page.len());
                    Ok((page, spilled))
                }
            }
        };
        ctx.wait(load.into_actor(self).map(|loaded, act, ctx| {
            let (tasks, spilled) = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    let e: StoreError = e;
                    tracing::error!(error = %e, "cannot read unfinished tasks; they stay in the store");
                    act.hive.recovered.send_modify(|r| r.tasks = true);
                    return;
                }
            };
            act.spilled = spilled;
            act.spill_after = tasks.last().map(|t| t.id.clone());
            if spilled > 0 {
                tracing::info!(
                    waiting_in_store = spilled,
                    "the backlog is larger than this node holds at once; the rest is read as room frees"
                );
            }
            let count = tasks.len();
            for task in tasks {
                act.resume(task, "the server stopped", ctx);
            }
            if count > 0 {
                tracing::info!(tasks = count, "took over unfinished tasks from the store");
            }
            act.hive.recovered.send_modify(|r| r.tasks = true);
        }));
    }
}

/// Exponential from the configured base, with ±20 % jitter so that tasks that failed together
/// do not come back together, capped so that a retry is never more than a minute away.
/// The span of one attempt, on the orchestrator's side as on the agent's: a task's whole way is
/// found by its id.
fn attempt_span(task_id: &str, agent_id: &str, attempt: u32) -> tracing::Span {
    tracing::info_span!("attempt", task_id, agent_id, attempt)
}

fn retry_delay(base_ms: u64, attempts: u32) -> Duration {
    let raw = Duration::from_millis(base_ms)
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(Duration::from_secs(60));
    raw.mul_f64(rand::rng().random_range(0.8..=1.2))
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

    fn handle(&mut self, Submit { task, reply }: Submit, ctx: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        if self.draining.is_some() {
            let _ = reply.send(Err(SubmitError::Draining));
            return;
        }
        let limit = self.hive.config.queued_task_limit();
        if self.backlog() >= limit {
            let _ = reply.send(Err(SubmitError::Backlog { limit }));
            return;
        }
        let record = TaskRecord::accepted(task, now_ms());
        let _span = tracing::info_span!("task", task_id = %record.id).entered();
        let Some(store) = self.store.get() else {
            let _ = reply.send(Err(SubmitError::Store(Arc::new(StoreError::Unavailable))));
            return;
        };
        let (tx, rx) = oneshot::channel();
        if let Err(refused) = self.hive.kinds.store.try_send(
            &store,
            Persist(Write::CreateTask {
                task: record,
                reply: tx,
            }),
        ) {
            let error = match refused {
                Refused::Full { .. } => SubmitError::StoreBusy,
                Refused::Closed { .. } => SubmitError::Store(Arc::new(StoreError::Unavailable)),
            };
            let _ = reply.send(Err(error));
            return;
        }
        self.accepting += 1;
        self.backlog_gauge();
        ctx.spawn(rx.into_actor(self).map(move |committed, act, ctx| {
            act.accepting -= 1;
            act.backlog_gauge();
            let answer = match committed {
                Ok(Ok(created)) => {
                    if !created.existing {
                        act.hive
                            .metrics
                            .tasks_submitted
                            .with_label_values(&[created.task.priority.as_str()])
                            .inc();
                        if let Some(cluster) = act.hive.cluster() {
                            // Answered once the task is on a stream, or held here.
                            act.distribute(cluster.clone(), created, reply, ctx);
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
        self.roles.entry(role.clone()).or_default().idle.insert(id);
        self.room();
        self.dispatch(&role, ctx);
    }
}

impl Handler<Wanted> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Wanted { reply }: Wanted, _: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        if self.draining.is_some() {
            let _ = reply.send(Vec::new());
            return;
        }
        let wanted = self
            .roles
            .iter()
            .filter_map(|(role, q)| {
                let queued: usize = q.by_priority.iter().map(VecDeque::len).sum();
                let room = q.idle.len().saturating_sub(queued);
                (room > 0).then(|| (role.clone(), room))
            })
            .collect();
        let _ = reply.send(wanted);
    }
}

impl Handler<Adopt> for Orchestrator {
    type Result = ();

    fn handle(&mut self, adopt: Adopt, ctx: &mut Context<Self>) {
        let Adopt {
            tasks,
            taken_over,
            done,
        } = adopt;
        self.hive.kinds.orchestrator.handled();
        let _timer = self.hive.metrics.processing("orchestrator");
        let why = if taken_over {
            "its node was lost"
        } else {
            "the server stopped"
        };
        for task in tasks {
            self.resume(task, why, ctx);
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}

impl Handler<Release> for Orchestrator {
    type Result = ();

    fn handle(&mut self, Release { reply }: Release, _: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        let served: std::collections::HashSet<&Role> =
            self.agents.values().map(AgentSlot::role).collect();
        let unserved: Vec<Role> = self
            .roles
            .keys()
            .filter(|role| !served.contains(role))
            .cloned()
            .collect();
        let mut released = Vec::new();
        for role in unserved {
            let Some(queues) = self.roles.get_mut(&role) else {
                continue;
            };
            let ids: Vec<(Priority, TaskId)> = Priority::BY_URGENCY
                .into_iter()
                .flat_map(|p| {
                    std::mem::take(&mut queues.by_priority[p.index()])
                        .into_iter()
                        .map(move |id| (p, id))
                })
                .collect();
            for (priority, id) in ids {
                self.queue_gauge(priority, -1);
                if let Some(mut active) = self.tasks.remove(&id) {
                    self.backlog_gauge();
                    // A stream entry it came with is done: it goes out on a new one.
                    if let Some(cluster) = self.hive.cluster() {
                        cluster.settled(&id);
                    }
                    active.record.node = None;
                    released.push(active.record);
                }
            }
        }
        let _ = reply.send(released);
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
        let _span = attempt_span(&done.task_id, &done.agent_id, done.attempt).entered();
        tracing::debug!(ok = done.outcome.is_ok(), "attempt finished");
        let current = self.tasks.get(&done.task_id).is_some_and(|a| {
            a.record.attempts == done.attempt
                && matches!(&a.state, State::Running { agent, .. } if *agent == done.agent_id)
        });
        if !current {
            return; // a late result of an attempt already given up on
        }
        self.stop_running(&done.task_id, ctx, false);
        match done.outcome {
            Ok(value) => {
                let truncate = self
                    .tasks
                    .get(&done.task_id)
                    .is_some_and(|a| a.record.truncate_result);
                let limit = self.hive.config.max_result_bytes;
                match bounded_result(value, limit, truncate) {
                    Ok(value) => {
                        self.finish(&done.task_id, TaskStatus::Succeeded, Some(value));
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

impl Handler<LeaseChanged> for Orchestrator {
    type Result = ();

    fn handle(&mut self, LeaseChanged { held }: LeaseChanged, ctx: &mut Context<Self>) {
        self.hive.kinds.orchestrator.handled();
        if held {
            let roles: Vec<Role> = self.roles.keys().cloned().collect();
            for role in roles {
                self.dispatch(&role, ctx);
            }
            return;
        }
        // Stopped before the lease runs out by the database's clock, which is when a survivor
        // may take these tasks over and run them again.
        let stopped = self.hand_back_running(ctx);
        if !stopped.is_empty() {
            tracing::warn!(
                tasks = stopped.len(),
                "stopped the attempts this node ran: its lease cannot be renewed"
            );
        }
        for id in stopped {
            self.enqueue(id, true, ctx);
        }
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

impl Handler<Shutdown> for Orchestrator {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
