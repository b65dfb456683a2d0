//! The ClusterFeeder actor: this node's side of the cluster, under the root supervisor. It runs
//! four loops: reading the task streams into the orchestrator as agents here become free, the
//! heartbeat (with the take-over of lost nodes), and the event relay both ways. Redis errors
//! never stop it: the node works on, degraded, and the loops retry.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use hive_actors::Shutdown;
use tokio::sync::oneshot;

use super::membership::NodeView;
use super::port::{Adopt, Release, TaskHolder, Wanted};
use super::{relay, Cluster, ClusterError, Entry};
use crate::bus::event::{Event, NodeLost, RedisState};
use crate::context::Hive;
use crate::domain::names::Role;
use crate::domain::task::{Priority, TaskRecord};
use crate::domain::time::now_ms;

/// How long a read waits on the streams for new work before it looks at the agents again.
const BLOCK: Duration = Duration::from_secs(1);
/// Pause after Redis or the database failed, before the loop tries again.
const RETRY: Duration = Duration::from_millis(500);
/// Most tasks one pass republishes that their node committed and never published.
const UNHELD_BATCH: i64 = 1000;

pub struct ClusterFeeder {
    hive: Hive,
    cluster: Arc<Cluster>,
    /// The node's orchestrator, reached through the port the cluster defines.
    holder: Arc<dyn TaskHolder>,
}

impl ClusterFeeder {
    pub fn new(hive: Hive, cluster: Arc<Cluster>, holder: Arc<dyn TaskHolder>) -> Self {
        Self {
            hive,
            cluster,
            holder,
        }
    }
}

impl Actor for ClusterFeeder {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (h, c, o) = (&self.hive, &self.cluster, &self.holder);
        ctx.spawn(feed(h.clone(), c.clone(), o.clone()).into_actor(self));
        ctx.spawn(beat(h.clone(), c.clone(), o.clone()).into_actor(self));
        let services = (h.store.clone(), h.metrics.clone(), h.bus.clone());
        ctx.spawn(super::lease::hold(services, c.clone(), o.clone()).into_actor(self));
        ctx.spawn(relay::send_out(h.clone(), c.clone()).into_actor(self));
        ctx.spawn(relay::take_in(h.clone(), c.clone()).into_actor(self));
        ctx.spawn(claim_addressed(h.clone(), c.clone(), o.clone()).into_actor(self));
        ctx.spawn(c.clone().acknowledge().into_actor(self));
    }
}

impl Handler<Shutdown> for ClusterFeeder {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Claim the queued tasks addressed to this node's agents that no node holds (a topic's message
/// or a hand-off committed on another node, or a dependant released there): when another node
/// announces one for an agent here, and every second in case the announcement was lost. The
/// claim is one conditional update, so each task is claimed by its agent's node once.
async fn claim_addressed(hive: Hive, cluster: Arc<Cluster>, holder: Arc<dyn TaskHolder>) {
    let mut events = hive.bus.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(BLOCK) => {}
            _ = announced_here(&hive, &mut events) => {}
        }
        if let Err(e) = claim(&hive, &cluster, &*holder).await {
            tracing::debug!(error = %e, "cannot claim tasks for this node's agents; retrying");
        }
    }
}

