//! The StoreManager actor: the only writer. Writes queue in its mailbox and are committed in
//! groups: while one transaction runs, the next batch gathers, so under load one fsync covers many
//! tasks. Whoever needs durability (the 202 of `POST /api/v1/tasks`) waits for the commit that
//! holds its write.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::AsyncConnection;
use hive_actors::{ExitSlot, MailboxProbe, Shutdown};
use tokio::sync::oneshot;

use super::backend::{Conn, Database, DATABASE_TIMEOUT};
use super::models::{
    AgentRow, NewAuditEntry, NewDependency, NewSubscription, NewSupervisorEvent, NewTaskEvent,
    TaskRow, TokenRow,
};
use super::retention::{self, Cutoffs, Pruned, Retention};
use super::schema::{
    agents, api_tokens, audit_log, supervisor_events, task_dependencies, task_events, tasks,
    topic_subscriptions,
};
use super::workflow::{resolve_waiting, Releases};
use super::StoreError;
use crate::bus::event::{AgentDeleted, Audited, DatabaseState, Event, StorageState, TaskChange};
use crate::bus::EventBus;
use crate::domain::agent::{AgentId, AgentInfo, AgentStatus};
use crate::domain::task::{TaskRecord, TaskSpec, TaskState, TaskStatus};
use crate::domain::time::now_ms;
use crate::metrics::{Metrics, Phase, SubmitClock};

/// Most writes in one transaction: large enough to amortise the fsync, small enough that one
/// commit does not hold the writer for long.
const MAX_BATCH: usize = 2048;
/// Rows per multi-row statement: 500 task rows bind 9,000 values, well inside SQLite's 32,766
/// and PostgreSQL's 65,535 bound parameters.
const ROWS_PER_STATEMENT: usize = 500;
/// The error of a waiting task a client cancelled.
const CANCELLED_BY_CLIENT: &str = "cancelled by a client";
/// How often retention looks for rows past their period.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A new task as stored: either this one, or the one that already had its idempotency key.
#[derive(Debug)]
pub struct Created {
    pub task: TaskRecord,
    pub existing: bool,
    /// The submission's clock, when a client waits for this creation (see
    /// [`crate::metrics::submission`]).
    pub clock: Option<SubmitClock>,
}

type Reply<T> = oneshot::Sender<Result<T, Arc<StoreError>>>;

/// One write. Those with a reply are answered after their commit.
#[derive(Debug)]
pub enum Write {
    CreateTask {
        task: TaskRecord,
        /// Its submission's clock, lapped when the store takes the write and when its batch has
        /// committed.
        clock: Option<SubmitClock>,
        reply: Reply<Created>,
    },
    /// A new state of an accepted task, and the change it announces once committed (none for a
    /// task handed back or recovered).
    UpdateTask {
        spec: Arc<TaskSpec>,
        state: TaskState,
        change: Option<TaskChange>,
        /// The new state of the agent whose attempt succeeded (`None` inside is null): written
        /// in the same transaction as the task's result, so neither is kept without the other.
        agent_state: Option<(AgentId, Option<Arc<serde_json::Value>>)>,
        /// New tasks its answer handed over, created in the same transaction (those addressed
        /// to an agent take its role and node there).
        sends: Vec<TaskRecord>,
    },
    /// Several new tasks in one transaction (a batch's graph, a topic's message): all or none,
    /// answered with each as the batch left it (queued, waiting, or cancelled by a dependency).
    CreateTasks {
        tasks: Vec<TaskRecord>,
        reply: Reply<Vec<TaskRecord>>,
    },
    /// Cancel a task that waits for others (and so what waits for it): answered with it, or
    /// `None` if it no longer waits.
    CancelWaiting {
        id: String,
        reply: Reply<Option<TaskRecord>>,
    },
    /// New agents, all starting from `state`, each subscribed to `topics`.
    CreateAgents {
        agents: Vec<AgentInfo>,
        state: Option<serde_json::Value>,
        topics: Vec<String>,
        reply: Reply<()>,
    },
    /// The topics an agent receives the messages of, instead of those it had.
    SetTopics {
        agent: String,
        topics: Vec<String>,
        reply: Reply<()>,
    },
    /// An agent's new state; a deletion is announced (`agent.deleted`) once committed.
    UpdateAgent {
        id: String,
        status: AgentStatus,
        restarts: u64,
        deleted: bool,
    },
    /// A supervision decision, kept as history.
    SupervisorEvent(NewSupervisorEvent),
    /// Mutating API calls, each announced as an `audit` event once committed.
    Audit(Vec<NewAuditEntry>),
    /// A new API token. Through the writer like every other write of the server, so that a slow
    /// commit never holds one of the readers' connections (`hive token create` without a server
    /// writes directly).
    CreateToken { row: TokenRow, reply: Reply<()> },
    /// Mark a token revoked, if it is not already.
    RevokeToken {
        id: String,
        at: i64,
        reply: Reply<()>,
    },
}

#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Persist(pub Write);

/// The retention periods from now on (a change of the live settings).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetRetention(pub Retention);

/// Answered once every write received before it is committed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush(pub oneshot::Sender<()>);

/// Run one retention pass with these cut-offs now (whatever the configured periods), answered
/// with what it deleted: for tests and tools that cannot wait for the periodic pass.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Prune {
    pub cutoffs: Cutoffs,
    pub reply: oneshot::Sender<Result<Pruned, Arc<StoreError>>>,
}

