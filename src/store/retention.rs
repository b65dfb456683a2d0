//! Retention: the store deletes finished tasks with their history, supervision history and audit
//! entries once they are older than the configured periods, so the database (and the memory the
//! database engine keeps for it) stays the same size under a steady load instead of growing with
//! every task ever run. The StoreManager runs one bounded pass at a time between its commits.

use diesel::prelude::*;
use diesel_async::AsyncConnection;

use super::backend::Conn;
use super::schema::{audit_log, supervisor_events, task_dependencies, task_events, tasks};
use crate::domain::task::TaskStatus;

/// Most rows of each table one pass deletes: a pass is one short transaction between write
/// batches. A pass that hits the bound is followed by another straight after the next batch,
/// so a backlog drains at thousands of rows a second without stalling writes.
pub const PASS_ROWS: i64 = 2_000;

/// How long each kind of history is kept, in milliseconds; `None` keeps it for ever.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    pub tasks_ms: Option<u64>,
    pub audit_ms: Option<u64>,
}

impl Retention {
    /// From the configuration, where 0 means for ever.
    pub fn new(tasks_ms: u64, audit_ms: u64) -> Self {
        Self {
            tasks_ms: (tasks_ms > 0).then_some(tasks_ms),
            audit_ms: (audit_ms > 0).then_some(audit_ms),
        }
    }

    pub fn keeps_everything(&self) -> bool {
        self.tasks_ms.is_none() && self.audit_ms.is_none()
    }

    /// The cut-off times (epoch ms) at `now`: rows older than these go.
    pub fn cutoffs(&self, now: i64) -> Cutoffs {
        let before = |ms: Option<u64>| ms.map(|ms| now.saturating_sub(ms as i64));
        Cutoffs {
            tasks: before(self.tasks_ms),
            audit: before(self.audit_ms),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    /// Finished tasks, their events and supervision events from before this go.
    pub tasks: Option<i64>,
    /// Audit entries from before this go.
    pub audit: Option<i64>,
}

/// Rows one pass deleted, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub tasks: usize,
    pub task_events: usize,
    pub supervisor_events: usize,
    pub audit: usize,
}

impl Pruned {
    /// Whether some table still has rows past its cut-off (the pass stopped at its bound).
    pub fn more(&self) -> bool {
        [self.tasks, self.supervisor_events, self.audit]
            .into_iter()
            .any(|n| n as i64 >= PASS_ROWS)
    }

