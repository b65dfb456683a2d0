//! Several `hive serve` processes on one PostgreSQL and one Redis, behaving as one Hive.
//!
//! - PostgreSQL is the truth of every task. A node *holds* a task by setting its `node` column
//!   where it was unset (or already its own): that one conditional update decides which node
//!   runs it, so an entry read twice or a task found by two survivors still runs once.
//! - Redis distributes: one stream per role and priority, read by every node through one
//!   consumer group, each node reading only as many entries as it has idle agents for. An entry
//!   stays pending on its reader until the task ends, then is acknowledged and deleted.
//! - Nodes heartbeat with an expiring key. When a node's key expires, one survivor (under an
//!   expiring lock) takes over what it held: its pending entries are claimed, its unfinished
//!   tasks move to the survivor in PostgreSQL and are retried as after a crash.
//! - Events go out on a pub/sub channel, so every node's streams and dashboard see all of them.
//! - Redis down: tasks are held and run where they were submitted, `/readyz` says `degraded`,
//!   and the streams are used again when Redis answers.
//!
//! # Layout
//! - [`feeder`] — the ClusterFeeder actor: reads the streams as agents free up, heartbeats, takes
//!   over lost nodes' work.
//! - [`port`] — what the feeder asks of the node's orchestrator, and the port it asks through.
//! - [`streams`] — the task streams per role and priority, and their consumer group.
//! - [`membership`] — nodes' heartbeats and who is alive.
//! - [`lease`] — this node's lease in the database: the proof that it may start work.
//! - [`pool`] — the Redis connections, dropped when a command failed on them.
//! - [`relay`] — events between nodes on one pub/sub channel.
//! - [`keys`] — the Redis key names.

