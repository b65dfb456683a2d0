//! The LifecycleManager actor: creates and deletes agents. Each role has a pool, a supervisor
//! under the `lifecycle` supervisor, whose children are that role's agents; a pool that restarts
//! starts again every agent the registry holds for its role.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use hive_actors::{
    ChildContext, ChildSpec, EventSink, Intensity, Restart, Shutdown, StartChild, StartedChild,
    SupervisionEvent, SupervisionEventKind, Supervisor, SupervisorSpec, TerminateChild,
};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::orchestrator::AgentDown;
use crate::agents::agent::{Agent, AgentEnv};
use crate::agents::registry::{AgentEntry, Countdown};
use crate::bus::event::{AgentCreated, Event};
use crate::context::Hive;
use crate::domain::agent::{name_suffix, AgentInfo, AgentKind, AgentSpec, AgentStatus};
use crate::domain::names::Role;
use crate::domain::time::now_ms;
use crate::managers::orchestrator::Orchestrator;
use crate::managers::slot::Slot;
use crate::managers::supervision::supervision_sink;
use crate::managers::to_orchestrator::ToOrchestrator;
use crate::store::manager::StoreManager;
use crate::store::manager::{Persist, Write};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("no agent with id {0}")]
    NotFound(String),
    #[error("the store is busy; try again shortly")]
    StoreBusy,
    #[error("the orchestrator is busy; try again shortly")]
    Busy,
    #[error(transparent)]
    Store(Arc<StoreError>),
    #[error("the agent pool is not running: {0}")]
    Pool(String),
    #[error("this node hosts {hosted} agents and takes at most {limit} (max_agents); {} more can be created", limit.saturating_sub(*hosted))]
    AgentLimit { limit: usize, hosted: usize },
}

/// Create `count` agents from one spec; answered once they are stored and started.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CreateAgents {
    pub spec: AgentSpec,
    pub count: usize,
    pub reply: oneshot::Sender<Result<Vec<Arc<AgentEntry>>, LifecycleError>>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct DeleteAgent {
    pub id: String,
    pub reply: oneshot::Sender<Result<(), LifecycleError>>,
}

/// Longest a creation request waits for its agents' first start.
const AGENT_START_LIMIT: Duration = Duration::from_secs(30);

/// The managers the LifecycleManager talks to.
pub struct Peers {
    pub store: Arc<Slot<StoreManager>>,
    pub orchestrator: Arc<Slot<Orchestrator>>,
    /// Its own supervisor, which every pool is started under.
    pub lifecycle_supervisor: Arc<Slot<Supervisor>>,
}

/// The agents' pools and the spec their agents share.
struct PoolSet {
    peers: Arc<Peers>,
    /// Pool supervisors by role, updated by each pool's factory so that a restarted pool is
    /// found.
    by_role: Mutex<HashMap<Role, Addr<Supervisor>>>,
    agent: ChildSpec,
}

type Pools = Arc<PoolSet>;

pub struct LifecycleManager {
    hive: Hive,
    peers: Arc<Peers>,
    pools: Pools,
}

fn pool_name(role: &Role) -> String {
    format!("pool:{role}")
}

/// The child spec every agent is started from, under its own id: restarted whatever its exit, on
/// the arbiter its id hashes to. One spec for all agents, as OTP's `simple_one_for_one` has one
/// for all of a pool's children, so that an idle agent carries no start closure of its own.
fn agent_spec(hive: &Hive, peers: &Arc<Peers>) -> ChildSpec {
    let env = Arc::new(AgentEnv {
        hive: hive.clone(),
        reports: ToOrchestrator::new(hive.clone(), peers.orchestrator.clone()),
    });
    let hive = hive.clone();
    ChildSpec::new("agent", move |ctx: ChildContext| {
        // An agent leaves the registry only once its pool has forgotten it (`DeleteAgent`), so
        // every start finds its entry.
        let Some(entry) = hive.agents.get(&ctx.id) else {
            return StartedChild::failed(ctx.exit, format!("agent {} is not registered", ctx.id));
        };
        let (env, capacity, exit) = (env.clone(), hive.config.mailbox.agent, ctx.exit.clone());
        let make = move || Agent::new(env, entry, exit);
        match hive.arbiter_for(&ctx.id) {
            Some(arbiter) => StartedChild::on_arbiter(arbiter, capacity, &ctx.exit, make).1,
            None => StartedChild::new(make(), capacity).1,
        }
    })
    .restart(Restart::Permanent)
}