/// Resolves when another node announces a queued task for one of this node's agents (or
/// announcements were missed).
async fn announced_here(
    hive: &Hive,
    events: &mut tokio::sync::broadcast::Receiver<Arc<crate::bus::Published>>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(published) => {
                if let Event::Relayed { kind, data } = &published.event {
                    let agent = data.get("agent").and_then(|a| a.as_str());
                    if *kind == "task.queued" && agent.is_some_and(|a| hive.agents.get(a).is_some())
                    {
                        return;
                    }
                }
            }
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

async fn claim(
    hive: &Hive,
    cluster: &Cluster,
    holder: &dyn TaskHolder,
) -> Result<(), ClusterError> {
    let unclaimed = hive.store.unclaimed_addressed(UNHELD_BATCH).await?;
    let mine: Vec<&str> = unclaimed
        .iter()
        .filter(|t| {
            t.agent
                .as_deref()
                .is_some_and(|a| hive.agents.get(a).is_some())
        })
        .map(|t| t.id.as_str())
        .collect();
    if mine.is_empty() {
        return Ok(());
    }
    let taken = hive.store.take(&mine, &cluster.node).await?;
    hive.metrics
        .cluster_tasks
        .with_label_values(&["claimed"])
        .inc_by(taken.len() as u64);
    adopt(holder, taken, false);
    Ok(())
}

/// Ask the orchestrator which roles have idle agents here with nothing queued for them.
async fn wanted(holder: &dyn TaskHolder) -> Vec<(Role, usize)> {
    let (reply, answer) = oneshot::channel();
    // One question at a time from this loop: bounded however the mailbox is.
    holder.wanted(Wanted { reply });
    answer.await.unwrap_or_default()
}

/// Hand tasks this node now holds to the orchestrator.
fn adopt(holder: &dyn TaskHolder, tasks: Vec<TaskRecord>, taken_over: bool) {
    if tasks.is_empty() {
        return;
    }
    // At most as many as there were idle agents (or a lost node's tasks, once).
    holder.adopt(Adopt {
        tasks,
        taken_over,
        done: None,
    });
}

/// Decide entries read from the streams: the tasks this node could take go to the
/// orchestrator; entries of tasks that ended or that another node holds are acknowledged.
async fn take(
    hive: &Hive,
    cluster: &Cluster,
    holder: &dyn TaskHolder,
    entries: Vec<Entry>,
) -> Result<(), (ClusterError, Vec<Entry>)> {
    if entries.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = entries.iter().map(|e| &*e.task).collect();
    let held = match hive.store.take(&ids, &cluster.node).await {
        Ok(held) => held,
        Err(e) => return Err((e.into(), entries)),
    };
    let held_ids: HashSet<&str> = held.iter().map(|t| t.id.as_str()).collect();
    let (mine, others): (Vec<Entry>, Vec<Entry>) = entries
        .iter()
        .cloned()
        .partition(|e| held_ids.contains(&*e.task));
    let metrics = &hive.metrics.cluster_tasks;
    metrics
        .with_label_values(&["taken"])
        .inc_by(mine.len() as u64);
    metrics
        .with_label_values(&["skipped"])
        .inc_by(others.len() as u64);
    for entry in mine {
        cluster.track(entry.task.clone(), entry);
    }
    adopt(holder, held, false);
    if let Err(e) = cluster.ack(&others).await {
        tracing::debug!(error = %e, "cannot acknowledge entries of tasks held elsewhere");
    }
    Ok(())
}

/// Read work for the roles with room, most urgent streams first.
async fn feed(hive: Hive, cluster: Arc<Cluster>, holder: Arc<dyn TaskHolder>) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut resumed = false;
    let mut undecided: Vec<Entry> = Vec::new();
    loop {
        let c = match &mut conn {
            Some(c) => c,
            None => match cluster.dedicated(BLOCK).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    cluster.mark(false);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            },
        };
        let step = async {
            if !resumed {
                // Entries a previous run of this node read and did not finish.
                let streams = cluster.all_streams().await?;
                undecided.extend(cluster.read_own_pending(c, &streams).await?);
                resumed = true;
            }
            if let Err((e, back)) =
                take(&hive, &cluster, &*holder, std::mem::take(&mut undecided)).await
            {
                undecided = back;
                return Err(e);
            }
            let wanted = wanted(&*holder).await;
            if wanted.is_empty() {
                tokio::select! {
                    _ = cluster.room.notified() => {}
                    _ = tokio::time::sleep(BLOCK) => {}
                }
                return Ok(());
            }
            let mut got = Vec::new();
            for (role, room) in &wanted {
                cluster.ensure_role(c, role).await?;
                let mut left = *room;
                let slo = hive.settings.load().slo.clone();
                for priority in cluster.read_order(c, role, &slo).await? {
                    if left == 0 {
                        break;
                    }
                    let stream = [cluster.keys.stream(role, priority)];
                    let read = cluster.read(c, &stream, left, None).await?;
                    left -= read.len().min(left);
                    got.extend(read);
                }
            }
            if got.is_empty() {
                let streams: Vec<String> = wanted
                    .iter()
                    .flat_map(|(role, _)| {
                        Priority::BY_URGENCY.map(|p| cluster.keys.stream(role, p))
                    })
                    .collect();
                got = cluster.read(c, &streams, 1, Some(BLOCK)).await?;
            }
            cluster.mark(true);
            if let Err((e, back)) = take(&hive, &cluster, &*holder, got).await {
                undecided = back;
                return Err(e);
            }
            Ok::<_, ClusterError>(())
        }
        .await;
        if let Err(e) = step {
            match e {
                ClusterError::Store(e) => {
                    tracing::warn!(error = %e, "cannot take tasks from the streams; retrying")
                }
                e => {
                    tracing::debug!(error = %e, "reading the task streams failed; reconnecting");
                    cluster.mark(false);
                    conn = None;
                    // Redis may have restarted empty (it keeps nothing on disk): the streams'
                    // groups are made again (a group that exists just answers BUSYGROUP).
                    cluster.forget_groups();
                }
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// The heartbeat: say this node is alive, and take over the work of nodes that are not.
async fn beat(hive: Hive, cluster: Arc<Cluster>, holder: Arc<dyn TaskHolder>) {
    let mut ticks = tokio::time::interval(cluster.heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_up = false;
    loop {
        ticks.tick().await;
        let me = NodeView::local(&hive, &cluster);
        let up = cluster.beat(&me).await.is_ok();
        hive.metrics.cluster_redis_up.set(i64::from(up));
        if up != was_up {
            // Operators (and their dashboards) see the node lose and regain Redis.
            let node = cluster.node.clone();
            hive.bus.publish(Event::Redis(RedisState { node, up }));
        }
        if up && !was_up {
            // Back from an outage (or just started): tasks queued here for roles this node has
            // no agent for go to the streams, where a node that has one takes them.
            release_unserved(&hive, &cluster, &*holder).await;
            // A Redis that restarted has lost its streams: tasks no node holds go out again.
            // A task still on its stream gets a second entry, which the node that reads it
            // after the task was taken skips.
            if let Err(e) = republish_unheld(&hive, &cluster).await {
                tracing::warn!(error = %e, "cannot republish tasks no node holds");
            }
        }
        was_up = up;
        // A survivor acts only after Redis has answered it for a whole lease: after an outage
        // every node has had a heartbeat's time to say it is still alive.
        if !up || !cluster.up_for(cluster.lease) {
            continue;
        }
        let nodes = match cluster.nodes().await {
            Ok(nodes) => nodes,
            Err(e) => {
                tracing::debug!(error = %e, "cannot list the nodes");
                continue;
            }
        };
        // Lost by Redis (its heartbeat key expired) or by the database (its lease ran out while
        // it still holds tasks): either way taken over only once it is fenced in the database.
        let mut lost: Vec<NodeView> = nodes
            .iter()
            .filter(|n| n.status == "lost" && n.lost_at_ms.is_none() && *n.id != *cluster.node)
            .cloned()
            .collect();
        if let Ok(lapsed) = hive.store.lapsed_nodes().await {
            for id in lapsed {
                if id != *cluster.node && !lost.iter().any(|n| n.id == id) {
                    if let Some(node) = nodes.iter().find(|n| n.id == id) {
                        lost.push(node.clone());
                    }
                }
            }
        }
        let any = !lost.is_empty();
        for node in lost {
            if let Err(e) = take_over(&hive, &cluster, &*holder, node).await {
                tracing::warn!(error = %e, "taking over a lost node's work failed; retrying");
            }
        }
        if any {
            release_unserved(&hive, &cluster, &*holder).await;
        }
        let _ = cluster.forget_old(&nodes).await;
    }
}

/// Move a lost node's work here: its unfinished tasks in the database (each counts the attempt
/// it was in, as after a crash), its pending stream entries, and any task committed and never
/// published.
async fn take_over(
    hive: &Hive,
    cluster: &Cluster,
    holder: &dyn TaskHolder,
    lost: NodeView,
) -> Result<(), ClusterError> {
    // A survivor that cannot prove its own lease takes nothing: it may be the one cut off.
    if !cluster.lease_held() || !cluster.lock_takeover(&lost.id).await? {
        return Ok(());
    }
    // The database decides: a node whose lease has not run out is alive (cut off from Redis
    // only), and keeps its work.
    if !hive.store.fence_lapsed(&lost.id).await? {
        cluster.unlock_takeover(&lost.id).await?;
        return Ok(());
    }
    let mut tasks = hive.store.take_over(&lost.id, &cluster.node).await?;
    let claimed = cluster.claim_from(&lost.id).await?;
    // An entry the lost node read but whose task it had not yet taken in the database: the task
    // is nobody's, and would be stranded if its entry went; this node takes it instead.
    let unheld: Vec<&str> = {
        let held: HashSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        claimed
            .iter()
            .map(|e| &*e.task)
            .filter(|id| !held.contains(id))
            .collect()
    };
    let taken = hive.store.take(&unheld, &cluster.node).await?;
    tasks.extend(taken);
    let held: HashSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    let (mine, done): (Vec<Entry>, Vec<Entry>) =
        claimed.into_iter().partition(|e| held.contains(&*e.task));
    for entry in mine {
        cluster.track(entry.task.clone(), entry);
    }
    cluster.ack(&done).await?;
    let moved = tasks.len();
    hive.metrics
        .cluster_tasks
        .with_label_values(&["taken_over"])
        .inc_by(moved as u64);
    adopt(holder, tasks, true);
    // A task the lost node committed but had not yet published would otherwise wait for ever.
    republish_unheld(hive, cluster).await?;
    cluster.record_loss(lost.clone(), moved).await?;
    tracing::warn!(node = %lost.id, tasks = moved, "took over the work of a lost node");
    hive.bus.publish(Event::NodeLost(NodeLost {
        node: lost.id,
        taken_over_by: cluster.node.clone(),
        tasks: moved,
    }));
    Ok(())
}

/// Publish again the queued tasks no node holds that were accepted more than a lease ago; one
/// node at a time (the others find the lock taken and leave it to that one).
async fn republish_unheld(hive: &Hive, cluster: &Cluster) -> Result<(), ClusterError> {
    if !cluster.lock_republish().await? {
        return Ok(());
    }
    let stale = now_ms() - cluster.lease.as_millis() as i64;
    for task in hive.store.unheld(stale, UNHELD_BATCH).await? {
        cluster.publish(&task).await?;
    }
    Ok(())
}

/// Give the streams back the queued tasks of roles this node cannot run.
async fn release_unserved(hive: &Hive, cluster: &Cluster, holder: &dyn TaskHolder) {
    let (reply, answer) = oneshot::channel();
    holder.release(Release { reply });
    let Ok(tasks) = answer.await else { return };
    if tasks.is_empty() {
        return;
    }
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    let released = async {
        hive.store.release(&ids, &cluster.node).await?;
        for task in &tasks {
            cluster.publish(task).await?;
        }
        Ok::<_, ClusterError>(())
    }
    .await;
    match released {
        Ok(()) => hive
            .metrics
            .cluster_tasks
            .with_label_values(&["released"])
            .inc_by(tasks.len() as u64),
        Err(e) => {
            // Still held here (or unheld and on no stream): keep them and try on the next return.
            tracing::warn!(error = %e, "cannot hand queued tasks back to the streams");
            let kept: Vec<&str> = ids.clone();
            let _ = hive.store.take(&kept, &cluster.node).await;
            adopt(holder, tasks, false);
        }
    }
}
