//! The StoreManager actor: the only writer. Writes queue in its mailbox and are committed in
//! groups: while one transaction runs, the next batch gathers, so under load one fsync covers many
//! tasks. Whoever needs durability (the 202 of `POST /api/v1/tasks`) waits for the commit that
//! holds its write.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use hive_actors::{MailboxProbe, Shutdown};
use tokio::sync::oneshot;

use super::models::{AgentRow, TaskChange, TaskRow};
use super::schema::{agents, tasks};
use super::{SqliteConn, StoreError};
use crate::bus::{task_event, EventBus};
use crate::domain::agent::{AgentInfo, AgentStatus};
use crate::domain::task::TaskRecord;
use crate::domain::time::now_ms;
use crate::metrics::Metrics;

/// Most writes in one transaction: large enough to amortise the fsync, small enough that one
/// commit does not hold the writer for long.
const MAX_BATCH: usize = 2048;

/// A new task as stored: either this one, or the one that already had its idempotency key.
#[derive(Debug)]
pub struct Created {
    pub task: TaskRecord,
    pub existing: bool,
}

type Reply<T> = oneshot::Sender<Result<T, Arc<StoreError>>>;

/// One write. Those with a reply are answered after their commit.
#[derive(Debug)]
pub enum Write {
    CreateTask {
        task: TaskRecord,
        reply: Reply<Created>,
    },
    /// A new state of an accepted task, and the event that announces it once committed.
    UpdateTask {
        task: TaskRecord,
        event: Option<&'static str>,
    },
    CreateAgents {
        agents: Vec<AgentInfo>,
        reply: Reply<()>,
    },
    UpdateAgent {
        id: String,
        status: AgentStatus,
        restarts: u64,
        deleted: bool,
    },
}

#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Persist(pub Write);

/// Answered once every write received before it is committed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush(pub oneshot::Sender<()>);

/// What the blocking side of a batch does, with no reply channels in it.
enum Op {
    CreateTask(Result<TaskRow, StoreError>),
    UpdateTask(String, TaskChange),
    CreateAgents(Result<Vec<AgentRow>, StoreError>),
    /// Writes nothing: rides in a batch so that a flush is answered when that batch commits.
    Barrier,
    UpdateAgent {
        id: String,
        status: &'static str,
        restarts: i64,
        deleted_at: Option<i64>,
    },
}

enum Done {
    Task(Box<Created>),
    Other,
}

enum Waiter {
    Task(Reply<Created>),
    Unit(Reply<()>),
    Flush(oneshot::Sender<()>),
    Publish(&'static str, Box<serde_json::Value>),
    None,
}

pub struct StoreManager {
    conn: SqliteConn,
    pending: Vec<(Op, Waiter)>,
    committing: bool,
    closing: bool,
    probe: Arc<MailboxProbe>,
    metrics: Arc<Metrics>,
    /// Task events are published here after the commit that holds the state they announce.
    bus: EventBus,
}

impl StoreManager {
    pub fn new(
        conn: SqliteConn,
        probe: Arc<MailboxProbe>,
        metrics: Arc<Metrics>,
        bus: EventBus,
    ) -> Self {
        Self {
            conn,
            pending: Vec::new(),
            committing: false,
            closing: false,
            probe,
            metrics,
            bus,
        }
    }