/// What a batch writes, with no reply channels in it.
enum Op {
    /// The row to insert, and the record it came from (the answer, unless the key was taken).
    CreateTask(Result<(TaskRow, Box<TaskRecord>), StoreError>),
    /// The task's full new state, the history entry it adds, the new state (JSON text, `None`
    /// for null) of the agent it names, and the tasks its answer handed over.
    UpdateTask(
        TaskRow,
        NewTaskEvent,
        Option<(String, Option<String>)>,
        Vec<TaskRecord>,
    ),
    CreateTasks(Result<Vec<(TaskRow, TaskRecord)>, StoreError>),
    CancelWaiting(String),
    CreateAgents(Result<Vec<AgentRow>, StoreError>, Vec<String>),
    SetTopics(String, Vec<String>),
    /// Writes nothing: rides in a batch so that a flush is answered when that batch commits.
    Barrier,
    UpdateAgent {
        id: String,
        status: &'static str,
        restarts: i64,
        deleted_at: Option<i64>,
    },
    SupervisorEvent(NewSupervisorEvent),
    Audit(Vec<NewAuditEntry>),
    CreateToken(TokenRow),
    RevokeToken {
        id: String,
        at: i64,
    },
}

impl Op {
    /// A copy to write again if the batch's database goes away before it commits: state
    /// changes and history are kept for when it returns; a new task or agent is refused
    /// instead (its client hears 503 and may retry), so `None`.
    fn again(&self) -> Option<Op> {
        Some(match self {
            Op::CreateTask(_)
            | Op::CreateTasks(_)
            | Op::CancelWaiting(_)
            | Op::CreateAgents(..)
            | Op::SetTopics(..)
            | Op::CreateToken(_) => return None,
            Op::UpdateTask(row, event, agent, sends) => {
                Op::UpdateTask(row.clone(), event.clone(), agent.clone(), sends.clone())
            }
            Op::Barrier => Op::Barrier,
            Op::UpdateAgent {
                id,
                status,
                restarts,
                deleted_at,
            } => Op::UpdateAgent {
                id: id.clone(),
                status,
                restarts: *restarts,
                deleted_at: *deleted_at,
            },
            Op::SupervisorEvent(e) => Op::SupervisorEvent(e.clone()),
            Op::Audit(entries) => Op::Audit(entries.clone()),
            Op::RevokeToken { id, at } => Op::RevokeToken {
                id: id.clone(),
                at: *at,
            },
        })
    }
}

/// How long the writer waits between attempts to reach a database that went away.
const RECONNECT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

enum Done {
    Task(Box<Created>),
    Tasks(Vec<TaskRecord>),
    Cancelled(Option<Box<TaskRecord>>),
    Other,
}

enum Waiter {
    Task(Reply<Created>, Option<SubmitClock>),
    Tasks(Reply<Vec<TaskRecord>>),
    Cancelled(Reply<Option<TaskRecord>>),
    Unit(Reply<()>),
    Flush(oneshot::Sender<()>),
    Publish(Box<Event>),
    PublishAll(Vec<Event>),
    None,
}

/// What a batch did beyond answering its writes: tasks it queued that no write waits for
/// (released dependants, hand-offs), and the events of the tasks it changed that way.
#[derive(Default)]
struct Workflow {
    released: Vec<TaskRecord>,
    events: Vec<Event>,
}

type Outcome = Result<(Vec<Result<Done, StoreError>>, Workflow), diesel::result::Error>;

pub struct StoreManager {
    database: Database,
    /// `None` until `started` has connected, and while a batch holds it.
    conn: Option<Conn>,
    pending: Vec<(Op, Waiter)>,
    committing: bool,
    closing: bool,
    probe: Arc<MailboxProbe>,
    metrics: Arc<Metrics>,
    /// Task events are published here after the commit that holds the state they announce.
    bus: EventBus,
    exit: ExitSlot,
    retention: Retention,
    /// A retention pass is due: it runs when the connection is free, taking turns with batches.
    prune_due: bool,
    /// Passes asked for with [`Prune`], run before the periodic one.
    prune_requests: Vec<Prune>,
    pruned_last: bool,
    /// The database stopped answering: new tasks and agents are refused, state changes wait.
    outage: bool,
    /// The database's volume is full: the same, until a batch commits again.
    full: bool,
    /// Waiting before the next attempt at a batch the full volume refused.
    paused: bool,
    /// Who runs the tasks a commit queued that no write waited for.
    releases: Option<Arc<dyn Releases>>,
}

impl StoreManager {
    pub fn new(
        database: Database,
        exit: ExitSlot,
        probe: Arc<MailboxProbe>,
        metrics: Arc<Metrics>,
        bus: EventBus,
        retention: Retention,
    ) -> Self {
        Self {
            database,
            conn: None,
            pending: Vec::new(),
            committing: false,
            closing: false,
            probe,
            metrics,
            bus,
            exit,
            retention,
            prune_due: false,
            prune_requests: Vec::new(),
            pruned_last: false,
            outage: false,
            full: false,
            paused: false,
            releases: None,
        }
    }

    /// Hand the tasks a commit queues without a write waiting for them (dependants whose
    /// dependencies all succeeded, tasks an answer handed over) to `releases`.
    pub fn releasing_to(mut self, releases: Arc<dyn Releases>) -> Self {
        self.releases = Some(releases);
        self
    }

    /// After a commit: announce what it changed on its own and hand over what it queued.
    fn announce(&self, workflow: Workflow) {
        for event in workflow.events {
            self.bus.publish(event);
        }
        if workflow.released.is_empty() {
            return;
        }
        if let Some(releases) = &self.releases {
            releases.released(workflow.released);
        }
    }

    /// Why a creation is refused now.
    fn refusal(&self) -> StoreError {
        if self.full {
            StoreError::StorageFull
        } else {
            StoreError::Unreachable
        }
    }

    /// A batch met a full volume: keep its state changes, refuse creations (queued ones too),
    /// and try again after a pause. Said once, not per batch.
    fn storage_full(
        &mut self,
        error: &str,
        again: Vec<Option<Op>>,
        waiters: Vec<Waiter>,
        ctx: &mut Context<Self>,
    ) {
        if !self.full {
            tracing::error!(%error, "the database's disk is full: new tasks and agents are refused (507), state changes wait and are written when space returns");
            self.full = true;
            self.metrics.store_full.set(1);
            self.bus
                .publish(Event::Storage(StorageState { full: true }));
        }
        self.write_again(again, waiters);
        self.refuse_creations(|| StoreError::StorageFull);
        self.paused = true;
        ctx.run_later(RECONNECT_EVERY, |act, ctx| {
            act.paused = false;
            act.commit_next(ctx);
        });
    }

