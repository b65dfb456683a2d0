//! The autoscaler: sizes the pools the configuration names between their `min` and `max`.
//!
//! Each sample it asks the orchestrator for each pool's load and tracks the pool's *pressure*:
//! the largest share of its class target that the oldest queued task of any class has waited.
//! A pressure of 1 is a broken target. It forecasts pressure a few seconds ahead with a damped
//! trend (a climb is what it must see coming; the monitor's selecting forecaster believes nothing
//! but naive until it has scored forecasts that far ahead, which a short window does not give)
//! and adds agents while that forecast (or pressure now) passes
//! [`HEADROOM`], before the target breaks rather than after: enough for the pool to work off its
//! queue within the headroom at the forecast pressure (the pool times forecast / headroom), and
//! at least half as many again as it has; acting on readings alone (the reactive policy), half as
//! many again, at least one. Agents it added (named `<role>-autoscaled…`) are removed again once the pool has
//! had no queue and idle agents for `idle_ms`, half of the idle ones at a time, never below
//! `min`. One change per pool per `cooldown_ms`, and none while one is under way.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use hive_actors::Shutdown;
use hive_stats::holt::{ForecasterKind, COVERAGE};
use tokio::sync::oneshot;

use super::plugin::Plugin;
use crate::bus::event::{Event, Scaled};
use crate::config::PluginMode;
use crate::config::PoolBounds;
use crate::context::Hive;
use crate::domain::agent::{AgentId, AgentSpec};
use crate::domain::names::{AgentName, Role};
use crate::domain::task::Priority;
use crate::managers::handles::Handles;
use crate::managers::lifecycle::{CreateAgents, DeleteAgent};
use crate::managers::orchestrator::{PoolLoad, PoolLoads};
use crate::snapshots::monitor::Insight;

/// Pressure at which agents are added: a fifth of the target left as margin.
pub const HEADROOM: f64 = 0.8;
/// Samples of pressure kept per pool for the forecast.
const HISTORY: usize = 30;
/// Samples ahead the pressure is forecast.
const LEAD: usize = 5;
/// Fewest samples before the forecast is trusted; until then pressure now decides alone.
const MIN_SAMPLES: usize = 5;

/// What a pool needs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add(usize),
    Remove(usize),
    Keep,
}

/// One pool as the autoscaler sees it at a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub agents: usize,
    pub queued: usize,
    /// Idle agents that the autoscaler added (the only ones it removes).
    pub idle_added: usize,
    pub pressure: f64,
    pub forecast: Option<f64>,
    /// How long the pool has had no queue and at least one idle agent.
    pub calm_for: Duration,
}

/// The change `reading` calls for within `bounds`.
pub fn decide(bounds: &PoolBounds, reading: &Reading, idle_after: Duration) -> Change {
    let Reading { agents, .. } = *reading;
    if agents < bounds.min {
        return Change::Add(bounds.min - agents);
    }
    let peak = reading.forecast.unwrap_or(0.0).max(reading.pressure);
    if peak >= HEADROOM && reading.queued > 0 && agents < bounds.max {
        // The oldest task's wait is about what the pool needs to work off what is queued ahead
        // of it, so a pool `peak / HEADROOM` times as large works it off within the headroom:
        // sized to the forecast, a pool catches up with a spike in one step rather than in
        // several a cooldown apart. Acting on readings alone, half as many again each time.
        let sized = reading.forecast.map_or(0, |_| {
            ((agents as f64) * (peak / HEADROOM - 1.0)).ceil() as usize
        });
        let step = agents.div_ceil(2).max(1).max(sized);
        return Change::Add(step.min(bounds.max - agents));
    }
    if reading.queued == 0 && reading.calm_for >= idle_after && agents > bounds.min {
        let spare = reading.idle_added.min(agents - bounds.min);
        if spare > 0 {
            return Change::Remove(spare.div_ceil(2));
        }
    }
    Change::Keep
}

/// The largest share of its class target any queued class's oldest task has waited.
pub fn pressure(load: &PoolLoad, target_ms: impl Fn(Priority) -> u64) -> f64 {
    Priority::BY_URGENCY
        .into_iter()
        .filter(|p| load.queued[p.index()] > 0)
        .map(|p| load.oldest_wait_ms[p.index()] as f64 / target_ms(p).max(1) as f64)
        .fold(0.0, f64::max)
}

