//! The two databases Hive stores in, behind one type each for a connection and a pool, so that
//! every query is written once (the read queries on [`Store`](super::Store)) and compiled for both.
//!
//! - **SQLite** (the embedded default) runs through diesel-async's `SyncConnectionWrapper`, which
//!   moves each blocking call to tokio's blocking pool. WAL lets the pool's readers run beside the
//!   one writer; `synchronous=FULL` puts a commit on disk before the 202 that depends on it.
//! - **PostgreSQL** runs through `AsyncPgConnection` (tokio-postgres underneath: no libpq).
//!
//! Pools are bb8 for both (and for Redis, with bb8-redis): one pool crate, whose `Pool::get`
//! waits asynchronously and which diesel-async supports directly.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::sqlite::SqliteConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures::FutureExt;

use super::StoreError;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;
pub type PgConn = AsyncPgConnection;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long a SQLite connection waits on a lock before it answers "busy".
const BUSY_TIMEOUT_MS: u32 = 5_000;
/// Each SQLite connection's page cache, in KiB (the pragma's negative form). SQLite's default,
/// 2 MiB per connection, fills only as the turning-over file is touched: under a steady load the
/// writer's and four readers' caches grew by about 1 MiB an hour for the whole of an hour's soak.
/// Capped this low they are full within the first minutes; a miss costs a read from the
/// kernel's page cache, not the disk. The heap's soft limit stays as the backstop.
const SQLITE_WRITER_CACHE_KIB: u32 = 1024;
const SQLITE_READER_CACHE_KIB: u32 = 256;
/// How long a reader waits for a pooled connection before the request fails.
const POOL_WAIT: Duration = Duration::from_secs(5);
/// Longest PostgreSQL may take to answer the writer (a batch's commit, a connection, a probe)
/// before the connection counts as lost: a stalled network (a blackholed connection) never
/// answers or refuses, and without a bound the writer would wait for ever while clients time
/// out. The writer then reconnects, keeping its state changes and refusing creations meanwhile.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database, from `--database-url` / `HIVE_DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    /// `postgres://…` or `postgresql://…`, a `sqlite://` URL or a plain file path; without one,
    /// `hive.db` in the data directory.
    pub fn resolve(url: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        let Some(url) = url else {
            return Ok(Database::Sqlite(data_dir.join("hive.db")));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if path.is_empty() || path.contains("://") {
            return Err(StoreError::UnsupportedUrl(crate::config::redact_url(url)));
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    fn open_error(&self, e: impl fmt::Display) -> StoreError {
        StoreError::Open {
            database: self.to_string(),
            reason: e.to_string(),
        }
    }

    /// Apply pending migrations; answers how many ran. PostgreSQL's run through
    /// `AsyncConnectionWrapper` on a thread of their own, since diesel_migrations is synchronous
    /// and the wrapper blocks on the async connection underneath.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        match self {
            // Off the async threads: opening may wait out another process's lock.
            Database::Sqlite(path) => {
                let path = path.clone();
                let ran = tokio::task::spawn_blocking(move || {
                    let mut conn = connect_sqlite_writer(&path)?;
                    conn.run_pending_migrations(SQLITE_MIGRATIONS)
                        .map(|done| done.len())
                        .map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| self.open_error(e))?;
                ran.map_err(|e| self.open_error(e))
            }
            Database::Postgres(url) => {
                let url = url.clone();
                let (tx, rx) = tokio::sync::oneshot::channel();
                std::thread::Builder::new()
                    .name("hive-migrate".into())
                    .spawn(move || {
                        let ran =
                            <AsyncConnectionWrapper<PgConn> as diesel::Connection>::establish(&url)
                                .map_err(|e| e.to_string())
                                .and_then(|mut c| {
                                    // Nodes started together on a fresh database migrate one
                                    // at a time; the others then find nothing to do. Released
                                    // with the connection.
                                    use diesel::RunQueryDsl;
                                    diesel::sql_query("SELECT pg_advisory_lock(1212765766)")
                                        .execute(&mut c)
                                        .map_err(|e| e.to_string())?;
                                    c.run_pending_migrations(POSTGRES_MIGRATIONS)
                                        .map(|done| done.len())
                                        .map_err(|e| e.to_string())
                                });
                        let _ = tx.send(ran);
                    })
                    .map_err(|e| self.open_error(e))?;
                match rx.await {
                    Ok(Ok(ran)) => Ok(ran),
                    Ok(Err(e)) => Err(self.open_error(e)),
                    Err(_) => Err(self.open_error("the migration thread panicked")),
                }
            }
        }
    }
}

/// Shows where the data lives without the password a PostgreSQL URL may carry: this string goes
/// into logs and errors.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&crate::config::redact_url(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({self})", self.kind())
    }
}