    fn commit_next(&mut self, ctx: &mut Context<Self>) {
        if self.committing || self.paused {
            return;
        }
        let prune = (self.prune_due || !self.prune_requests.is_empty())
            && !self.closing
            && (self.pending.is_empty() || !self.pruned_last);
        self.pruned_last = prune;
        if prune {
            self.prune_next(ctx);
            return;
        }
        if self.pending.is_empty() {
            if self.closing {
                ctx.stop();
            }
            return;
        }
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        self.committing = true;
        let take = self.pending.len().min(MAX_BATCH);
        let (ops, waiters): (Vec<Op>, Vec<Waiter>) = self.pending.drain(..take).unzip();
        let batch = ops.len();
        let started = Instant::now();
        // Keep what a lost connection (PostgreSQL is across a network) or a full disk must not
        // lose: the batch's state changes are written again.
        let again: Vec<Option<Op>> = ops.iter().map(Op::again).collect();
        let commit = async move {
            let outcome = match conn {
                // A database across a network may stall without refusing: bounded.
                Conn::Postgres(_) => tokio::time::timeout(DATABASE_TIMEOUT, commit(&mut conn, ops))
                    .await
                    .unwrap_or_else(|_| Err(timed_out())),
                Conn::Sqlite(_) => commit(&mut conn, ops).await,
            };
            let lost = outcome.is_err() && !conn.answers().await;
            (conn, outcome, lost)
        };
        ctx.spawn(
            commit
                .into_actor(self)
                .map(move |(conn, outcome, lost), act, ctx| {
                    act.committing = false;
                    let postgres = matches!(conn, Conn::Postgres(_));
                    if let Err(e) = outcome.as_ref().map(drop) {
                        if is_storage_full(e) {
                            let error = e.to_string();
                            act.conn = Some(conn);
                            act.storage_full(&error, again, waiters, ctx);
                            return;
                        }
                    }
                    let retry = match (&outcome, postgres) {
                        (Err(e), true) if lost || is_transient(e) => Some(again),
                        _ => None,
                    };
                    if let Some(again) = retry {
                        if lost {
                            tracing::error!(error = ?outcome.err(), "the database went away; state changes wait for it, new tasks are refused");
                            act.lose_connection(ctx);
                        } else {
                            act.conn = Some(conn);
                            tracing::warn!(error = ?outcome.err(), "a batch met a transient database error; writing it again");
                        }
                        act.write_again(again, waiters);
                        act.commit_next(ctx);
                        return;
                    }
                    act.conn = Some(conn);
                    if act.full && outcome.is_ok() {
                        tracing::info!("the database's disk has room again; taking new work");
                        act.full = false;
                        act.metrics.store_full.set(0);
                        act.bus.publish(Event::Storage(StorageState { full: false }));
                    }
                    // Writes count against the store's bound until they are committed.
                    for _ in 0..batch {
                        act.probe.handled();
                    }
                    act.metrics.store_batch_size.observe(batch as f64);
                    let finished = Instant::now();
                    act.metrics
                        .store_commit_seconds
                        .observe((finished - started).as_secs_f64());
                    let mut waiters = waiters;
                    let phases = &act.metrics.submit_phases;
                    for waiter in &mut waiters {
                        if let Waiter::Task(_, Some(clock)) = waiter {
                            clock.lap_at(phases, Phase::BatchWait, started);
                            clock.lap_at(phases, Phase::Commit, finished);
                        }
                    }
                    let workflow = answer(outcome, waiters, &act.bus);
                    act.announce(workflow);
                    act.commit_next(ctx);
                }),
        );
    }

    /// Put a failed batch's state changes back at the head of the queue; refuse its creations.
    fn write_again(&mut self, again: Vec<Option<Op>>, waiters: Vec<Waiter>) {
        let mut kept = Vec::with_capacity(again.len());
        for (op, waiter) in again.into_iter().zip(waiters) {
            match (op, waiter) {
                (Some(op), waiter) => kept.push((op, waiter)),
                (None, waiter) => {
                    self.probe.handled();
                    refuse(waiter, self.refusal());
                }
            }
        }
        self.pending.splice(0..0, kept);
    }

    /// Refuse the creations waiting to be written (new tasks, agents, tokens): their clients hear
    /// why and may retry; state changes stay queued.
    fn refuse_creations(&mut self, why: impl Fn() -> StoreError) {
        let refused: Vec<(Op, Waiter)> = self
            .pending
            .extract_if(.., |(op, _)| op.again().is_none())
            .collect();
        for (_, waiter) in refused {
            self.probe.handled();
            refuse(waiter, why());
        }
    }

    /// The database is gone: reconnect in the background; until then creations are refused.
    fn lose_connection(&mut self, ctx: &mut Context<Self>) {
        self.outage = true;
        self.metrics.store_up.set(0);
        self.bus
            .publish(Event::Database(DatabaseState { up: false }));
        self.refuse_creations(|| StoreError::Unreachable);
        self.reconnect(ctx);
    }

    fn reconnect(&mut self, ctx: &mut Context<Self>) {
        let database = self.database.clone();
        let attempt = async move {
            tokio::time::sleep(RECONNECT_EVERY).await;
            Conn::open(&database).await
        };
        ctx.spawn(
            attempt
                .into_actor(self)
                .map(|opened, act, ctx| match opened {
                    Ok(conn) => {
                        tracing::info!(
                            waiting = act.pending.len(),
                            "the database is back; writing what waited"
                        );
                        act.conn = Some(conn);
                        act.outage = false;
                        act.metrics.store_up.set(1);
                        act.bus.publish(Event::Database(DatabaseState { up: true }));
                        act.commit_next(ctx);
                    }
                    Err(_) => act.reconnect(ctx),
                }),
        );
    }
}

