//! Which nodes there are: each writes its description under an expiring key every heartbeat and
//! into the hash of every node seen; a node whose key has expired is lost, and one survivor
//! takes over its work.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Cluster, ClusterError};
use crate::context::Hive;
use crate::domain::agent::AgentStatus;
use crate::domain::time::now_ms;

/// Lost nodes stay listed this long after they were taken over, then are forgotten.
const FORGET_LOST_MS: i64 = 60 * 60 * 1000;

/// One node as the cluster sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    pub id: String,
    /// Where its API is reached.
    pub url: String,
    /// `alive`, or `lost` once its heartbeat has expired.
    #[serde(default)]
    pub status: String,
    pub started_at_ms: i64,
    /// Its latest heartbeat.
    pub seen_at_ms: i64,
    /// Agents running on it, and how many of them are busy.
    pub agents: usize,
    pub busy: usize,
    /// Tasks it holds (queued there or running).
    pub holding: usize,
    /// When a survivor took over its work, which one, and how many unfinished tasks moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_over_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_taken_over: Option<usize>,
}

impl NodeView {
    /// This node now.
    pub fn local(hive: &Hive, cluster: &Cluster) -> NodeView {
        let counts = hive.agents.counts();
        let of = |s: AgentStatus| {
            counts
                .iter()
                .find(|(status, _)| *status == s)
                .map_or(0, |(_, n)| *n)
        };
        NodeView {
            id: cluster.node.to_string(),
            url: cluster.url.clone(),
            status: "alive".into(),
            started_at_ms: cluster.started_at_ms,
            seen_at_ms: now_ms(),
            agents: counts.iter().map(|(_, n)| n).sum(),
            busy: of(AgentStatus::Busy),
            holding: cluster.tracked(),
            lost_at_ms: None,
            taken_over_by: None,
            tasks_taken_over: None,
        }
    }
}

impl Cluster {
    /// Say this node is alive for one more lease.
    pub async fn beat(&self, me: &NodeView) -> Result<(), ClusterError> {
        let json = serde_json::to_string(me).unwrap_or_default();
        let mut conn = self.conn().await?;
        let written: redis::RedisResult<()> = redis::pipe()
            .cmd("SET")
            .arg(self.keys.node(&self.node))
            .arg(&json)
            .arg("PX")
            .arg(self.lease.as_millis() as u64)
            .ignore()
            .cmd("HSET")
            .arg(self.keys.nodes())
            .arg(&*self.node)
            .arg(&json)
            .ignore()
            .query_async(&mut *conn)
            .await;
        self.mark(written.is_ok());
        Ok(written?)
    }

    /// Every node seen: alive ones from their heartbeat, lost ones from the hash.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, ClusterError> {
        let mut conn = self.conn().await?;
        let known: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.nodes())
            .query_async(&mut *conn)
            .await?;
        let ids: Vec<&String> = known.keys().collect();
        let beats: Vec<Option<String>> = if ids.is_empty() {
            Vec::new()
        } else {
            redis::cmd("MGET")
                .arg(ids.iter().map(|id| self.keys.node(id)).collect::<Vec<_>>())
                .query_async(&mut *conn)
                .await?
        };
        let mut nodes: Vec<NodeView> = ids
            .iter()
            .zip(beats)
            .filter_map(|(id, beat)| {
                let (json, status) = match &beat {
                    Some(live) => (live, "alive"),
                    None => (known.get(*id)?, "lost"),
                };
                let mut node: NodeView = serde_json::from_str(json).ok()?;
                node.status = status.into();
                Some(node)
            })
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }

    /// Become the one survivor that takes over `lost`, for ten leases at most.
    pub async fn lock_takeover(&self, lost: &str) -> Result<bool, ClusterError> {
        let mut conn = self.conn().await?;
        let won: Option<String> = redis::cmd("SET")
            .arg(self.keys.takeover(lost))
            .arg(&*self.node)
            .arg("NX")
            .arg("PX")
            .arg(self.lease.as_millis() as u64 * 10)
            .query_async(&mut *conn)
            .await?;
        Ok(won.is_some())
    }

    /// Let go of the takeover of `lost` without taking it over: it was alive after all.
    pub async fn unlock_takeover(&self, lost: &str) -> Result<(), ClusterError> {
        let mut conn = self.conn().await?;
        let _: i64 = redis::cmd("DEL")
            .arg(self.keys.takeover(lost))
            .query_async(&mut *conn)
            .await?;
        Ok(())
    }

    /// Become the one node that republishes unheld tasks now, for a lease.
    pub async fn lock_republish(&self) -> Result<bool, ClusterError> {
        let mut conn = self.conn().await?;
        let won: Option<String> = redis::cmd("SET")
            .arg(self.keys.republish())
            .arg(&*self.node)
            .arg("NX")
            .arg("PX")
            .arg(self.lease.as_millis() as u64)
            .query_async(&mut *conn)
            .await?;
        Ok(won.is_some())
    }

    /// Mark a lost node as taken over (kept listed for an hour). It was fenced in the database
    /// first, so it is lost whatever its heartbeat key says: the key goes too (a node fenced
    /// while cut off from the database alone still had one), and a run of the node that starts
    /// again writes both anew.
    pub async fn record_loss(&self, mut lost: NodeView, moved: usize) -> Result<(), ClusterError> {
        let mut conn = self.conn().await?;
        let _: i64 = redis::cmd("DEL")
            .arg(self.keys.node(&lost.id))
            .query_async(&mut *conn)
            .await?;
        lost.lost_at_ms = Some(now_ms());
        lost.taken_over_by = Some(self.node.to_string());
        lost.tasks_taken_over = Some(moved);
        lost.agents = 0;
        lost.busy = 0;
        lost.holding = 0;
        let json = serde_json::to_string(&lost).unwrap_or_default();
        let _: () = redis::cmd("HSET")
            .arg(self.keys.nodes())
            .arg(&lost.id)
            .arg(json)
            .query_async(&mut *conn)
            .await?;
        Ok(())
    }

    /// Forget nodes lost more than an hour ago.
    pub async fn forget_old(&self, nodes: &[NodeView]) -> Result<(), ClusterError> {
        let old: Vec<&str> = nodes
            .iter()
            .filter(|n| {
                n.lost_at_ms
                    .is_some_and(|at| now_ms() - at > FORGET_LOST_MS)
            })
            .map(|n| n.id.as_str())
            .collect();
        if old.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let _: i64 = redis::cmd("HDEL")
            .arg(self.keys.nodes())
            .arg(old)
            .query_async(&mut *conn)
            .await?;
        Ok(())
    }
}