pub mod feeder;
pub mod keys;
pub mod lease;
pub mod membership;
pub mod pool;
pub mod port;
pub mod relay;
pub mod streams;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::ClusterConfig;
use crate::store::StoreError;
pub use keys::Keys;
pub use streams::Entry;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("no redis connection: {0}")]
    Pool(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub use pool::RedisPool;

/// This node's part of the cluster: who it is, its Redis connections, and what it holds.
pub struct Cluster {
    pub node: Arc<str>,
    /// Where other nodes reach this node's API (forwarded calls).
    pub url: String,
    pub keys: Keys,
    /// How long a node may miss heartbeats before the others take over its work.
    pub lease: Duration,
    pub heartbeat: Duration,
    pub started_at_ms: i64,
    client: redis::Client,
    pool: RedisPool,
    up: AtomicBool,
    /// Since when Redis has answered without a break; `None` while it does not.
    connected_since: Mutex<Option<Instant>>,
    /// Told whenever an agent of this node becomes free, so the feeder reads more work.
    pub room: tokio::sync::Notify,
    /// The stream entry of each task this node holds that came through a stream.
    entries: Mutex<HashMap<Arc<str>, Entry>>,
    /// Entries of tasks that ended, waiting to be acknowledged together (see `acknowledge`).
    settling: Mutex<Vec<Entry>>,
    settle: tokio::sync::Notify,
    /// Streams whose consumer group exists (created once per process).
    groups: Mutex<std::collections::HashSet<String>>,
    /// This node's lease in PostgreSQL: whether it may start work.
    proof: lease::Lease,
}

impl Cluster {
    /// Connections are made when first needed: a node starts (degraded) while Redis is down.
    pub fn new(
        config: &ClusterConfig,
        node: &str,
        url: String,
    ) -> Result<Arc<Cluster>, ClusterError> {
        let redis_url = config.redis_url.as_deref().unwrap_or_default();
        let client = redis::Client::open(redis_url)?;
        let manager = pool::Manager::new(redis_url)?;
        // No PING at checkout: a connection a cut left broken is dropped when a command fails
        // on it (see `pool`), so the node still reconnects when Redis is back.
        let pool = bb8::Pool::builder()
            .max_size(8)
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(1))
            .build_unchecked(manager);
        Ok(Arc::new(Cluster {
            node: node.into(),
            url,
            keys: Keys::new(&config.redis_prefix),
            lease: Duration::from_millis(config.lease_ms),
            heartbeat: Duration::from_millis(config.heartbeat_ms),
            started_at_ms: crate::domain::time::now_ms(),
            client,
            pool,
            up: AtomicBool::new(false),
            connected_since: Mutex::new(None),
            room: tokio::sync::Notify::new(),
            entries: Mutex::new(HashMap::new()),
            settling: Mutex::new(Vec::new()),
            settle: tokio::sync::Notify::new(),
            groups: Mutex::new(Default::default()),
            proof: lease::Lease::default(),
        }))
    }

    pub async fn conn(&self) -> Result<bb8::PooledConnection<'_, pool::Manager>, ClusterError> {
        self.pool.get().await.map_err(|e| {
            self.mark(false);
            ClusterError::Pool(e.to_string())
        })
    }

    /// A connection of its own for blocking reads and pub/sub, whose replies may take `wait`.
    pub async fn dedicated(
        &self,
        wait: Duration,
    ) -> Result<redis::aio::MultiplexedConnection, ClusterError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(wait + Duration::from_secs(2)));
        Ok(self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// Ask Redis whether it answers, and record the answer.
    pub async fn ping(&self) -> bool {
        let answered = async {
            let mut conn = self.conn().await?;
            let _: String = redis::cmd("PING").query_async(&mut *conn).await?;
            Ok::<_, ClusterError>(())
        }
        .await;
        self.mark(answered.is_ok());
        answered.is_ok()
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Record whether Redis answered; logs each change once.
    pub fn mark(&self, up: bool) {
        let was = self.up.swap(up, Ordering::AcqRel);
        let mut since = self.connected_since.lock();
        match (was, up) {
            (false, true) => {
                *since = Some(Instant::now());
                tracing::info!(node = %self.node, "redis reachable: tasks go through the streams");
            }
            (true, false) => {
                *since = None;
                tracing::warn!(node = %self.node, "redis unreachable: tasks run where they are submitted");
            }
            _ => {}
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Redis has answered for at least `for_at_least` without a break.
    pub fn up_for(&self, for_at_least: Duration) -> bool {
        self.connected_since
            .lock()
            .is_some_and(|since| since.elapsed() >= for_at_least)
    }

    /// Forget which consumer groups exist: Redis lost them, they are made again when next used.
    pub fn forget_groups(&self) {
        self.groups.lock().clear();
    }

    /// Remember which entry brought a task this node now holds.
    pub fn track(&self, task: Arc<str>, entry: Entry) {
        self.entries.lock().insert(task, entry);
    }

    /// Entries this node holds, for the status page.
    pub fn tracked(&self) -> usize {
        self.entries.lock().len()
    }

    /// The task ended: its entry, if it came through a stream, is acknowledged and deleted,
    /// with the others that ended meanwhile (`acknowledge`).
    pub fn settled(self: &Arc<Self>, task: &str) {
        let Some(entry) = self.entries.lock().remove(task) else {
            return;
        };
        self.settling.lock().push(entry);
        self.settle.notify_one();
    }

    /// Acknowledge and delete the entries of ended tasks, as many at once as ended while the
    /// last round went to Redis: two commands per stream and round rather than two per task.
    /// Runs for as long as the node does.
    pub async fn acknowledge(self: Arc<Self>) {
        loop {
            self.settle.notified().await;
            let done = std::mem::take(&mut *self.settling.lock());
            if let Err(e) = self.ack(&done).await {
                // The tasks' ends are in PostgreSQL: a left-over entry is skipped when next read.
                tracing::debug!(error = %e, entries = done.len(), "cannot acknowledge stream entries");
            }
        }
    }
}