/// Deadlocks and serialization failures: the same batch succeeds when written again.
fn is_transient(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(
        e,
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _)
    ) || matches!(e, Error::DatabaseError(_, info) if info.message().contains("deadlock detected"))
}

/// A full volume: SQLite's `SQLITE_FULL` and I/O errors, PostgreSQL's `disk_full` and failed
/// file extensions. The same batch commits once space returns.
fn is_storage_full(e: &diesel::result::Error) -> bool {
    let diesel::result::Error::DatabaseError(_, info) = e else {
        return false;
    };
    let message = info.message().to_ascii_lowercase();
    [
        "disk is full",
        "no space left",
        "could not extend file",
        "disk i/o error",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// A commit PostgreSQL did not answer within [`DATABASE_TIMEOUT`].
fn timed_out() -> diesel::result::Error {
    diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::UnableToSendCommand,
        Box::new(format!("no answer within {} s", DATABASE_TIMEOUT.as_secs())),
    )
}

/// Answer a creation the database cannot take now.
fn refuse(waiter: Waiter, why: StoreError) {
    let why = Arc::new(why);
    let unavailable = || why.clone();
    match waiter {
        Waiter::Task(reply, _) => {
            let _ = reply.send(Err(unavailable()));
        }
        Waiter::Unit(reply) => {
            let _ = reply.send(Err(unavailable()));
        }
        Waiter::Tasks(reply) => {
            let _ = reply.send(Err(unavailable()));
        }
        Waiter::Cancelled(reply) => {
            let _ = reply.send(Err(unavailable()));
        }
        Waiter::Flush(reply) => {
            let _ = reply.send(());
        }
        Waiter::Publish(..) | Waiter::PublishAll(..) | Waiter::None => {}
    }
}

impl StoreManager {
    /// One bounded retention pass on the connection, while new writes gather for the next batch.
    fn prune_next(&mut self, ctx: &mut Context<Self>) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        self.committing = true;
        let (cut, reply) = match self.prune_requests.pop() {
            Some(Prune { cutoffs, reply }) => (cutoffs, Some(reply)),
            None => {
                self.prune_due = false;
                (self.retention.cutoffs(now_ms()), None)
            }
        };
        let pass = async move {
            let outcome = retention::prune(&mut conn, cut).await;
            (conn, outcome)
        };
        ctx.spawn(pass.into_actor(self).map(|(conn, outcome), act, ctx| {
            act.conn = Some(conn);
            act.committing = false;
            match &outcome {
                Ok(pruned) => {
                    for (table, rows) in pruned.by_table() {
                        act.metrics
                            .store_pruned
                            .with_label_values(&[table])
                            .inc_by(rows as u64);
                    }
                    act.prune_due |= reply.is_none() && pruned.more();
                }
                // Retention waits for the next tick; the writes it interleaves with are unaffected.
                Err(e) => tracing::warn!(error = %e, "retention pass failed"),
            }
            if let Some(reply) = reply {
                let _ = reply.send(outcome.map_err(|e| Arc::new(StoreError::Database(e))));
            }
            act.commit_next(ctx);
        }));
    }
}

/// What one batch writes, sorted into multi-row statements: one transaction, a handful of
/// statements however many writes it holds.
#[derive(Default)]
struct Plan {
    /// Index in the batch of each new task, its row and its record.
    created: Vec<(usize, TaskRow, Box<TaskRecord>)>,
    /// Index in the batch of each group of new tasks, their rows and records.
    bulk: Vec<(usize, Vec<(TaskRow, TaskRecord)>)>,
    /// Tasks handed over by the answers this batch stores.
    sends: Vec<TaskRecord>,
    /// Index in the batch of each waiting task to cancel, and its id.
    cancels: Vec<(usize, String)>,
    /// The last state of each updated task (an upsert may touch a row once per statement).
    updated: HashMap<String, TaskRow>,
    history: Vec<NewTaskEvent>,
    /// The last new state of each agent whose attempt succeeded in this batch.
    agent_states: HashMap<String, Option<String>>,
    new_agents: Vec<AgentRow>,
    /// Agents whose subscriptions are cleared (a new set, or a deletion), before `subscriptions`
    /// are added.
    unsubscribed: Vec<String>,
    subscriptions: Vec<NewSubscription>,
    agent_updates: Vec<(String, &'static str, i64, Option<i64>)>,
    supervision: Vec<NewSupervisorEvent>,
    audit: Vec<NewAuditEntry>,
    tokens: Vec<TokenRow>,
    revocations: Vec<(String, i64)>,
}

impl Plan {
    fn of(ops: Vec<Op>, results: &mut [Option<Result<Done, StoreError>>]) -> Plan {
        let mut plan = Plan::default();
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::CreateTask(Err(e)) | Op::CreateAgents(Err(e), _) | Op::CreateTasks(Err(e)) => {
                    results[i] = Some(Err(e))
                }
                Op::CreateTask(Ok((row, task))) => plan.created.push((i, row, task)),
                Op::CreateTasks(Ok(rows)) => plan.bulk.push((i, rows)),
                Op::CancelWaiting(id) => plan.cancels.push((i, id)),
                Op::UpdateTask(row, event, agent, sends) => {
                    plan.sends.extend(sends);
                    plan.history.push(event);
                    plan.updated.insert(row.id.clone(), row);
                    if let Some((agent, state)) = agent {
                        plan.agent_states.insert(agent, state);
                    }
                }
                Op::CreateAgents(Ok(rows), topics) => {
                    for row in &rows {
                        plan.subscribe(&row.id, &topics);
                    }
                    plan.new_agents.extend(rows);
                }
                Op::SetTopics(agent, topics) => {
                    plan.unsubscribed.push(agent.clone());
                    plan.subscribe(&agent, &topics);
                }
                Op::Barrier => {}
                Op::UpdateAgent {
                    id,
                    status,
                    restarts,
                    deleted_at,
                } => {
                    if deleted_at.is_some() {
                        plan.unsubscribed.push(id.clone());
                    }
                    plan.agent_updates.push((id, status, restarts, deleted_at))
                }
                Op::SupervisorEvent(event) => plan.supervision.push(event),
                Op::Audit(entries) => plan.audit.extend(entries),
                Op::CreateToken(row) => plan.tokens.push(row),
                Op::RevokeToken { id, at } => plan.revocations.push((id, at)),
            }
        }
        plan
    }

    fn subscribe(&mut self, agent: &str, topics: &[String]) {
        self.subscriptions
            .extend(topics.iter().map(|topic| NewSubscription {
                topic: topic.clone(),
                agent_id: agent.to_owned(),
            }));
    }

    /// Which new tasks were stored, and which found the task that already had their key.
    fn creations(
        created: Vec<(usize, TaskRow, Box<TaskRecord>)>,
        holders: &HashMap<String, TaskRow>,
        history: &mut Vec<NewTaskEvent>,
        results: &mut [Option<Result<Done, StoreError>>],
    ) {
        for (i, row, task) in created {
            let holder = row.idempotency_key.as_ref().and_then(|k| holders.get(k));
            let stored = match holder {
                Some(holder) if holder.id != row.id => {
                    holder.clone().into_record().map(|task| Created {
                        task,
                        existing: true,
                        clock: None,
                    })
                }
                _ => {
                    let kind = TaskChange::to(task.status).history();
                    history.push(NewTaskEvent::of(&task, kind, task.created_at));
                    Ok(Created {
                        task: *task,
                        existing: false,
                        clock: None,
                    })
                }
            };
            results[i] = Some(stored.map(|created| Done::Task(Box::new(created))));
        }
    }
}

