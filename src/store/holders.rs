//! Which node holds each unfinished task, when several nodes share the database. Taking a task
//! is one conditional update (`node` unset or already ours): the row lock it takes decides
//! between two nodes that try at once, so no task is run by two of them. These writes go
//! straight to the database, beside the StoreManager: they must be decided before the task is
//! queued here, and they touch no column the StoreManager writes.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::backend::with_conn;
use super::models::TaskRow;
use super::schema::tasks;
use super::{Store, StoreError};
use crate::domain::task::{TaskRecord, TaskStatus};

const UNFINISHED: [&str; 2] = ["queued", "running"];
/// Ids per conditional update: well inside both backends' bound-parameter limits.
const CLAIM_CHUNK: usize = 1000;

impl Store {
    /// Take the unfinished ones of these tasks that no node holds (or this one does); answers
    /// them as this node now holds them.
    pub async fn take(&self, ids: &[&str], node: &str) -> Result<Vec<TaskRecord>, StoreError> {
        self.claim(ids, None, node).await
    }

    /// Take one task for this node, whoever else might read it later.
    pub async fn hold(&self, id: &str, node: &str) -> Result<bool, StoreError> {
        Ok(!self.take(&[id], node).await?.is_empty())
    }

    /// Move a lost node's unfinished tasks to this node; answers them. Tasks addressed to one of
    /// its agents stay its own: the agent runs nowhere else, so they wait for the node to come
    /// back (a node taking back its own tasks at start, `lost == node`, takes them too).
    pub async fn take_over(&self, lost: &str, node: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let mut conn = self.pool.get().await?;
        let ids: Vec<String> = with_conn!(pooled &mut conn, c => {
            let mut query = tasks::table
                .filter(tasks::node.eq(lost))
                .filter(tasks::status.eq_any(UNFINISHED))
                .select(tasks::id)
                .into_boxed();
            if lost != node {
                query = query.filter(tasks::agent.is_null());
            }
            query.load(c).await
        })?;
        drop(conn);
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        // Still the lost node's: a second survivor that read the same ids moves none.
        self.claim(&ids, Some(lost), node).await
    }

    /// Move the unfinished ones of `ids` held by `from` (`None`: by no node) to `node`, and
    /// answer those `node` now holds, in statements of bounded size.
    async fn claim(
        &self,
        ids: &[&str],
        from: Option<&str>,
        node: &str,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let mut held = Vec::new();
        for chunk in ids.chunks(CLAIM_CHUNK) {
            let mut conn = self.pool.get().await?;
            let rows: Vec<TaskRow> = with_conn!(pooled &mut conn, c => {
                let unfinished = tasks::table
                    .filter(tasks::id.eq_any(chunk))
                    .filter(tasks::status.eq_any(UNFINISHED));
                let change = tasks::node.eq(node);
                match from {
                    None => diesel::update(unfinished.filter(tasks::node.is_null()))
                        .set(change)
                        .execute(c)
                        .await?,
                    Some(from) => diesel::update(unfinished.filter(tasks::node.eq(from)))
                        .set(change)
                        .execute(c)
                        .await?,
                };
                tasks::table
                    .filter(tasks::id.eq_any(chunk))
                    .filter(tasks::node.eq(node))
                    .filter(tasks::status.eq_any(UNFINISHED))
                    .select(TaskRow::as_select())
                    .load(c)
                    .await
            })?;
            held.extend(rows);
        }
        held.into_iter().map(TaskRow::into_record).collect()
    }

    /// Let go of queued tasks this node holds but cannot run (no agent of their role here), so
    /// that a node that can takes them from the stream they are published to again.
    pub async fn release(&self, ids: &[&str], node: &str) -> Result<usize, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => diesel::update(
                tasks::table
                    .filter(tasks::id.eq_any(ids))
                    .filter(tasks::node.eq(node))
                    .filter(tasks::status.eq(TaskStatus::Queued.as_str())),
            )
            .set(tasks::node.eq(None::<String>))
            .execute(c)
            .await)?)
    }

    /// Queued tasks no node holds that were accepted before `before` (epoch ms): a node that
    /// stopped between committing a task and publishing it leaves such a task behind. Not those
    /// addressed to an agent: they never go on a role's stream.
    pub async fn unheld(&self, before: i64, limit: i64) -> Result<Vec<TaskRecord>, StoreError> {
        let mut conn = self.pool.get().await?;
        let rows: Vec<TaskRow> = with_conn!(pooled &mut conn, c => tasks::table
            .filter(tasks::node.is_null())
            .filter(tasks::agent.is_null())
            .filter(tasks::status.eq(TaskStatus::Queued.as_str()))
            .filter(tasks::created_at.lt(before))
            .select(TaskRow::as_select())
            .order(tasks::id.asc())
            .limit(limit)
            .load(c)
            .await)?;
        rows.into_iter().map(TaskRow::into_record).collect()
    }
}
