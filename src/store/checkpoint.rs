//! SQLite's WAL checkpoints, mostly off the writer's path.
//!
//! In WAL mode a commit appends to the log, and the connection whose commit takes the log past
//! 1,000 pages copies it back into the database file, fsync included, inside that commit. At
//! 5,000 tasks a second the log grows by about 18 MB a second: a copy every quarter of a
//! second, each holding the writer 10 to 40 ms while the submissions behind it waited. A
//! connection of its own now copies the log back beside the writer, on a blocking thread, ten
//! times a second (a passive checkpoint never waits for the writer or the readers), so that
//! when the writer's own turn comes almost everything is copied already and its share is the
//! last few pages. The writer keeps its turn because only a checkpoint that holds the write lock
//! can finish copying the log and let the next commit begin it again: with the writer's turn
//! taken away, the log grew without end (1.4 GB in a minute at 5,000 tasks a second).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use parking_lot::Mutex;

/// How often the log is copied back: often enough that each copy is short.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The checkpointing connection, and whether a checkpoint is under way.
pub struct Checkpointer {
    conn: Arc<Mutex<SqliteConnection>>,
    running: Arc<AtomicBool>,
}

impl Checkpointer {
    /// A connection to the database at `path` for checkpoints only. Blocking: open it on a
    /// blocking thread.
    pub fn open(path: &Path) -> Result<Checkpointer, String> {
        let url = path.to_string_lossy().into_owned();
        let mut conn = SqliteConnection::establish(&url).map_err(|e| e.to_string())?;
        // FULL as on the writer: the database file is synced before the log is reused.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA synchronous = FULL;",
            super::backend::BUSY_TIMEOUT_MS
        ))
        .map_err(|e| e.to_string())?;
        Ok(Checkpointer {
            conn: Arc::new(Mutex::new(conn)),
            running: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Copy the log back into the database on a blocking thread, unless a copy is still under
    /// way; the handle ends with the copy.
    pub fn tick(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.running.swap(true, Ordering::AcqRel) {
            return None;
        }
        let (conn, running) = (self.conn.clone(), self.running.clone());
        Some(tokio::task::spawn_blocking(move || {
            if let Err(e) = conn.lock().batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                tracing::debug!(error = %e, "a WAL checkpoint failed; the next tick tries again");
            }
            running.store(false, Ordering::Release);
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl;

    #[tokio::test]
    async fn the_checkpointer_copies_the_log_back_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hive.db");
        let size = |file: &str| std::fs::metadata(dir.path().join(file)).unwrap().len();
        let mut writer = super::super::backend::connect_sqlite_writer(&path).unwrap();
        writer.batch_execute("CREATE TABLE t (v BLOB);").unwrap();
        // 200 commits of a page or two each: under the 1,000 pages at which the writer would copy the
        // log back itself.
        for _ in 0..200 {
            diesel::sql_query("INSERT INTO t VALUES (randomblob(4000))")
                .execute(&mut writer)
                .unwrap();
        }
        assert!(size("hive.db") < 50 * 4_000, "nothing was copied back yet");
        let checkpointer = Checkpointer::open(&path).unwrap();
        checkpointer.tick().expect("none under way").await.unwrap();
        assert!(
            size("hive.db") > 200 * 4_000,
            "the checkpointer copied the log back"
        );
        // The writer goes on writing.
        diesel::sql_query("INSERT INTO t VALUES (1)")
            .execute(&mut writer)
            .unwrap();
    }
}