/// The name of agents the autoscaler adds to `role`'s pool, and whether `name` is one of them.
fn added_name(role: &Role) -> String {
    format!("{role}-autoscaled")
}

/// `prefix` is [`added_name`] of the pool's role, made once per sample rather than per agent.
fn is_added(prefix: &str, name: &str) -> bool {
    name == prefix
        || name
            .strip_prefix(prefix)
            .is_some_and(|r| r.starts_with('-'))
}

#[derive(Default)]
struct Pool {
    pressure: VecDeque<f64>,
    calm_since: Option<Instant>,
    last_change: Option<Instant>,
    busy: bool,
}

pub struct Autoscaler {
    hive: Hive,
    handles: Arc<Handles>,
    pools: BTreeMap<Role, Pool>,
    /// An answer from the orchestrator is awaited: samples that come meanwhile are skipped.
    asking: bool,
}

/// The orchestrator's answer, handed back to the actor.
struct Loads(Vec<PoolLoad>);

impl Autoscaler {
    pub fn new(hive: Hive, handles: Arc<Handles>) -> Self {
        let pools = BTreeMap::new();
        Self {
            hive,
            handles,
            pools,
            asking: false,
        }
    }

    fn apply(&mut self, loads: Loads, ctx: &mut Context<Self>) {
        let settings = self.hive.settings.load();
        let config = &settings.plugins.autoscaler;
        let now = Instant::now();
        let roles: Vec<Role> = self.pools.keys().cloned().collect();
        for (role, load) in roles.into_iter().zip(loads.0) {
            let Some(bounds) = config.pools.get(&role) else {
                continue;
            };
            let pressure = pressure(&load, |p| settings.slo.of(p));
            let queued: usize = load.queued.iter().sum();
            // Only a name that is held can be an added agent's: a default name is `<role>-<id>`,
            // and deriving it for every idle agent each sample would allocate for nothing.
            let prefix = added_name(&role);
            let idle_added: Vec<AgentId> = load
                .idle
                .iter()
                .filter(|id| {
                    self.hive.agents.get(id).is_some_and(|e| {
                        e.info.name.as_deref().is_some_and(|n| is_added(&prefix, n))
                    })
                })
                .cloned()
                .collect();
            self.hive
                .metrics
                .autoscaler_agents
                .with_label_values(&[role.as_str()])
                .set(load.agents as i64);
            let Some(pool) = self.pools.get_mut(&role) else {
                continue;
            };
            if pool.pressure.len() == HISTORY {
                pool.pressure.pop_front();
            }
            pool.pressure.push_back(pressure);
            let calm = queued == 0 && !load.idle.is_empty();
            if !calm {
                pool.calm_since = None;
            } else if pool.calm_since.is_none() {
                pool.calm_since = Some(now);
            }
            let cooling = pool.last_change.is_some_and(|at| {
                now.duration_since(at) < Duration::from_millis(config.cooldown_ms)
            });
            if pool.busy || cooling {
                continue;
            }
            let predictive = settings.plugins.mode == PluginMode::Predictive;
            let forecast = (predictive && pool.pressure.len() >= MIN_SAMPLES)
                .then(|| {
                    let recent: Vec<f64> = pool.pressure.iter().copied().collect();
                    ForecasterKind::Damped.forecast(&recent, LEAD, COVERAGE)
                })
                .flatten()
                .map(|f| f.value);
            let reading = Reading {
                agents: load.agents,
                queued,
                idle_added: idle_added.len(),
                pressure,
                forecast,
                calm_for: pool
                    .calm_since
                    .map_or(Duration::ZERO, |at| now.duration_since(at)),
            };
            let change = decide(bounds, &reading, Duration::from_millis(config.idle_ms));
            if change == Change::Keep {
                continue;
            }
            pool.busy = true;
            pool.last_change = Some(now);
            tracing::info!(pool = %role, ?change, agents = load.agents, queued, pressure, ?forecast, "autoscaling");
            self.hive.bus.publish(Event::Scaled(Scaled {
                pool: role.clone(),
                change: match change {
                    Change::Add(_) => "up",
                    _ => "down",
                },
                count: match change {
                    Change::Add(n) | Change::Remove(n) => n,
                    Change::Keep => 0,
                },
                agents: load.agents,
                queued,
                pressure,
                forecast,
            }));
            match change {
                Change::Add(n) => self.add(role, bounds, n, ctx),
                Change::Remove(n) => {
                    self.remove(role, idle_added.into_iter().take(n).collect(), ctx)
                }
                Change::Keep => {}
            }
        }
    }