    pub fn by_table(&self) -> [(&'static str, usize); 4] {
        [
            ("tasks", self.tasks),
            ("task_events", self.task_events),
            ("supervisor_events", self.supervisor_events),
            ("audit_log", self.audit),
        ]
    }
}

/// Delete the oldest (at most [`PASS_ROWS`]) rows of an append-only `$t` from before `$before`;
/// answers how many went. Ids grow with time, so the oldest rows are the first ids: the pass
/// reads the first `PASS_ROWS` ids and keeps those past the cut-off (one whose clock stepped back
/// waits for those before it). Asking for `at < $before` in id order instead read the whole table
/// whenever nothing was old enough, which is almost every pass: with the audit log at 500,000
/// rows (an entry per submission), 23 ms every 5 s in which the writer committed nothing.
/// (diesel does not take a subselect of the same table as a delete's filter, hence the ids are
/// read first.)
macro_rules! prune_oldest {
    ($c:ident, $t:ident, $before:expr, $Run:ident, $($wait:tt)*) => {{
        let oldest = $t::table
            .select(($t::id, $t::at))
            .order($t::id.asc())
            .limit(PASS_ROWS);
        let rows: Vec<(i64, i64)> = $Run::load(oldest, $c)$($wait)*?;
        let ids: Vec<i64> = rows
            .into_iter()
            .filter(|(_, at)| *at < $before)
            .map(|(id, _)| id)
            .collect();
        if ids.is_empty() {
            0
        } else {
            $Run::execute(diesel::delete($t::table.filter($t::id.eq_any(&ids))), $c)$($wait)*?
        }
    }};
}

/// The statements of one pass, written once for both backends as in the write batch: `$Run` is
/// diesel's synchronous or diesel-async's `RunQueryDsl`, `$($wait)*` empty or `.await`.
macro_rules! prune_pass {
    ($c:ident, $cut:ident, $Run:ident, $($wait:tt)*) => {{
        let mut pruned = Pruned::default();
        if let Some(before) = $cut.tasks {
            // By `finished_at` alone, which its index answers in the order asked: with the
            // final statuses in the query, SQLite chose the status index instead and read every
            // finished task each pass (84 ms at 450,000 tasks, every 5 s, the writer idle
            // meanwhile). Only final tasks have a `finished_at` (a task queued or running again
            // after a retry has none); the check stays as a guard.
            let query = tasks::table
                .select((tasks::id, tasks::status))
                .filter(tasks::finished_at.lt(before))
                .order(tasks::finished_at.asc())
                .limit(PASS_ROWS);
            let oldest: Vec<(String, String)> = $Run::load(query, $c)$($wait)*?;
            let ids: Vec<String> = oldest
                .into_iter()
                .filter(|(_, status)| TaskStatus::parse(status).is_some_and(TaskStatus::is_final))
                .map(|(id, _)| id)
                .collect();
            if !ids.is_empty() {
                let events = diesel::delete(task_events::table.filter(task_events::task_id.eq_any(&ids)));
                pruned.task_events = $Run::execute(events, $c)$($wait)*?;
                // Who waited for them: their dependants resolved when they ended (by the key's
                // first column; a dependant's own edges go with its dependencies).
                let edges = diesel::delete(
                    task_dependencies::table.filter(task_dependencies::dependency_id.eq_any(&ids)),
                );
                $Run::execute(edges, $c)$($wait)*?;
                pruned.tasks = $Run::execute(diesel::delete(tasks::table.filter(tasks::id.eq_any(&ids))), $c)$($wait)*?;
            }
            pruned.supervisor_events = prune_oldest!($c, supervisor_events, before, $Run, $($wait)*);
        }
        if let Some(before) = $cut.audit {
            pruned.audit = prune_oldest!($c, audit_log, before, $Run, $($wait)*);
        }
        Ok::<_, diesel::result::Error>(pruned)
    }};
}

/// One pass in one transaction: at most [`PASS_ROWS`] rows of each table.
pub async fn prune(conn: &mut Conn, cut: Cutoffs) -> Result<Pruned, diesel::result::Error> {
    use diesel::RunQueryDsl as SyncRun;
    use diesel_async::RunQueryDsl as AsyncRun;

    match conn {
        Conn::Sqlite(c) => {
            c.spawn_blocking(move |c| c.immediate_transaction(|c| prune_pass!(c, cut, SyncRun,)))
                .await
        }
        Conn::Postgres(c) => {
            c.transaction(async move |c| {
                super::backend::serialize_writers(c).await?;
                prune_pass!(c, cut, AsyncRun, .await)
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_keeps_for_ever_and_cutoffs_lie_in_the_past() {
        let keep = Retention::new(0, 0);
        assert!(keep.keeps_everything());
        let cut = keep.cutoffs(1_000_000);
        assert_eq!((cut.tasks, cut.audit), (None, None));

        let r = Retention::new(60_000, 3_600_000);
        let cut = r.cutoffs(10_000_000);
        assert_eq!(cut.tasks, Some(9_940_000));
        assert_eq!(cut.audit, Some(6_400_000));
    }

    #[test]
    fn a_pass_at_its_bound_asks_for_another() {
        let mut p = Pruned::default();
        assert!(!p.more());
        p.task_events = PASS_ROWS as usize * 3;
        assert!(!p.more(), "events follow their tasks' bound");
        p.audit = PASS_ROWS as usize;
        assert!(p.more());
    }
}