/// On PostgreSQL, which several nodes share, a task's new state is written only by the node
/// that holds it: a node whose work was taken over (it was thought lost, and was not) writes
/// nothing more to the tasks it no longer holds. One SQLite file has one server (`no`).
macro_rules! fence {
    (yes, $upsert:expr) => {
        diesel::query_dsl::methods::FilterDsl::filter(
            $upsert,
            tasks::node
                .eq(excluded(tasks::node))
                .assume_not_null()
                .or(tasks::node.is_null().and(excluded(tasks::node).is_null())),
        )
    };
    (no, $upsert:expr) => {
        $upsert
    };
}

/// The statements of one batch, written once: `$fence` is `yes` or `no` (see [`fence`]), `$Run` is diesel's synchronous or diesel-async's
/// `RunQueryDsl` and `$($wait)*` is empty or `.await`. SQLite runs the batch as one blocking call
/// (its multi-row `INSERT … ON CONFLICT` is built only by diesel's synchronous side), PostgreSQL
/// as async statements on its connection.
macro_rules! write_batch {
    ($c:ident, $plan:ident, $results:ident, $now:ident, $fence:ident, $Run:ident, $($wait:tt)*) => {{
        for chunk in $plan.created.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<&TaskRow> = chunk.iter().map(|(_, row, _)| row).collect();
            // A key that is already taken skips the row; its holder is read back below.
            let insert = diesel::insert_into(tasks::table)
                .values(rows)
                .on_conflict_do_nothing();
            $Run::execute(insert, $c)$($wait)*?;
        }
        let keys: Vec<&String> = $plan
            .created
            .iter()
            .filter_map(|(_, row, _)| row.idempotency_key.as_ref())
            .collect();
        let mut holders = HashMap::new();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let query = tasks::table
                .filter(tasks::idempotency_key.eq_any(chunk))
                .select(TaskRow::as_select());
            let found: Vec<TaskRow> = $Run::load(query, $c)$($wait)*?;
            holders.extend(
                found
                    .into_iter()
                    .filter_map(|row| Some((row.idempotency_key.clone()?, row))),
            );
        }
        for (_, group) in &$plan.bulk {
            for chunk in group.chunks(ROWS_PER_STATEMENT) {
                let rows: Vec<&TaskRow> = chunk.iter().map(|(row, _)| row).collect();
                $Run::execute(diesel::insert_into(tasks::table).values(rows), $c)$($wait)*?;
            }
        }
        // Hand-offs to one agent take its role, read in this transaction.
        let targets: Vec<&String> = $plan.sends.iter().filter_map(|t| t.agent.as_ref()).collect();
        let mut owners = HashMap::new();
        for chunk in targets.chunks(ROWS_PER_STATEMENT) {
            let query = agents::table
                .filter(agents::id.eq_any(chunk))
                .filter(agents::deleted_at.is_null())
                .select((agents::id, agents::role));
            let found: Vec<(String, String)> = $Run::load(query, $c)$($wait)*?;
            owners.extend(found);
        }
        let sends: Vec<TaskRecord> = $plan
            .sends
            .into_iter()
            .map(|t| super::workflow::addressed(t, &owners, $now))
            .collect();
        let send_rows: Vec<TaskRow> = sends
            .iter()
            .filter_map(|t| TaskRow::from_record(t, $now).ok())
            .collect();
        for chunk in send_rows.chunks(ROWS_PER_STATEMENT) {
            $Run::execute(diesel::insert_into(tasks::table).values(chunk), $c)$($wait)*?;
        }
        // Who waits for whom, for every task this batch created waiting (not one whose
        // idempotency key another task already held).
        let mine = |row: &TaskRow| {
            row.idempotency_key
                .as_ref()
                .and_then(|k| holders.get(k))
                .is_none_or(|holder| holder.id == row.id)
        };
        let mut waiting = Vec::new();
        let mut edges = Vec::new();
        let new_tasks = $plan
            .created
            .iter()
            .filter(|(_, row, _)| mine(row))
            .map(|(_, _, t)| &**t)
            .chain($plan.bulk.iter().flat_map(|(_, g)| g.iter().map(|(_, t)| t)))
            .chain(sends.iter());
        for task in new_tasks.filter(|t| t.status == TaskStatus::Waiting) {
            waiting.push(task.id.clone());
            edges.extend(task.depends_on.iter().map(|d| NewDependency {
                dependency_id: d.clone(),
                task_id: task.id.clone(),
            }));
        }
        for chunk in edges.chunks(ROWS_PER_STATEMENT) {
            let insert = diesel::insert_into(task_dependencies::table).values(chunk);
            $Run::execute(insert, $c)$($wait)*?;
        }
        let mut finals: Vec<String> = $plan
            .updated
            .values()
            .filter(|row| TaskStatus::parse(&row.status).is_some_and(TaskStatus::is_final))
            .map(|row| row.id.clone())
            .collect();
        let updated: Vec<TaskRow> = $plan.updated.into_values().collect();
        for chunk in updated.chunks(ROWS_PER_STATEMENT) {
            let upsert = fence!($fence, diesel::insert_into(tasks::table)
                .values(chunk)
                .on_conflict(tasks::id)
                .do_update()
                .set((
                    tasks::status.eq(excluded(tasks::status)),
                    tasks::attempts.eq(excluded(tasks::attempts)),
                    tasks::result.eq(excluded(tasks::result)),
                    tasks::error.eq(excluded(tasks::error)),
                    tasks::agent_id.eq(excluded(tasks::agent_id)),
                    tasks::started_at.eq(excluded(tasks::started_at)),
                    tasks::finished_at.eq(excluded(tasks::finished_at)),
                    tasks::queued_at.eq(excluded(tasks::queued_at)),
                    tasks::updated_at.eq(excluded(tasks::updated_at)),
                )));
            $Run::execute(upsert, $c)$($wait)*?;
        }
        for chunk in $plan.new_agents.chunks(ROWS_PER_STATEMENT) {
            $Run::execute(diesel::insert_into(agents::table).values(chunk), $c)$($wait)*?;
        }
        for (id, state) in &$plan.agent_states {
            let update = diesel::update(agents::table.find(id)).set(agents::state.eq(state));
            $Run::execute(update, $c)$($wait)*?;
        }
        for (id, status, restarts, deleted_at) in &$plan.agent_updates {
            let update = diesel::update(agents::table.find(id)).set((
                agents::status.eq(*status),
                agents::restarts.eq(*restarts),
                agents::deleted_at.eq(*deleted_at),
                agents::last_heartbeat.eq($now),
            ));
            $Run::execute(update, $c)$($wait)*?;
        }
        for chunk in $plan.unsubscribed.chunks(ROWS_PER_STATEMENT) {
            let cleared = topic_subscriptions::table.filter(topic_subscriptions::agent_id.eq_any(chunk));
            $Run::execute(diesel::delete(cleared), $c)$($wait)*?;
        }
        for chunk in $plan.subscriptions.chunks(ROWS_PER_STATEMENT) {
            let insert = diesel::insert_into(topic_subscriptions::table)
                .values(chunk)
                .on_conflict_do_nothing();
            $Run::execute(insert, $c)$($wait)*?;
        }
        for chunk in $plan.supervision.chunks(ROWS_PER_STATEMENT) {
            let insert = diesel::insert_into(supervisor_events::table).values(chunk);
            $Run::execute(insert, $c)$($wait)*?;
        }
        for chunk in $plan.audit.chunks(ROWS_PER_STATEMENT) {
            let insert = diesel::insert_into(audit_log::table).values(chunk);
            $Run::execute(insert, $c)$($wait)*?;
        }
        for chunk in $plan.tokens.chunks(ROWS_PER_STATEMENT) {
            $Run::execute(diesel::insert_into(api_tokens::table).values(chunk), $c)$($wait)*?;
        }
        for (id, at) in &$plan.revocations {
            $Run::execute(super::access::revocation(id, *at), $c)$($wait)*?;
        }
        let mut history = $plan.history;
        let mut events: Vec<Event> = Vec::new();
        let mut cancelled = Vec::new();
        for (i, id) in &$plan.cancels {
            let update = diesel::update(tasks::table.find(id))
                .filter(tasks::status.eq(TaskStatus::Waiting.as_str()))
                .set((
                    tasks::status.eq(TaskStatus::Cancelled.as_str()),
                    tasks::finished_at.eq($now),
                    tasks::error.eq(CANCELLED_BY_CLIENT),
                    tasks::updated_at.eq($now),
                ));
            if $Run::execute(update, $c)$($wait)*? == 1 {
                finals.push(id.clone());
                cancelled.push((*i, id.clone()));
            } else {
                $results[*i] = Some(Ok(Done::Cancelled(None)));
            }
        }
        for (i, id) in cancelled {
            let query = tasks::table.find(&id).select(TaskRow::as_select());
            let row: TaskRow = $Run::first(query, $c)$($wait)*?;
            let task = row.into_record().ok();
            if let Some(task) = &task {
                history.push(NewTaskEvent::of(task, "cancelled", $now));
                events.push(Event::Task(TaskChange::Cancelled, task.into()));
            }
            $results[i] = Some(Ok(Done::Cancelled(task.map(Box::new))));
        }
        let changed = resolve_waiting!($c, $Run, $now, finals, waiting, $($wait)*);
        // History in the order it happened: each new task's creation, then what the
        // dependencies made of the waiting ones.
        Plan::creations($plan.created, &holders, &mut history, &mut $results);
        for task in $plan.bulk.iter().flat_map(|(_, g)| g.iter().map(|(_, t)| t)).chain(sends.iter()) {
            let kind = TaskChange::to(task.status).history();
            history.push(NewTaskEvent::of(task, kind, task.created_at));
        }
        for task in &changed {
            history.push(NewTaskEvent::of(task, TaskChange::to(task.status).history(), $now));
        }
        let mut changed: HashMap<String, TaskRecord> =
            changed.into_iter().map(|t| (t.id.clone(), t)).collect();
        for result in $results.iter_mut().flatten() {
            if let Ok(Done::Task(created)) = result {
                if let Some(task) = changed.remove(&created.task.id).filter(|_| !created.existing) {
                    created.task = task;
                }
            }
        }
        for (i, group) in $plan.bulk {
            let tasks = group
                .into_iter()
                .map(|(_, t)| changed.remove(&t.id).unwrap_or(t))
                .collect();
            $results[i] = Some(Ok(Done::Tasks(tasks)));
        }
        let mut workflow = Workflow::default();
        let later = changed.into_values();
        for task in sends.into_iter().chain(later) {
            events.push(Event::Task(TaskChange::to(task.status), (&task).into()));
            if task.status == TaskStatus::Queued {
                workflow.released.push(task);
            }
        }
        workflow.events = events;
        for chunk in history.chunks(ROWS_PER_STATEMENT) {
            let insert = diesel::insert_into(task_events::table).values(chunk);
            $Run::execute(insert, $c)$($wait)*?;
        }
        Ok::<_, diesel::result::Error>(($results, workflow))
    }};
}

