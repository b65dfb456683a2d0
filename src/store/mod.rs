//! Persistence. The [`StoreManager`](manager::StoreManager) actor is the only writer and commits
//! writes in groups; [`Store`] is the cloneable read side, a pool of connections that the HTTP
//! handlers query directly. Both run on SQLite or PostgreSQL ([`backend`]) with the same queries.
//! The one exception to the single writer is API tokens (see `access`).

mod access;
pub mod backend;
pub mod config_versions;
mod graph;
mod holders;
mod leases;
pub mod manager;
pub mod models;
pub mod retention;
pub mod schema;
pub mod sqlite_heap;
pub mod topics;
pub mod workflow;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::domain::names::Role;
use crate::domain::task::{Priority, TaskRecord, TaskStatus};
use backend::{with_conn, Pool};
use models::{AgentRow, KindCache, StoredAgent, SupervisorEventRow, TaskEventRow, TaskRow};
use schema::{agents, supervisor_events, task_counts, task_events, tasks};

pub use backend::{Conn, Database};

/// Readers in the pool: a handful covers the HTTP workers of a 2-core machine without holding
/// many file descriptors or PostgreSQL backends.
const READ_POOL_SIZE: u32 = 4;
/// Most rows the SLA report reads for one window (about 2 MB in flight per report, and at most
/// one report per pooled connection): beyond that it reports on the newest.
const SLA_MAX_ROWS: i64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("cannot open the database at {database}: {reason}")]
    Open { database: String, reason: String },
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is not running")]
    Unavailable,
    /// The writer's queue is full: the write was not taken.
    #[error("the store's queue of writes is full; retry shortly")]
    Busy,
    /// The writer lost its database and waits for it: creations are refused meanwhile.
    #[error("the database is unreachable; retry shortly")]
    Unreachable,
    /// The database's volume is full: creations are refused, state changes wait for space.
    #[error("the database's disk is full; nothing new is taken until space returns")]
    StorageFull,
    #[error(
        "unsupported database URL {0:?}: give a postgres:// URL, a sqlite:// URL or a file path"
    )]
    UnsupportedUrl(String),
}

/// Which tasks a listing wants.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub role: Option<Role>,
    pub priority: Option<Priority>,
    /// Addressed to this agent.
    pub agent: Option<String>,
    /// Handed over by this task's answer.
    pub parent_id: Option<String>,
    /// Created at or after (epoch ms).
    pub created_since: Option<i64>,
    /// Created before (epoch ms).
    pub created_until: Option<i64>,
    /// Only ids after this one (the cursor of the previous page).
    pub after: Option<String>,
    pub limit: i64,
}

/// The read side of the store.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

impl Store {
    /// A pool that connects on first use, so it can exist before the schema does.
    pub fn new(database: &Database) -> Self {
        Self {
            pool: Pool::new(database, READ_POOL_SIZE),
        }
    }

