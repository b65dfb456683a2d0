//! Reads of the task graph: which tasks exist, who waits for a task, what an answer handed over.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::backend::with_conn;
use super::models::TaskRow;
use super::schema::{task_dependencies, tasks};
use super::{Store, StoreError};
use crate::domain::task::TaskRecord;

/// Ids per statement: well inside both backends' bound-parameter limits.
const CHUNK: usize = 1000;

impl Store {
    /// Which of `ids` are tasks the store holds.
    pub async fn existing_tasks(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut conn = self.pool.get().await?;
            let some: Vec<String> = with_conn!(pooled &mut conn, c => tasks::table
                .filter(tasks::id.eq_any(chunk))
                .select(tasks::id)
                .load(c)
                .await)?;
            found.extend(some);
        }
        Ok(found)
    }

    /// These tasks, in id order (those that exist).
    pub async fn tasks_by_id(&self, ids: &[String]) -> Result<Vec<TaskRecord>, StoreError> {
        let mut rows: Vec<TaskRow> = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut conn = self.pool.get().await?;
            let some: Vec<TaskRow> = with_conn!(pooled &mut conn, c => tasks::table
                .filter(tasks::id.eq_any(chunk))
                .select(TaskRow::as_select())
                .load(c)
                .await)?;
            rows.extend(some);
        }
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        rows.into_iter().map(TaskRow::into_record).collect()
    }

    /// The tasks that wait (or waited) for `id`: at most `limit`, in id order.
    pub async fn dependants(&self, id: &str, limit: i64) -> Result<Vec<TaskRecord>, StoreError> {
        let mut conn = self.pool.get().await?;
        let ids: Vec<String> = with_conn!(pooled &mut conn, c => task_dependencies::table
            .filter(task_dependencies::dependency_id.eq(id))
            .select(task_dependencies::task_id)
            .order(task_dependencies::task_id.asc())
            .limit(limit)
            .load(c)
            .await)?;
        drop(conn);
        self.tasks_by_id(&ids).await
    }
}