/// Commit one batch in one transaction.
async fn commit(conn: &mut Conn, ops: Vec<Op>) -> Outcome {
    use diesel::RunQueryDsl as SyncRun;
    use diesel_async::RunQueryDsl as AsyncRun;

    let mut results: Vec<Option<Result<Done, StoreError>>> = (0..ops.len()).map(|_| None).collect();
    let plan = Plan::of(ops, &mut results);
    let now = now_ms();
    let (results, workflow) = match conn {
        Conn::Sqlite(c) => {
            c.spawn_blocking(move |c| {
                c.immediate_transaction(|c| {
                    let mut results = results;
                    write_batch!(c, plan, results, now, no, SyncRun,)
                })
            })
            .await?
        }
        Conn::Postgres(c) => {
            c.transaction(async move |c| {
                super::backend::serialize_writers(c).await?;
                let mut results = results;
                write_batch!(c, plan, results, now, yes, AsyncRun, .await)
            })
            .await?
        }
    };
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or(Ok(Done::Other)))
        .collect();
    Ok((results, workflow))
}

/// Answer each write of a batch; what the batch did beyond them is left for the caller.
fn answer(outcome: Outcome, waiters: Vec<Waiter>, bus: &EventBus) -> Workflow {
    match outcome {
        Ok((results, workflow)) => {
            for (result, waiter) in results.into_iter().zip(waiters) {
                match (waiter, result) {
                    (Waiter::Task(reply, clock), Ok(Done::Task(mut created))) => {
                        if !created.existing {
                            let change = TaskChange::to(created.task.status);
                            bus.publish(Event::Task(change, (&created.task).into()));
                        }
                        created.clock = clock;
                        let _ = reply.send(Ok(*created));
                    }
                    (Waiter::Tasks(reply), Ok(Done::Tasks(tasks))) => {
                        for task in &tasks {
                            bus.publish(Event::Task(TaskChange::to(task.status), task.into()));
                        }
                        let _ = reply.send(Ok(tasks));
                    }
                    (Waiter::Cancelled(reply), Ok(Done::Cancelled(task))) => {
                        let _ = reply.send(Ok(task.map(|t| *t)));
                    }
                    (Waiter::Tasks(reply), Err(e)) => {
                        let _ = reply.send(Err(Arc::new(e)));
                    }
                    (Waiter::Cancelled(reply), Err(e)) => {
                        let _ = reply.send(Err(Arc::new(e)));
                    }
                    (Waiter::Task(reply, _), Err(e)) => {
                        let _ = reply.send(Err(Arc::new(e)));
                    }
                    (Waiter::Unit(reply), r) => {
                        let _ = reply.send(r.map(|_| ()).map_err(Arc::new));
                    }
                    (Waiter::Flush(reply), _) => {
                        let _ = reply.send(());
                    }
                    (Waiter::Publish(event), _) => bus.publish(*event),
                    (Waiter::PublishAll(events), _) => {
                        for event in events {
                            bus.publish(event);
                        }
                    }
                    // A write answers with its own kind of `Done`; no other pairs arise.
                    (Waiter::Task(..) | Waiter::Tasks(_) | Waiter::Cancelled(_), Ok(_))
                    | (Waiter::None, _) => {}
                }
            }
            workflow
        }
        Err(e) => {
            tracing::error!(error = %e, "store commit failed; the batch is lost");
            let e = Arc::new(StoreError::Database(e));
            for waiter in waiters {
                match waiter {
                    Waiter::Task(reply, _) => {
                        let _ = reply.send(Err(e.clone()));
                    }
                    Waiter::Unit(reply) => {
                        let _ = reply.send(Err(e.clone()));
                    }
                    Waiter::Tasks(reply) => {
                        let _ = reply.send(Err(e.clone()));
                    }
                    Waiter::Cancelled(reply) => {
                        let _ = reply.send(Err(e.clone()));
                    }
                    Waiter::Flush(reply) => {
                        let _ = reply.send(());
                    }
                    // A state that was not committed is not announced.
                    Waiter::Publish(..) | Waiter::PublishAll(..) | Waiter::None => {}
                }
            }
            Workflow::default()
        }
    }
}