    fn add(&self, role: Role, bounds: &PoolBounds, count: usize, ctx: &mut Context<Self>) {
        let Some(lifecycle) = self.handles.lifecycle.get() else {
            return self.done(role, ctx);
        };
        let spec = AgentSpec {
            role: role.clone(),
            name: AgentName::try_from(added_name(&role)).ok(),
            capabilities: bounds.capabilities.clone(),
            executor: bounds.executor.clone(),
            state: None,
            topics: Default::default(),
        };
        let (reply, created) = oneshot::channel();
        let sent = self
            .hive
            .kinds
            .lifecycle
            .try_send(&lifecycle, CreateAgents { spec, count, reply });
        let hive = self.hive.clone();
        ctx.spawn(
            async move {
                let added = match sent {
                    Ok(()) => created
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .map_or(0, |a| a.len()),
                    Err(_) => 0,
                };
                hive.metrics
                    .autoscaler_changes
                    .with_label_values(&[role.as_str(), "up"])
                    .inc_by(added as u64);
                role
            }
            .into_actor(self)
            .map(|role, act, ctx| act.done(role, ctx)),
        );
    }

    fn remove(&self, role: Role, ids: Vec<AgentId>, ctx: &mut Context<Self>) {
        let Some(lifecycle) = self.handles.lifecycle.get() else {
            return self.done(role, ctx);
        };
        let mut replies = Vec::new();
        for id in ids {
            let (reply, deleted) = oneshot::channel();
            if self
                .hive
                .kinds
                .lifecycle
                .try_send(
                    &lifecycle,
                    DeleteAgent {
                        id: id.to_string(),
                        reply,
                    },
                )
                .is_ok()
            {
                replies.push(deleted);
            }
        }
        let hive = self.hive.clone();
        ctx.spawn(
            async move {
                let mut removed = 0;
                for deleted in replies {
                    if matches!(deleted.await, Ok(Ok(()))) {
                        removed += 1;
                    }
                }
                hive.metrics
                    .autoscaler_changes
                    .with_label_values(&[role.as_str(), "down"])
                    .inc_by(removed);
                role
            }
            .into_actor(self)
            .map(|role, act, ctx| act.done(role, ctx)),
        );
    }

    fn done(&self, role: Role, ctx: &mut Context<Self>) {
        ctx.notify(ChangeDone(role));
    }
}

/// A change to a pool has been carried out (or failed): the pool may change again.
#[derive(Message)]
#[rtype(result = "()")]
struct ChangeDone(Role);

impl Handler<ChangeDone> for Autoscaler {
    type Result = ();

    fn handle(&mut self, ChangeDone(role): ChangeDone, _: &mut Context<Self>) {
        if let Some(pool) = self.pools.get_mut(&role) {
            pool.busy = false;
        }
    }
}

impl Actor for Autoscaler {
    type Context = Context<Self>;
}

impl Plugin for Autoscaler {
    const NAME: &'static str = "autoscaler";
}

impl Handler<Insight> for Autoscaler {
    type Result = ();

    fn handle(&mut self, _: Insight, ctx: &mut Context<Self>) {
        if self.asking {
            return;
        }
        // The pools it sizes, as the live settings name them now: a pool dropped from them
        // forgets its history, a new one starts with none.
        let settings = self.hive.settings.load();
        let named = &settings.plugins.autoscaler.pools;
        self.pools.retain(|role, _| named.contains_key(role));
        for role in named.keys() {
            self.pools.entry(role.clone()).or_default();
        }
        if self.pools.is_empty() {
            return;
        }
        let Some(orchestrator) = self.handles.orchestrator.get() else {
            return;
        };
        let (reply, answer) = oneshot::channel();
        let roles = self.pools.keys().cloned().collect();
        if self
            .hive
            .kinds
            .orchestrator
            .try_send(&orchestrator, PoolLoads { roles, reply })
            .is_err()
        {
            return;
        }
        self.asking = true;
        ctx.spawn(answer.into_actor(self).map(|loads, act, ctx| {
            act.asking = false;
            if let Ok(loads) = loads {
                act.apply(Loads(loads), ctx);
            }
        }));
    }
}