    fn commit_next(&mut self, ctx: &mut Context<Self>) {
        if self.committing {
            return;
        }
        if self.pending.is_empty() {
            if self.closing {
                ctx.stop();
            }
            return;
        }
        self.committing = true;
        let take = self.pending.len().min(MAX_BATCH);
        let (ops, waiters): (Vec<Op>, Vec<Waiter>) = self.pending.drain(..take).unzip();
        let batch = ops.len();
        let started = Instant::now();
        let commit = self.conn.spawn_blocking(move |c| {
            c.immediate_transaction(|c| ops.into_iter().map(|op| apply(c, op)).collect())
        });
        ctx.spawn(commit.into_actor(self).map(move |outcome, act, ctx| {
            // Writes count against the store's bound until they are committed.
            for _ in 0..batch {
                act.probe.handled();
            }
            act.metrics.store_batch_size.observe(batch as f64);
            act.metrics
                .store_commit_seconds
                .observe(started.elapsed().as_secs_f64());
            answer(outcome, waiters, &act.bus);
            act.committing = false;
            act.commit_next(ctx);
        }));
    }
}

fn apply(c: &mut SqliteConnection, op: Op) -> QueryResult<Result<Done, StoreError>> {
    match op {
        Op::CreateTask(Err(e)) | Op::CreateAgents(Err(e)) => Ok(Err(e)),
        Op::CreateTask(Ok(row)) => {
            if let Some(key) = &row.idempotency_key {
                let found = tasks::table
                    .filter(tasks::idempotency_key.eq(key))
                    .select(TaskRow::as_select())
                    .first(c)
                    .optional()?;
                if let Some(found) = found {
                    return Ok(found.into_record().map(|task| {
                        Done::Task(Box::new(Created {
                            task,
                            existing: true,
                        }))
                    }));
                }
            }
            diesel::insert_into(tasks::table).values(&row).execute(c)?;
            Ok(row.into_record().map(|task| {
                Done::Task(Box::new(Created {
                    task,
                    existing: false,
                }))
            }))
        }
        Op::UpdateTask(id, change) => {
            diesel::update(tasks::table.find(id))
                .set(&change)
                .execute(c)?;
            Ok(Ok(Done::Other))
        }
        Op::CreateAgents(Ok(rows)) => {
            for row in &rows {
                diesel::insert_into(agents::table).values(row).execute(c)?;
            }
            Ok(Ok(Done::Other))
        }
        Op::Barrier => Ok(Ok(Done::Other)),
        Op::UpdateAgent {
            id,
            status,
            restarts,
            deleted_at,
        } => {
            diesel::update(agents::table.find(id))
                .set((
                    agents::status.eq(status),
                    agents::restarts.eq(restarts),
                    agents::deleted_at.eq(deleted_at),
                    agents::last_heartbeat.eq(now_ms()),
                ))
                .execute(c)?;
            Ok(Ok(Done::Other))
        }
    }
}

fn answer(
    outcome: QueryResult<Vec<Result<Done, StoreError>>>,
    waiters: Vec<Waiter>,
    bus: &EventBus,
) {
    match outcome {
        Ok(results) => {
            for (result, waiter) in results.into_iter().zip(waiters) {
                match (waiter, result) {
                    (Waiter::Task(reply), Ok(Done::Task(created))) => {
                        let _ = reply.send(Ok(*created));
                    }
                    (Waiter::Task(reply), Err(e)) => {
                        let _ = reply.send(Err(Arc::new(e)));
                    }
                    (Waiter::Unit(reply), r) => {
                        let _ = reply.send(r.map(|_| ()).map_err(Arc::new));
                    }
                    (Waiter::Flush(reply), _) => {
                        let _ = reply.send(());
                    }
                    (Waiter::Publish(kind, data), _) => bus.publish(kind, *data),
                    (Waiter::Task(_), Ok(Done::Other)) | (Waiter::None, _) => {}
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "store commit failed; the batch is lost");
            let e = Arc::new(StoreError::Database(e));
            for waiter in waiters {
                match waiter {
                    Waiter::Task(reply) => {
                        let _ = reply.send(Err(e.clone()));
                    }
                    Waiter::Unit(reply) => {
                        let _ = reply.send(Err(e.clone()));
                    }
                    Waiter::Flush(reply) => {
                        let _ = reply.send(());
                    }
                    // A state that was not committed is not announced.
                    Waiter::Publish(..) | Waiter::None => {}
                }
            }
        }
    }
}

impl Actor for StoreManager {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.probe.actor_started();
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.probe.actor_stopped();
    }
}

impl Handler<Persist> for StoreManager {
    type Result = ();

    fn handle(&mut self, Persist(write): Persist, ctx: &mut Context<Self>) {
        let now = now_ms();
        let entry = match write {
            Write::CreateTask { task, reply } => (
                Op::CreateTask(TaskRow::from_record(&task, now)),
                Waiter::Task(reply),
            ),
            Write::UpdateTask { task, event } => (
                Op::UpdateTask(task.id.clone(), TaskChange::from_record(&task, now)),
                event.map_or(Waiter::None, |kind| {
                    Waiter::Publish(kind, Box::new(task_event(&task)))
                }),
            ),
            Write::CreateAgents { agents, reply } => {
                let rows = agents.iter().map(AgentRow::from_info).collect();
                (Op::CreateAgents(rows), Waiter::Unit(reply))
            }
            Write::UpdateAgent {
                id,
                status,
                restarts,
                deleted,
            } => (
                Op::UpdateAgent {
                    id,
                    status: status.as_str(),
                    restarts: restarts as i64,
                    deleted_at: deleted.then_some(now),
                },
                Waiter::None,
            ),
        };
        self.pending.push(entry);
        self.commit_next(ctx);
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
