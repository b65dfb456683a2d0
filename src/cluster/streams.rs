//! The task streams: one per role and priority, each entry a task id, read by every node through
//! one consumer group. An entry stays pending on the node that read it until its task ends.

use std::sync::Arc;
use std::time::Duration;

use redis::streams::{
    StreamClaimReply, StreamId, StreamInfoGroupsReply, StreamPendingCountReply, StreamRangeReply,
    StreamReadReply,
};

use super::keys::GROUP;
use super::{Cluster, ClusterError};
use crate::config::{SloTargets, Urgency};
use crate::domain::names::Role;
use crate::domain::task::{Priority, TaskRecord};

/// Most entries one claim or pending listing moves.
const CLAIM_BATCH: usize = 1000;

/// One stream entry: where it is and which task it carries.
#[derive(Debug, Clone)]
pub struct Entry {
    pub stream: String,
    pub id: String,
    pub task: Arc<str>,
}

fn entries(stream: &str, ids: Vec<StreamId>) -> Vec<Entry> {
    ids.into_iter()
        .filter_map(|sid| {
            let task: String = sid.get("task")?;
            Some(Entry {
                stream: stream.to_owned(),
                id: sid.id,
                task: task.into(),
            })
        })
        .collect()
}

impl Cluster {
    /// The consumer group of a stream, created with the stream (from its first entry, so entries
    /// added before any node read are not skipped). Once per stream per process.
    async fn ensure_group(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        stream: &str,
    ) -> Result<(), ClusterError> {
        if self.groups.lock().contains(stream) {
            return Ok(());
        }
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(conn)
            .await;
        match created {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(e.into()),
        }
        self.groups.lock().insert(stream.to_owned());
        Ok(())
    }

    /// Groups for every stream of a role, and the role in the set survivors look through.
    pub async fn ensure_role(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        role: &Role,
    ) -> Result<(), ClusterError> {
        let first = self.keys.stream(role, Priority::Critical);
        if self.groups.lock().contains(&first) {
            return Ok(());
        }
        let _: () = redis::cmd("SADD")
            .arg(self.keys.roles())
            .arg(role.as_str())
            .query_async(conn)
            .await?;
        for priority in Priority::BY_URGENCY {
            self.ensure_group(conn, &self.keys.stream(role, priority))
                .await?;
        }
        Ok(())
    }

    /// Put a committed task on its stream, for whichever node has an idle agent for it.
    pub async fn publish(&self, task: &TaskRecord) -> Result<(), ClusterError> {
        let mut conn = self.conn().await?;
        let done = async {
            self.ensure_role(&mut *conn, &task.role).await?;
            let _: String = redis::cmd("XADD")
                .arg(self.keys.stream(&task.role, task.priority))
                .arg("*")
                .arg("task")
                .arg(&task.id)
                .query_async(&mut *conn)
                .await?;
            Ok::<_, ClusterError>(())
        }
        .await;
        self.mark(done.is_ok());
        done
    }