impl Handler<Shutdown> for Autoscaler {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(min: usize, max: usize) -> PoolBounds {
        PoolBounds {
            min,
            max,
            executor: Default::default(),
            capabilities: Default::default(),
        }
    }

    fn reading(agents: usize, queued: usize, pressure: f64, forecast: Option<f64>) -> Reading {
        Reading {
            agents,
            queued,
            idle_added: 0,
            pressure,
            forecast,
            calm_for: Duration::ZERO,
        }
    }

    const IDLE: Duration = Duration::from_secs(60);

    #[test]
    fn a_pool_below_its_minimum_is_filled_up() {
        assert_eq!(
            decide(&bounds(3, 10), &reading(1, 0, 0.0, None), IDLE),
            Change::Add(2)
        );
    }

    #[test]
    fn agents_are_added_before_the_target_breaks_and_never_past_the_maximum() {
        let b = bounds(1, 10);
        // Half the target used now, but forecast past the headroom: add before it breaks.
        assert_eq!(
            decide(&b, &reading(4, 50, 0.5, Some(0.9)), IDLE),
            Change::Add(2)
        );
        assert_eq!(decide(&b, &reading(9, 50, 1.5, None), IDLE), Change::Add(1));
        assert_eq!(
            decide(&b, &reading(10, 50, 3.0, Some(5.0)), IDLE),
            Change::Keep
        );
        // Forecast at three times the target: the pool grows to work its queue off in one step.
        assert_eq!(
            decide(&b, &reading(2, 50, 1.0, Some(2.4)), IDLE),
            Change::Add(4)
        );
        // The same reading with no forecast (the reactive policy): half as many again.
        assert_eq!(decide(&b, &reading(2, 50, 2.4, None), IDLE), Change::Add(1));
        // Comfortable now and ahead: nothing.
        assert_eq!(
            decide(&b, &reading(4, 50, 0.3, Some(0.4)), IDLE),
            Change::Keep
        );
    }

    #[test]
    fn only_added_agents_are_removed_after_a_calm_spell_and_never_below_the_minimum() {
        let b = bounds(2, 10);
        let calm = |agents, idle_added, calm_for| Reading {
            agents,
            queued: 0,
            idle_added,
            pressure: 0.0,
            forecast: Some(0.0),
            calm_for,
        };
        assert_eq!(
            decide(&b, &calm(8, 6, Duration::from_secs(30)), IDLE),
            Change::Keep
        );
        assert_eq!(decide(&b, &calm(8, 6, IDLE), IDLE), Change::Remove(3));
        assert_eq!(decide(&b, &calm(3, 3, IDLE), IDLE), Change::Remove(1));
        assert_eq!(decide(&b, &calm(2, 2, IDLE), IDLE), Change::Keep);
        assert_eq!(decide(&b, &calm(8, 0, IDLE), IDLE), Change::Keep);
    }

    #[test]
    fn pressure_is_the_worst_class_share_of_its_target() {
        let load = PoolLoad {
            queued: [3, 1, 0, 0],
            oldest_wait_ms: [5_000, 400, 900, 0],
            ..PoolLoad::default()
        };
        let targets = |p: Priority| match p {
            Priority::Low => 10_000,
            Priority::Normal => 2_000,
            Priority::High => 500,
            Priority::Critical => 100,
        };
        // low: 0.5, normal: 0.2; high has nothing queued, whatever its stale wait says.
        assert!((pressure(&load, targets) - 0.5).abs() < 1e-9);
        assert_eq!(pressure(&PoolLoad::default(), targets), 0.0);
    }

    #[test]
    fn added_agents_are_told_apart_by_name() {
        let role = Role::try_from("worker".to_owned()).unwrap();
        let prefix = added_name(&role);
        assert!(is_added(&prefix, "worker-autoscaled"));
        assert!(is_added(&prefix, "worker-autoscaled-3fa2c1d0"));
        assert!(!is_added(&prefix, "worker-autoscaledx"));
        assert!(!is_added(&prefix, "worker-7"));
    }
}