impl Actor for StoreManager {
    type Context = Context<Self>;

    /// Connects before the first message is handled; a store that cannot connect exits with the
    /// reason, and its supervisor retries with backoff.
    fn started(&mut self, ctx: &mut Context<Self>) {
        self.probe.actor_started();
        let database = self.database.clone();
        ctx.wait(
            async move { Conn::open(&database).await }
                .into_actor(self)
                .map(|opened, act, ctx| match opened {
                    Ok(conn) => {
                        act.conn = Some(conn);
                        act.metrics.store_up.set(1);
                        // Every tick, whatever the periods: they are a live setting.
                        act.prune_due = !act.retention.keeps_everything();
                        ctx.run_interval(PRUNE_EVERY, |act, ctx| {
                            act.prune_due = !act.retention.keeps_everything();
                            act.commit_next(ctx);
                        });
                        act.commit_next(ctx);
                    }
                    Err(e) => {
                        act.exit.fail(e.to_string());
                        ctx.stop();
                    }
                }),
        );
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.probe.actor_stopped();
    }
}

impl Handler<Persist> for StoreManager {
    type Result = ();

    fn handle(&mut self, Persist(write): Persist, ctx: &mut Context<Self>) {
        // The handler's own share; the commit it joins is `hive_store_commit_duration_seconds`.
        let _timer = self.metrics.processing("store");
        let now = now_ms();
        let entry = match write {
            Write::CreateTask {
                task,
                mut clock,
                reply,
            } => {
                if let Some(clock) = &mut clock {
                    clock.lap(&self.metrics.submit_phases, Phase::ToStore);
                }
                let row = TaskRow::from_record(&task, now).map(|row| (row, Box::new(task)));
                (Op::CreateTask(row), Waiter::Task(reply, clock))
            }
            Write::CreateTasks { tasks, reply } => {
                let rows = tasks
                    .into_iter()
                    .map(|task| TaskRow::from_record(&task, now).map(|row| (row, task)))
                    .collect();
                (Op::CreateTasks(rows), Waiter::Tasks(reply))
            }
            Write::CancelWaiting { id, reply } => (Op::CancelWaiting(id), Waiter::Cancelled(reply)),
            Write::UpdateTask {
                spec,
                state,
                change,
                agent_state,
                sends,
            } => {
                let task = TaskRecord::join(&spec, &state);
                let op = match TaskRow::from_record(&task, now) {
                    Ok(row) => {
                        let history = NewTaskEvent::of(&task, history_kind(&task, change), now);
                        let agent = agent_state
                            .map(|(id, state)| (id.to_string(), state.map(|s| s.to_string())));
                        Op::UpdateTask(row, history, agent, sends)
                    }
                    Err(e) => {
                        tracing::error!(task = %task.id, error = %e, "cannot store a task's state");
                        Op::Barrier
                    }
                };
                let waiter = change.map_or(Waiter::None, |change| {
                    Waiter::Publish(Box::new(Event::Task(change, (&task).into())))
                });
                (op, waiter)
            }
            Write::CreateAgents {
                agents,
                state,
                topics,
                reply,
            } => {
                let rows = agents
                    .iter()
                    .map(|a| AgentRow::from_info(a, state.as_ref()))
                    .collect();
                (Op::CreateAgents(rows, topics), Waiter::Unit(reply))
            }
            Write::SetTopics {
                agent,
                topics,
                reply,
            } => (Op::SetTopics(agent, topics), Waiter::Unit(reply)),
            Write::UpdateAgent {
                id,
                status,
                restarts,
                deleted,
            } => {
                let waiter = if deleted {
                    let deleted = AgentDeleted { id: id.clone() };
                    Waiter::Publish(Box::new(Event::AgentDeleted(deleted)))
                } else {
                    Waiter::None
                };
                let op = Op::UpdateAgent {
                    id,
                    status: status.as_str(),
                    restarts: restarts as i64,
                    deleted_at: deleted.then_some(now),
                };
                (op, waiter)
            }
            Write::SupervisorEvent(event) => (Op::SupervisorEvent(event), Waiter::None),
            Write::Audit(entries) => {
                let events = entries
                    .iter()
                    .map(|entry| {
                        Event::Audit(Audited {
                            at: entry.at,
                            actor: entry.actor.clone(),
                            role: entry.role,
                            method: entry.method.clone(),
                            path: entry.path.clone(),
                            status: entry.status,
                            outcome: entry.outcome,
                        })
                    })
                    .collect();
                (Op::Audit(entries), Waiter::PublishAll(events))
            }
            Write::CreateToken { row, reply } => (Op::CreateToken(row), Waiter::Unit(reply)),
            Write::RevokeToken { id, at, reply } => {
                (Op::RevokeToken { id, at }, Waiter::Unit(reply))
            }
        };
        if (self.outage || self.full) && entry.0.again().is_none() {
            self.probe.handled();
            refuse(entry.1, self.refusal());
            return;
        }
        self.pending.push(entry);
        self.commit_next(ctx);
    }
}