fn connect_sqlite_writer(path: &Path) -> Result<SqliteConnection, String> {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let url = path.to_string_lossy().into_owned();
    let mut conn = SqliteConnection::establish(&url).map_err(|e| e.to_string())?;
    conn.batch_execute(&format!(
        // The timeout first: switching to WAL needs the lock another process may hold.
        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         PRAGMA cache_size = -{SQLITE_WRITER_CACHE_KIB};"
    ))
    .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// A PostgreSQL connection whose server ends what its client abandoned. A client cut off in the
/// middle of a transaction (a stalled network) would otherwise hold that transaction's locks, the
/// writers' advisory lock among them, for as long as the server keeps the dead connection, and
/// every node's writer would wait behind it: a batch's transaction never waits on its client for
/// long, so after 2 s idle in one the server ends it. A statement that waits for a lock, or runs
/// on after its client gave up, ends too.
async fn connect_postgres(url: &str) -> diesel::ConnectionResult<PgConn> {
    let mut conn = PgConn::establish(url).await?;
    conn.batch_execute(
        "SET idle_in_transaction_session_timeout = '2s'; SET lock_timeout = '10s'; \
         SET statement_timeout = '60s'",
    )
    .await
    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Taken by every write transaction on PostgreSQL, for its duration. Several nodes each run a
/// writer on one database, and the status counts (kept by triggers) make every transaction lock
/// a few shared rows in the order its changes happen to come: two writers could each hold one the
/// other needs. Taking turns costs one round trip per batch and rules that deadlock out.
pub async fn serialize_writers(c: &mut PgConn) -> diesel::QueryResult<()> {
    use diesel_async::RunQueryDsl;
    // "HIVE" in ASCII, with the schema: every node of one Hive shares the key, and Hives in
    // other schemas of the same database (or tests) do not wait for each other.
    diesel::sql_query("SELECT pg_advisory_xact_lock(1212765765, hashtext(current_schema()))")
        .execute(c)
        .await
        .map(|_| ())
}

/// The writer's connection.
// One exists per process (and one `Pooled` per query in flight): boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Conn {
    Sqlite(SqliteConn),
    Postgres(PgConn),
}

impl Conn {
    /// Whether the database still answers on this connection (after a failed batch: a lost
    /// connection is waited out, a refused write is not).
    pub async fn answers(&mut self) -> bool {
        use diesel_async::RunQueryDsl;
        match self {
            // A file: an error is the file's answer, not a network's.
            Conn::Sqlite(_) => true,
            Conn::Postgres(c) => {
                let probe = diesel::sql_query("SELECT 1").execute(c);
                matches!(
                    tokio::time::timeout(DATABASE_TIMEOUT, probe).await,
                    Ok(Ok(_))
                )
            }
        }
    }

    pub async fn open(database: &Database) -> Result<Conn, StoreError> {
        match database {
            Database::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || connect_sqlite_writer(&path))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|opened| opened)
                    .map(|c| Conn::Sqlite(SyncConnectionWrapper::new(c)))
                    .map_err(|e| database.open_error(e))
            }
            Database::Postgres(url) => {
                match tokio::time::timeout(DATABASE_TIMEOUT, connect_postgres(url)).await {
                    Ok(opened) => opened
                        .map(Conn::Postgres)
                        .map_err(|e| database.open_error(e)),
                    Err(_) => Err(database
                        .open_error(format!("no answer within {} s", DATABASE_TIMEOUT.as_secs()))),
                }
            }
        }
    }
}