    pub async fn task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let mut conn = self.pool.get().await?;
        let row = with_conn!(pooled &mut conn, c => tasks::table
            .find(id)
            .select(TaskRow::as_select())
            .first(c)
            .await
            .optional())?;
        row.map(TaskRow::into_record).transpose()
    }

    pub async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>, StoreError> {
        let mut conn = self.pool.get().await?;
        let rows: Vec<TaskRow> = with_conn!(pooled &mut conn, c => {
            let mut query = tasks::table.select(TaskRow::as_select()).into_boxed();
            if let Some(status) = filter.status {
                query = query.filter(tasks::status.eq(status.as_str()));
            }
            if let Some(role) = &filter.role {
                query = query.filter(tasks::role.eq(role.as_str().to_owned()));
            }
            if let Some(priority) = filter.priority {
                query = query.filter(tasks::priority.eq(priority.as_i16()));
            }
            if let Some(agent) = &filter.agent {
                query = query.filter(tasks::agent.eq(agent.clone()));
            }
            if let Some(parent) = &filter.parent_id {
                query = query.filter(tasks::parent_id.eq(parent.clone()));
            }
            if let Some(since) = filter.created_since {
                query = query.filter(tasks::created_at.ge(since));
            }
            if let Some(until) = filter.created_until {
                query = query.filter(tasks::created_at.lt(until));
            }
            if let Some(after) = &filter.after {
                query = query.filter(tasks::id.gt(after.clone()));
            }
            query.order(tasks::id.asc()).limit(filter.limit).load(c).await
        })?;
        rows.into_iter().map(TaskRow::into_record).collect()
    }

    /// Tasks a previous process accepted and did not finish, oldest first: at most `limit`, after
    /// the task `after` if given (a page of a backlog larger than a node holds at once).
    pub async fn unfinished_tasks(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let mut conn = self.pool.get().await?;
        let unfinished = [TaskStatus::Queued.as_str(), TaskStatus::Running.as_str()];
        let after = after.unwrap_or_default();
        let rows: Vec<TaskRow> = with_conn!(pooled &mut conn, c => tasks::table
            .select(TaskRow::as_select())
            .filter(tasks::status.eq_any(unfinished))
            .filter(tasks::id.gt(after))
            .order(tasks::id.asc())
            .limit(limit)
            .load(c)
            .await)?;
        rows.into_iter().map(TaskRow::into_record).collect()
    }

    /// How many tasks are queued or running, from the status counts the store keeps.
    pub async fn unfinished_count(&self) -> Result<usize, StoreError> {
        let counts = self.task_counts().await?;
        let unfinished = [TaskStatus::Queued.as_str(), TaskStatus::Running.as_str()];
        Ok(counts
            .iter()
            .filter(|(status, _)| unfinished.contains(&status.as_str()))
            .map(|(_, n)| usize::try_from(*n).unwrap_or(0))
            .sum())
    }

    pub async fn task_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut conn = self.pool.get().await?;
        // Read from the counts the triggers keep: a few rows, however long the history.
        Ok(with_conn!(pooled &mut conn, c => task_counts::table
            .select((task_counts::status, task_counts::n))
            .load(c)
            .await)?)
    }

    /// One task's history, oldest first.
    pub async fn task_events(&self, id: &str) -> Result<Vec<TaskEventRow>, StoreError> {
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => task_events::table
            .filter(task_events::task_id.eq(id))
            .select(TaskEventRow::as_select())
            .order(task_events::id.asc())
            .load(c)
            .await)?)
    }

    /// Supervision decisions after `after` (an event id), oldest first.
    pub async fn supervisor_events(
        &self,
        supervisor: Option<&str>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SupervisorEventRow>, StoreError> {
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => {
            let mut query = supervisor_events::table
                .select(SupervisorEventRow::as_select())
                .into_boxed();
            if let Some(supervisor) = supervisor {
                query = query.filter(supervisor_events::supervisor.eq(supervisor.to_owned()));
            }
            if let Some(after) = after {
                query = query.filter(supervisor_events::id.gt(after));
            }
            query.order(supervisor_events::id.asc()).limit(limit).load(c).await
        })?)
    }

    /// Tasks that finished at or after `since` (epoch ms) having started: per task its priority,
    /// queue wait and run time in milliseconds, newest first.
    pub async fn finished_since(
        &self,
        since: i64,
    ) -> Result<Vec<(Priority, i64, i64)>, StoreError> {
        let mut conn = self.pool.get().await?;
        let rows: Vec<(i16, i64, Option<i64>, Option<i64>)> = with_conn!(pooled &mut conn, c => tasks::table
            .filter(tasks::finished_at.ge(since))
            .filter(tasks::started_at.is_not_null())
            .select((tasks::priority, tasks::queued_at, tasks::started_at, tasks::finished_at))
            .order(tasks::finished_at.desc())
            .limit(SLA_MAX_ROWS)
            .load(c)
            .await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(priority, queued, started, finished)| {
                let (started, finished) = (started?, finished?);
                Some((
                    Priority::from_i16(priority),
                    (started - queued).max(0),
                    (finished - started).max(0),
                ))
            })
            .collect())
    }

    /// Agents of this node (`None`: a single server) that were not deleted, with their restart
    /// counts, to be started again.
    pub async fn live_agents(&self, node: Option<&str>) -> Result<Vec<StoredAgent>, StoreError> {
        let mut conn = self.pool.get().await?;
        let rows: Vec<AgentRow> = with_conn!(pooled &mut conn, c => {
            let mut query = agents::table
                .select(AgentRow::as_select())
                .filter(agents::deleted_at.is_null())
                .into_boxed();
            query = match node {
                Some(node) => query.filter(agents::node.eq(node.to_owned())),
                None => query.filter(agents::node.is_null()),
            };
            query.order(agents::id.asc()).load(c).await
        })?;
        let mut kinds = KindCache::default();
        rows.into_iter()
            .map(|row| row.into_info(&mut kinds))
            .collect()
    }

    /// One agent that was not deleted, wherever it runs: for a node asked about another's agent.
    pub async fn agent(&self, id: &str) -> Result<Option<StoredAgent>, StoreError> {
        let mut conn = self.pool.get().await?;
        let row: Option<AgentRow> = with_conn!(pooled &mut conn, c => agents::table
            .find(id)
            .filter(agents::deleted_at.is_null())
            .select(AgentRow::as_select())
            .first(c)
            .await
            .optional())?;
        row.map(|row| row.into_info(&mut KindCache::default()))
            .transpose()
    }
}
