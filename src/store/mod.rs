//! Persistence. The [`StoreManager`](manager::StoreManager) actor is the only writer and commits
//! writes in groups; [`Store`] is the cloneable read side, a pool of connections that the HTTP
//! handlers query directly (SQLite's WAL lets readers run beside the writer).
//!
//! SQLite runs through diesel-async's `SyncConnectionWrapper`, which moves each blocking call to
//! tokio's blocking pool, so that the same async code path can later serve PostgreSQL.

pub mod manager;
pub mod models;
pub mod schema;

use std::path::{Path, PathBuf};

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures::FutureExt;

use crate::domain::agent::AgentInfo;
use crate::domain::names::Role;
use crate::domain::task::{TaskRecord, TaskStatus};
use models::{AgentRow, TaskRow};
use schema::{agents, tasks};

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;
type Pool = bb8::Pool<AsyncDieselConnectionManager<SqliteConn>>;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Readers in the pool: SQLite serves readers in parallel under WAL, and a handful covers the
/// HTTP workers of a 2-core machine without holding many file descriptors.
const READ_POOL_SIZE: u32 = 4;
/// How long a connection waits on a lock before SQLite answers "busy".
const BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("cannot open the database at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is not running")]
    Unavailable,
    #[error("unsupported database URL {0:?}: give a SQLite file path or a sqlite:// URL")]
    UnsupportedUrl(String),
}

/// Where the database lives: `--database-url`, else `hive.db` in the data directory.
pub fn resolve_path(database_url: Option<&str>, data_dir: &Path) -> Result<PathBuf, StoreError> {
    match database_url {
        None => Ok(data_dir.join("hive.db")),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
        Some(url) => {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if path.is_empty() || path.contains("://") {
                return Err(StoreError::UnsupportedUrl(url.to_owned()));
            }
            Ok(PathBuf::from(path))
        }
    }
}

fn open_error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The writer's connection: WAL so readers never block it; `synchronous=FULL` so that a commit
/// is on disk before the 202 that depends on it (group commit pays one fsync per batch).
/// Synchronous, so that a restarted StoreManager can open its connection in its child factory.
pub fn open_writer(path: &Path) -> Result<SqliteConn, StoreError> {
    use diesel::connection::SimpleConnection;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| open_error(path, e))?;
    }
    let url = path.to_string_lossy().into_owned();
    let mut conn = SqliteConnection::establish(&url).map_err(|e| open_error(path, e))?;
    conn.batch_execute(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"
    ))
    .map_err(|e| open_error(path, e))?;
    Ok(SyncConnectionWrapper::new(conn))
}

/// Apply pending migrations; answers how many ran.
pub async fn migrate(conn: &mut SqliteConn) -> Result<usize, StoreError> {
    let ran = conn
        .spawn_blocking(|c| {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|done| done.len())
                .map_err(diesel::result::Error::QueryBuilderError)
        })
        .await?;
    Ok(ran)
}

/// Which tasks a listing wants.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub role: Option<Role>,
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
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let mut config = ManagerConfig::<SqliteConn>::default();
        config.custom_setup = Box::new(|url| {
            async move {
                let mut conn = SqliteConn::establish(url).await?;
                conn.batch_execute(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"))
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            }
            .boxed()
        });
        let manager = AsyncDieselConnectionManager::new_with_config(
            path.to_string_lossy().into_owned(),
            config,
        );
        let pool = bb8::Pool::builder()
            .max_size(READ_POOL_SIZE)
            .build(manager)
            .await
            .map_err(|e| open_error(path, e))?;
        Ok(Self { pool })
    }

    async fn conn(
        &self,
    ) -> Result<bb8::PooledConnection<'_, AsyncDieselConnectionManager<SqliteConn>>, StoreError>
    {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Pool(e.to_string()))
    }

    pub async fn task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let row = tasks::table
            .find(id)
            .select(TaskRow::as_select())
            .first(&mut conn)
            .await
            .optional()?;
        row.map(TaskRow::into_record).transpose()
    }

    pub async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let mut query = tasks::table.select(TaskRow::as_select()).into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(tasks::status.eq(status.as_str()));
        }
        if let Some(role) = &filter.role {
            query = query.filter(tasks::role.eq(role.as_str().to_owned()));
        }
        if let Some(after) = &filter.after {
            query = query.filter(tasks::id.gt(after.clone()));
        }
        let rows = query
            .order(tasks::id.asc())
            .limit(filter.limit)
            .load(&mut conn)
            .await?;
        rows.into_iter().map(TaskRow::into_record).collect()
    }

    /// Tasks a previous process accepted and did not finish, oldest first.
    pub async fn unfinished_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let rows = tasks::table
            .select(TaskRow::as_select())
            .filter(
                tasks::status.eq_any([TaskStatus::Queued.as_str(), TaskStatus::Running.as_str()]),
            )
            .order(tasks::id.asc())
            .load(&mut conn)
            .await?;
        rows.into_iter().map(TaskRow::into_record).collect()
    }

    pub async fn task_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(tasks::table
            .group_by(tasks::status)
            .select((tasks::status, diesel::dsl::count_star()))
            .load(&mut conn)
            .await?)
    }

    /// Agents that were not deleted, with their restart counts, to be started again.
    pub async fn live_agents(&self) -> Result<Vec<(AgentInfo, u64)>, StoreError> {
        let mut conn = self.conn().await?;
        let rows = agents::table
            .select(AgentRow::as_select())
            .filter(agents::deleted_at.is_null())
            .order(agents::id.asc())
            .load(&mut conn)
            .await?;
        rows.into_iter().map(AgentRow::into_info).collect()
    }
}