pub type SqlitePool = bb8::Pool<AsyncDieselConnectionManager<SqliteConn>>;
pub type PgPool = bb8::Pool<AsyncDieselConnectionManager<PgConn>>;

/// The readers' pool.
#[derive(Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[allow(clippy::large_enum_variant)]
pub enum Pooled<'a> {
    Sqlite(bb8::PooledConnection<'a, AsyncDieselConnectionManager<SqliteConn>>),
    Postgres(bb8::PooledConnection<'a, AsyncDieselConnectionManager<PgConn>>),
}

impl Pool {
    /// Connections are made when first needed: a pool can be built before the database has
    /// its schema (or is reachable), which lets the server answer `/readyz` while it migrates.
    pub fn new(database: &Database, size: u32) -> Pool {
        fn builder<M: bb8::ManageConnection>(size: u32) -> bb8::Builder<M> {
            bb8::Pool::builder()
                .max_size(size)
                .connection_timeout(POOL_WAIT)
        }
        match database {
            Database::Sqlite(path) => {
                let mut config = ManagerConfig::<SqliteConn>::default();
                config.custom_setup = Box::new(|url| {
                    async move {
                        let mut conn = SqliteConn::establish(url).await?;
                        conn.batch_execute(&format!(
                            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; \
                             PRAGMA cache_size = -{SQLITE_READER_CACHE_KIB};"
                        ))
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
                // Readers are kept for the life of the process: bb8 would otherwise replace each
                // after 30 minutes, and every replacement builds a page cache anew while the old
                // one's memory stays with the allocator, a step up in RSS every half hour.
                Pool::Sqlite(
                    builder(size)
                        .max_lifetime(None)
                        .idle_timeout(None)
                        .build_unchecked(manager),
                )
            }
            Database::Postgres(url) => {
                let mut config = ManagerConfig::<PgConn>::default();
                config.custom_setup = Box::new(|url| connect_postgres(url).boxed());
                let manager =
                    AsyncDieselConnectionManager::<PgConn>::new_with_config(url.clone(), config);
                Pool::Postgres(builder(size).build_unchecked(manager))
            }
        }
    }

    pub async fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let pool_error = |e: bb8::RunError<_>| StoreError::Pool(e.to_string());
        Ok(match self {
            Pool::Sqlite(pool) => Pooled::Sqlite(pool.get().await.map_err(pool_error)?),
            Pool::Postgres(pool) => Pooled::Postgres(pool.get().await.map_err(pool_error)?),
        })
    }
}

/// Runs `$body` with `$c` bound to the pooled connection inside `$conn` (a [`Pooled`]): the body
/// is written once and compiled for each backend.
macro_rules! with_conn {
    (pooled $conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::backend::Pooled::Sqlite($c) => $body,
            $crate::store::backend::Pooled::Postgres($c) => $body,
        }
    };
}
pub(crate) use with_conn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_and_never_show_a_password() {
        let dir = Path::new("/var/lib/hive");
        assert_eq!(
            Database::resolve(None, dir).unwrap(),
            Database::Sqlite(dir.join("hive.db"))
        );
        assert_eq!(
            Database::resolve(Some("sqlite:///tmp/x.db"), dir).unwrap(),
            Database::Sqlite(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(
            Database::resolve(Some("rel/x.db"), dir).unwrap(),
            Database::Sqlite(PathBuf::from("rel/x.db"))
        );
        let pg = Database::resolve(Some("postgres://hive:s3cret@db:5432/hive"), dir).unwrap();
        assert_eq!(pg.kind(), "postgres");
        assert_eq!(pg.to_string(), "postgres://hive:***@db:5432/hive");
        assert!(!format!("{pg:?}").contains("s3cret"));
        let err = Database::resolve(Some("mysql://u:pw@h/db"), dir).unwrap_err();
        assert!(err.to_string().contains("mysql://u:***@h/db"), "{err}");
    }
}