/// A pool's events: counted and published like every supervisor's, and also applied to the
/// agent registry, the store and the orchestrator (which retries the task of a crashed agent).
fn pool_sink(hive: &Hive, peers: &Arc<Peers>) -> EventSink {
    let common = supervision_sink(hive, &peers.store);
    let (hive, peers) = (hive.clone(), peers.clone());
    Arc::new(move |event: &SupervisionEvent| {
        common(event);
        let Some(entry) = hive.agents.get(&event.child) else {
            return;
        };
        match &event.kind {
            SupervisionEventKind::ChildExited { reason } => {
                if let Some(orchestrator) = peers.orchestrator.get() {
                    let crashed = !reason.is_normal();
                    hive.kinds.orchestrator.do_send(
                        &orchestrator,
                        AgentDown {
                            id: entry.info.id.clone(),
                            reason: reason.to_string(),
                            crashed,
                            deleted: false,
                            ack: None,
                        },
                    );
                }
                if reason.is_normal() {
                    entry.set_status(AgentStatus::Stopped, None);
                }
            }
            SupervisionEventKind::ChildStopped { reason } => {
                entry.set_status(AgentStatus::Stopped, None);
                hive.agents
                    .set_stopped_reason(&entry.info.id, Some(reason.to_string()));
                if let Some(store) = peers.store.get() {
                    hive.kinds.store.do_send(
                        &store,
                        Persist(Write::UpdateAgent {
                            id: event.child.clone(),
                            status: AgentStatus::Stopped,
                            restarts: u64::from(entry.state().restarts),
                            deleted: false,
                        }),
                    );
                }
            }
            SupervisionEventKind::ChildRestarted { .. } => {
                let restarts = entry.restarting();
                if let Some(store) = peers.store.get() {
                    hive.kinds.store.do_send(
                        &store,
                        Persist(Write::UpdateAgent {
                            id: event.child.clone(),
                            status: AgentStatus::Restarting,
                            restarts,
                            deleted: false,
                        }),
                    );
                }
            }
            _ => {}
        }
    })
}

impl LifecycleManager {
    pub fn new(hive: Hive, peers: Arc<Peers>) -> Self {
        let pools = Arc::new(PoolSet {
            peers: peers.clone(),
            by_role: Mutex::default(),
            agent: agent_spec(&hive, &peers),
        });
        Self { hive, peers, pools }
    }

    /// The pool of `role`, started under the lifecycle supervisor when it is the first agent.
    async fn pool(
        hive: Hive,
        pools: Pools,
        role: Role,
    ) -> Result<Addr<Supervisor>, LifecycleError> {
        if let Some(pool) = pools
            .by_role
            .lock()
            .get(&role)
            .filter(|p| p.connected())
            .cloned()
        {
            return Ok(pool);
        }
        let parent = pools
            .peers
            .lifecycle_supervisor
            .get()
            .ok_or_else(|| LifecycleError::Pool("lifecycle supervisor".into()))?;
        let config = &hive.config;
        let spec = SupervisorSpec::new(
            pool_name(&role),
            hive.tree.clone(),
            pool_sink(&hive, &pools.peers),
        )
        .parent("lifecycle")
        .strategy(hive_actors::Strategy::SimpleOneForOne)
        .crash_loop_limit(config.agent_crash_loop_limit)
        .intensity(Intensity {
            max_restarts: config.pool_max_restarts,
            period: Duration::from_millis(config.pool_restart_period_ms),
        });
        let (h, r, agent) = (hive.clone(), role.clone(), pools.agent.clone());
        let children = move || {
            h.agents
                .of_role(&r)
                .into_iter()
                .map(|e| agent.named(e.info.id.clone()))
                .collect()
        };
        let (registry, r) = (pools.clone(), role.clone());
        let on_start = move |addr: Addr<Supervisor>| {
            registry.by_role.lock().insert(r.clone(), addr);
        };
        let child = Supervisor::child_spec(spec, children, config.mailbox.lifecycle, on_start);
        match parent.send(StartChild(child)).await {
            Ok(Ok(())) => {}
            // Another request started it first.
            Ok(Err(hive_actors::SupervisorError::DuplicateChild(_))) => {}
            Ok(Err(e)) => return Err(LifecycleError::Pool(e.to_string())),
            Err(e) => return Err(LifecycleError::Pool(e.to_string())),
        }
        pools
            .by_role
            .lock()
            .get(&role)
            .cloned()
            .ok_or_else(|| LifecycleError::Pool(pool_name(&role)))
    }