    /// Up to `count` entries new to the group from one stream; with `block`, waits that long
    /// for one on any of the streams.
    pub async fn read(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        streams: &[String],
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Entry>, ClusterError> {
        self.read_from(conn, streams, ">", count, block).await
    }

    /// Entries this node read and has not acknowledged: after a restart with the same node id,
    /// the work its previous run had taken.
    pub async fn read_own_pending(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        streams: &[String],
    ) -> Result<Vec<Entry>, ClusterError> {
        self.read_from(conn, streams, "0", CLAIM_BATCH, None).await
    }

    async fn read_from(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        streams: &[String],
        from: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Entry>, ClusterError> {
        if streams.is_empty() || count == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(&*self.node);
        cmd.arg("COUNT").arg(count);
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(block.as_millis() as u64);
        }
        cmd.arg("STREAMS").arg(streams);
        for _ in streams {
            cmd.arg(from);
        }
        let reply: Option<StreamReadReply> = cmd.query_async(conn).await?;
        Ok(reply
            .map(|r| {
                r.keys
                    .into_iter()
                    .flat_map(|k| entries(&k.key, k.ids))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The streams of a role that hold unread entries, in the order the dispatcher of a single
    /// server would serve them: by [`SloTargets::urgency`] of the oldest unread entry (its id is
    /// its time), ties to the more urgent class. A `low` task that has waited past its target is
    /// read before younger urgent ones with time to spare: no class starves in a cluster either.
    pub async fn read_order(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        role: &Role,
        slo: &SloTargets,
    ) -> Result<Vec<Priority>, ClusterError> {
        let streams = Priority::BY_URGENCY.map(|p| (p, self.keys.stream(role, p)));
        let mut pipe = redis::pipe();
        for (_, stream) in &streams {
            pipe.cmd("XINFO").arg("GROUPS").arg(stream);
        }
        let infos: Vec<StreamInfoGroupsReply> = pipe.query_async(conn).await?;
        let mut pipe = redis::pipe();
        let mut asked = Vec::new();
        for ((priority, stream), info) in streams.iter().zip(&infos) {
            let Some(group) = info.groups.iter().find(|g| g.name == GROUP) else {
                continue;
            };
            if group.lag == Some(0) {
                continue;
            }
            pipe.cmd("XRANGE")
                .arg(stream)
                .arg(format!("({}", group.last_delivered_id))
                .arg("+")
                .arg("COUNT")
                .arg(1);
            asked.push(*priority);
        }
        if asked.is_empty() {
            return Ok(Vec::new());
        }
        let oldest: Vec<StreamRangeReply> = pipe.query_async(conn).await?;
        let now = crate::domain::time::now_ms();
        let mut ranked: Vec<(Urgency, Priority)> = asked
            .into_iter()
            .zip(oldest)
            .filter_map(|(priority, range)| {
                let added_ms: i64 = range.ids.first()?.id.split('-').next()?.parse().ok()?;
                let waited = (now - added_ms).max(0) as f64;
                Some((slo.urgency(priority, waited), priority))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        Ok(ranked.into_iter().map(|(_, p)| p).collect())
    }

    /// Acknowledge and delete entries whose tasks ended (or that another node holds): the
    /// streams keep only what is unread or in progress.
    pub async fn ack(&self, done: &[Entry]) -> Result<(), ClusterError> {
        if done.is_empty() {
            return Ok(());
        }
        let mut by_stream: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for entry in done {
            by_stream.entry(&entry.stream).or_default().push(&entry.id);
        }
        let mut conn = self.conn().await?;
        let mut pipe = redis::pipe();
        // One XACK and one XDEL per stream, each naming every entry of it.
        for (stream, ids) in by_stream {
            pipe.cmd("XACK").arg(stream).arg(GROUP).arg(&ids).ignore();
            pipe.cmd("XDEL").arg(stream).arg(&ids).ignore();
        }
        let acked: redis::RedisResult<()> = pipe.query_async(&mut *conn).await;
        self.mark(acked.is_ok());
        Ok(acked?)
    }

    /// Every stream of every role any node has published to.
    pub async fn all_streams(&self) -> Result<Vec<String>, ClusterError> {
        let mut conn = self.conn().await?;
        let roles: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.roles())
            .query_async(&mut *conn)
            .await?;
        Ok(roles
            .into_iter()
            .filter_map(|r| Role::try_from(r).ok())
            .flat_map(|role| Priority::BY_URGENCY.map(|p| self.keys.stream(&role, p)))
            .collect())
    }

    /// Move a lost node's pending entries to this node, and forget the lost consumer.
    pub async fn claim_from(&self, lost: &str) -> Result<Vec<Entry>, ClusterError> {
        let streams = self.all_streams().await?;
        let mut conn = self.conn().await?;
        let mut claimed = Vec::new();
        for stream in &streams {
            self.ensure_group(&mut *conn, stream).await?;
            loop {
                let pending: StreamPendingCountReply = redis::cmd("XPENDING")
                    .arg(stream)
                    .arg(GROUP)
                    .arg("-")
                    .arg("+")
                    .arg(CLAIM_BATCH)
                    .arg(lost)
                    .query_async(&mut *conn)
                    .await?;
                if pending.ids.is_empty() {
                    break;
                }
                let ids: Vec<&str> = pending.ids.iter().map(|p| p.id.as_str()).collect();
                let reply: StreamClaimReply = redis::cmd("XCLAIM")
                    .arg(stream)
                    .arg(GROUP)
                    .arg(&*self.node)
                    .arg(0)
                    .arg(&ids)
                    .query_async(&mut *conn)
                    .await?;
                // Entries deleted meanwhile come back empty and leave the lost consumer's list.
                claimed.extend(entries(stream, reply.ids));
                if pending.ids.len() < CLAIM_BATCH {
                    break;
                }
            }
            let _: i64 = redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(stream)
                .arg(GROUP)
                .arg(lost)
                .query_async(&mut *conn)
                .await?;
        }
        Ok(claimed)
    }
}
