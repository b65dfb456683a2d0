//! SQLite's own heap: its page caches and prepared statements, allocated with the C allocator and
//! so outside jemalloc's figures.
//!
//! Each connection's page cache grows with the pages it touches, up to its `cache_size` (2 MiB by
//! default). Under a steady load with retention, the database file turns over and the writer and
//! every pooled reader touch ever more distinct pages, so the process's memory kept rising for
//! the first forty minutes of an hour's soak before the caches were full. One soft limit for the
//! whole process bounds SQLite's heap and is reached within minutes; SQLite then reuses cache
//! pages instead of allocating more.

/// Keep SQLite's heap, across every connection in the process, near `bytes`; 0 removes the limit.
pub fn limit(bytes: u64) {
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    // SAFETY: sqlite3_soft_heap_limit64 only stores the limit (under SQLite's own mutex); it is
    // safe to call from any thread at any time, with or without open connections.
    unsafe {
        libsqlite3_sys::sqlite3_soft_heap_limit64(bytes);
    }
}

/// Bytes SQLite has allocated and not freed, across every connection in the process.
pub fn used() -> u64 {
    // SAFETY: sqlite3_memory_used reads SQLite's memory statistics under its own mutex; it is
    // safe to call from any thread at any time.
    let used = unsafe { libsqlite3_sys::sqlite3_memory_used() };
    u64::try_from(used).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    /// Scan 8 MB of rows through a connection whose own cache could hold all of them.
    fn scan(path: &str) -> u64 {
        let mut conn = SqliteConnection::establish(path).unwrap();
        conn.batch_execute("PRAGMA cache_size = -32000; SELECT sum(length(x)) FROM t;")
            .unwrap();
        used()
    }

    /// SQLite's heap figures are the process's: its tests take turns.
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn sqlite_allocates_from_jemalloc() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        // Bytes this thread has allocated through jemalloc, ever: other tests cannot move it.
        let allocated = tikv_jemalloc_ctl::thread::allocatedp::mib()
            .unwrap()
            .read()
            .unwrap();
        let before = allocated.get();
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute(
            "CREATE TABLE t(x BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
             INSERT INTO t SELECT randomblob(2000) FROM n;",
        )
        .unwrap();
        let grown = allocated.get() - before;
        assert!(
            grown > 6 << 20,
            "SQLite's 8 MB went elsewhere: {grown} B through jemalloc"
        );
    }

    #[test]
    fn the_limit_bounds_what_the_page_caches_keep() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db").to_string_lossy().into_owned();
        let mut conn = SqliteConnection::establish(&path).unwrap();
        conn.batch_execute(
            "CREATE TABLE t(x BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
             INSERT INTO t SELECT randomblob(2000) FROM n;",
        )
        .unwrap();
        drop(conn);
        limit(0);
        let unbounded = scan(&path);
        limit(1 << 20);
        let bounded = scan(&path);
        limit(0);
        assert!(
            unbounded > 6 << 20,
            "the cache held the table: {unbounded} B"
        );
        assert!(bounded < 3 << 20, "the limit held: {bounded} B");
    }
}