    /// Start agents already in the registry under their pools.
    async fn start_agents(
        hive: Hive,
        pools: Pools,
        entries: Vec<Arc<AgentEntry>>,
    ) -> Result<(), LifecycleError> {
        let mut by_role: HashMap<Role, Vec<Arc<AgentEntry>>> = HashMap::new();
        for entry in entries {
            by_role
                .entry(entry.info.role().clone())
                .or_default()
                .push(entry);
        }
        for (role, entries) in by_role {
            let fresh = !pools
                .by_role
                .lock()
                .get(&role)
                .is_some_and(|p| p.connected());
            let pool = Self::pool(hive.clone(), pools.clone(), role).await?;
            if fresh {
                // A pool started now took its children from the registry already.
                continue;
            }
            for entry in entries {
                let spec = pools.agent.named(entry.info.id.clone());
                match pool.send(StartChild(spec)).await {
                    Ok(Ok(())) | Ok(Err(hive_actors::SupervisorError::DuplicateChild(_))) => {}
                    Ok(Err(e)) => return Err(LifecycleError::Pool(e.to_string())),
                    Err(e) => return Err(LifecycleError::Pool(e.to_string())),
                }
            }
        }
        Ok(())
    }

    fn restore(&mut self, ctx: &mut Context<Self>) {
        let (hive, pools) = (self.hive.clone(), self.pools.clone());
        ctx.wait(
            async move {
                let agents = hive
                    .store
                    .live_agents(hive.node_id())
                    .await
                    .map_err(|e| LifecycleError::Store(Arc::new(e)))?;
                let entries: Vec<_> = agents
                    .into_iter()
                    .map(|stored| match hive.agents.get(&stored.info.id) {
                        Some(entry) => entry,
                        None => {
                            hive.agents
                                .insert(stored.info, stored.restarts, stored.state, None)
                        }
                    })
                    .collect();
                let count = entries.len();
                Self::start_agents(hive, pools, entries).await?;
                Ok::<_, LifecycleError>(count)
            }
            .into_actor(self)
            .map(|restored, act, _| {
                match restored {
                    Ok(0) => {}
                    Ok(count) => {
                        tracing::info!(agents = count, "started the agents kept in the store")
                    }
                    Err(e) => tracing::error!(error = %e, "cannot start the stored agents"),
                }
                act.hive.recovered.send_modify(|r| r.agents = true);
            }),
        );
    }
}

impl Actor for LifecycleManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.hive.kinds.lifecycle.actor_started();
        self.restore(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.hive.kinds.lifecycle.actor_stopped();
    }
}

impl Handler<CreateAgents> for LifecycleManager {
    type Result = ();

