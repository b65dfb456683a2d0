//! Reads of topics: who subscribes to what, and the queued tasks for one node's agents that no
//! node has claimed yet.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::backend::with_conn;
use super::models::TaskRow;
use super::schema::{agents, tasks, topic_subscriptions};
use super::{Store, StoreError};
use crate::domain::task::{TaskRecord, TaskStatus};

/// Ids per statement: well inside both backends' bound-parameter limits.
const CHUNK: usize = 1000;

/// An agent subscribed to a topic: where its tasks go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub agent: String,
    pub role: String,
    /// Its node, in a cluster.
    pub node: Option<String>,
}

impl Store {
    /// Every topic with at least one subscriber, by name, with how many it has.
    pub async fn topics(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => topic_subscriptions::table
            .group_by(topic_subscriptions::topic)
            .select((topic_subscriptions::topic, diesel::dsl::count_star()))
            .order(topic_subscriptions::topic.asc())
            .load(c)
            .await)?)
    }

    pub async fn subscriber_count(&self, topic: &str) -> Result<i64, StoreError> {
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => topic_subscriptions::table
            .filter(topic_subscriptions::topic.eq(topic))
            .count()
            .get_result(c)
            .await)?)
    }

    /// The topics `agent` subscribes to, by name.
    pub async fn topics_of(&self, agent: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => topic_subscriptions::table
            .filter(topic_subscriptions::agent_id.eq(agent))
            .select(topic_subscriptions::topic)
            .order(topic_subscriptions::topic.asc())
            .load(c)
            .await)?)
    }

    /// The live agents subscribed to `topic`, in id order: at most `limit`.
    pub async fn subscribers(
        &self,
        topic: &str,
        limit: i64,
    ) -> Result<Vec<Subscriber>, StoreError> {
        let mut conn = self.pool.get().await?;
        let ids: Vec<String> = with_conn!(pooled &mut conn, c => topic_subscriptions::table
            .filter(topic_subscriptions::topic.eq(topic))
            .select(topic_subscriptions::agent_id)
            .order(topic_subscriptions::agent_id.asc())
            .limit(limit)
            .load(c)
            .await)?;
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let rows: Vec<(String, String, Option<String>)> = with_conn!(pooled &mut conn, c => agents::table
                    .filter(agents::id.eq_any(chunk))
                    .filter(agents::deleted_at.is_null())
                    .select((agents::id, agents::role, agents::node))
                    .order(agents::id.asc())
                    .load(c)
                    .await)?;
            found.extend(rows.into_iter().map(|(agent, role, node)| Subscriber {
                agent,
                role,
                node,
            }));
        }
        Ok(found)
    }

    /// Queued tasks addressed to an agent that no node has claimed yet (a topic's message or a
    /// hand-off created on another node than the agent's): at most `limit`, oldest first.
    pub async fn unclaimed_addressed(&self, limit: i64) -> Result<Vec<TaskRecord>, StoreError> {
        let mut conn = self.pool.get().await?;
        let rows: Vec<TaskRow> = with_conn!(pooled &mut conn, c => tasks::table
            .filter(tasks::node.is_null())
            .filter(tasks::agent.is_not_null())
            .filter(tasks::status.eq(TaskStatus::Queued.as_str()))
            .select(TaskRow::as_select())
            .order(tasks::id.asc())
            .limit(limit)
            .load(c)
            .await)?;
        rows.into_iter().map(TaskRow::into_record).collect()
    }
}