/// The history entry of a state change: the change it announces, or for one that announces
/// nothing, `requeued` (handed back, recovered) or the final status.
fn history_kind(task: &TaskRecord, change: Option<TaskChange>) -> &'static str {
    match change {
        Some(change) => change.history(),
        None if task.status == TaskStatus::Queued => "requeued",
        None => task.status.as_str(),
    }
}

impl Handler<Prune> for StoreManager {
    type Result = ();

    fn handle(&mut self, prune: Prune, ctx: &mut Context<Self>) {
        self.probe.handled();
        self.prune_requests.push(prune);
        self.commit_next(ctx);
    }
}

impl Handler<SetRetention> for StoreManager {
    type Result = ();

    fn handle(&mut self, SetRetention(retention): SetRetention, _: &mut Context<Self>) {
        self.probe.handled();
        self.retention = retention;
    }
}

impl Handler<Flush> for StoreManager {
    type Result = ();

    fn handle(&mut self, Flush(reply): Flush, ctx: &mut Context<Self>) {
        if self.pending.is_empty() && !self.committing {
            self.probe.handled();
            let _ = reply.send(());
            return;
        }
        // An empty update that rides in the last batch: answered when that batch is committed.
        self.pending.push((Op::Barrier, Waiter::Flush(reply)));
        self.commit_next(ctx);
    }
}

impl Handler<Shutdown> for StoreManager {
    type Result = ();

    /// Stops only once everything queued is committed: the store is the last of the tree to stop.
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        self.closing = true;
        self.commit_next(ctx);
    }
}