    fn handle(&mut self, msg: CreateAgents, ctx: &mut Context<Self>) {
        self.hive.kinds.lifecycle.handled();
        let _timer = self.hive.metrics.processing("lifecycle");
        let CreateAgents { spec, count, reply } = msg;
        // Checked here, where creations are applied one at a time, so that two batches cannot
        // both pass the limit.
        let (limit, hosted) = (self.hive.config.max_agents, self.hive.agents.len());
        if count > limit.saturating_sub(hosted) {
            let _ = reply.send(Err(LifecycleError::AgentLimit { limit, hosted }));
            return;
        }
        let now = now_ms();
        let (kind, node) = (
            Arc::new(AgentKind {
                role: spec.role.clone(),
                capabilities: spec.capabilities.clone(),
                executor: spec.executor.clone(),
            }),
            self.hive.node_id().map(arcstr::ArcStr::from),
        );
        let infos: Vec<AgentInfo> = (0..count)
            .map(|_| {
                let id = uuid::Uuid::now_v7().to_string();
                let name = match &spec.name {
                    Some(name) if count == 1 => Some(name.as_str().into()),
                    Some(name) => Some(format!("{name}-{}", name_suffix(&id)).into()),
                    None => None,
                };
                AgentInfo {
                    id: id.into(),
                    name,
                    kind: kind.clone(),
                    created_at: now,
                    node: node.clone(),
                }
            })
            .collect();
        let Some(store) = self.peers.store.get() else {
            let _ = reply.send(Err(LifecycleError::Store(Arc::new(
                StoreError::Unavailable,
            ))));
            return;
        };
        let (tx, rx) = oneshot::channel();
        if self
            .hive
            .kinds
            .store
            .try_send(
                &store,
                Persist(Write::CreateAgents {
                    agents: infos.clone(),
                    state: spec.state.clone(),
                    topics: spec.topics.0.clone(),
                    reply: tx,
                }),
            )
            .is_err()
        {
            let _ = reply.send(Err(LifecycleError::StoreBusy));
            return;
        }
        let (hive, pools) = (self.hive.clone(), self.pools.clone());
        let state = spec.state.filter(|s| !s.is_null()).map(Arc::new);
        // Waited on, so that creations are applied one at a time and a pool is started once.
        ctx.wait(
            async move {
                rx.await
                    .map_err(|_| LifecycleError::Store(Arc::new(StoreError::Unavailable)))?
                    .map_err(LifecycleError::Store)?;
                let countdown = Countdown::new(infos.len());
                let entries: Vec<_> = infos
                    .into_iter()
                    .map(|info| {
                        hive.agents
                            .insert(info, 0, state.clone(), Some(countdown.clone()))
                    })
                    .collect();
                for entry in &entries {
                    hive.bus.publish(Event::AgentCreated(AgentCreated {
                        id: entry.info.id.clone(),
                        role: entry.info.role().clone(),
                        name: entry.info.name().into_owned(),
                    }));
                }
                Self::start_agents(hive, pools, entries.clone()).await?;
                // Answered once every new agent runs and can take work; an agent that cannot
                // start does not hold creation up for longer than the limit.
                if tokio::time::timeout(AGENT_START_LIMIT, countdown.wait())
                    .await
                    .is_err()
                {
                    tracing::warn!("some new agents did not start within {AGENT_START_LIMIT:?}");
                }
                Ok(entries)
            }
            .into_actor(self)
            .map(move |created, _, _| {
                let _ = reply.send(created);
            }),
        );
    }
}

impl Handler<DeleteAgent> for LifecycleManager {
    type Result = ();

    fn handle(&mut self, DeleteAgent { id, reply }: DeleteAgent, ctx: &mut Context<Self>) {
        self.hive.kinds.lifecycle.handled();
        let _timer = self.hive.metrics.processing("lifecycle");
        let Some(entry) = self.hive.agents.get(&id) else {
            let _ = reply.send(Err(LifecycleError::NotFound(id)));
            return;
        };
        let pool = self.pools.by_role.lock().get(entry.info.role()).cloned();
        let (hive, peers) = (self.hive.clone(), self.peers.clone());
        // The orchestrator lets go of the agent first, so that its task is back in the queue
        // (committed) before the agent stops and before DELETE is answered.
        let (ack, released) = oneshot::channel();
        let down = AgentDown {
            id: entry.info.id.clone(),
            reason: "deleted".into(),
            crashed: false,
            deleted: true,
            ack: Some(ack),
        };
        let Some(orchestrator) = self.peers.orchestrator.get() else {
            let _ = reply.send(Err(LifecycleError::Pool(
                "the orchestrator is restarting".into(),
            )));
            return;
        };
        if self
            .hive
            .kinds
            .orchestrator
            .try_send(&orchestrator, down)
            .is_err()
        {
            let _ = reply.send(Err(LifecycleError::Busy));
            return;
        }
        ctx.spawn(
            async move {
                entry.set_status(AgentStatus::Stopped, None);
                let _ = released.await;
                if let Some(pool) = pool {
                    // The pool's exit event hands the agent's task back to the queue.
                    let _ = pool.send(TerminateChild(id.clone())).await;
                }
                if let Some(store) = peers.store.get() {
                    let restarts = u64::from(entry.state().restarts);
                    hive.kinds.store.do_send(
                        &store,
                        Persist(Write::UpdateAgent {
                            id: id.clone(),
                            status: AgentStatus::Stopped,
                            restarts,
                            deleted: true,
                        }),
                    );
                    // Answered once committed: a read or a topic's message after the answer
                    // finds the agent gone.
                    let (flushed, committed) = oneshot::channel();
                    hive.kinds
                        .store
                        .do_send(&store, crate::store::manager::Flush(flushed));
                    let _ = committed.await;
                }
                // The store announces `agent.deleted` once the deletion is committed.
                hive.agents.remove(&id);
                Ok(())
            }
            .into_actor(self)
            .map(move |done, _, _| {
                let _ = reply.send(done);
            }),
        );
    }
}

impl Handler<Shutdown> for LifecycleManager {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
