//! The application context: the services every actor and HTTP handler shares (configuration,
//! metrics, the event bus, the store's read pool, the agent registry, mailbox probes) and the
//! snapshots they publish to each other, created once. It holds no actor: the managers layer owns
//! the actors' addresses ([`crate::managers::handles`]) and hands each to what needs it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_rt::ArbiterHandle;
use hive_actors::{MailboxProbe, Probes, Tree};

use crate::agents::registry::AgentRegistry;
use crate::bus::EventBus;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::snapshots::access::AccessPolicy;
use crate::snapshots::audit::AuditBuffer;
use crate::snapshots::monitor::MonitorView;
use crate::snapshots::plugin_board::PluginBoard;
use crate::snapshots::queue_ages::QueueAges;
use crate::snapshots::rate_limits::RateLimits;
use crate::snapshots::sample::Sample;
use crate::snapshots::shedding::ShedState;
use crate::store::models::NewAuditEntry;
use crate::store::Store;

/// The mailbox probe of each actor kind.
pub struct KindProbes {
    pub store: Arc<MailboxProbe>,
    pub orchestrator: Arc<MailboxProbe>,
    pub lifecycle: Arc<MailboxProbe>,
    pub communication: Arc<MailboxProbe>,
    pub configuration: Arc<MailboxProbe>,
    pub agent: Arc<MailboxProbe>,
}

/// Whether the server should take traffic: `/readyz` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The supervision tree starts and takes over what the store holds.
    Starting = 0,
    Ready = 1,
    Draining = 2,
    /// Migrations run: nothing may touch the database yet.
    Migrating = 3,
}

#[derive(Default)]
pub struct Readiness(AtomicU8);

impl Readiness {
    pub fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::Release);
    }

    pub fn get(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            1 => Phase::Ready,
            2 => Phase::Draining,
            3 => Phase::Migrating,
            _ => Phase::Starting,
        }
    }
}

/// Which stored state has been taken over since start.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recovered {
    pub tasks: bool,
    pub agents: bool,
    /// The API tokens have been read: requests can be judged.
    pub access: bool,
    /// The stored live settings have been applied (or found to be none).
    pub settings: bool,
}

pub struct HiveInner {
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub bus: EventBus,
    pub store: Store,
    pub tree: Tree,
    pub probes: Probes,
    pub kinds: KindProbes,
    pub agents: AgentRegistry,
    pub readiness: Readiness,
    pub recovered: tokio::sync::watch::Sender<Recovered>,
    pub started_at: Instant,
    pub sample: arc_swap::ArcSwap<Sample>,
    /// The monitor's forecasts and anomalies after its latest sample.
    pub monitor: arc_swap::ArcSwap<MonitorView>,
    /// The threads agents run on, apart from the managers and the HTTP workers, so that a task
    /// that holds a CPU never stalls dispatch or the API.
    pub agent_arbiters: Vec<ArbiterHandle>,
    /// The PerformanceManager's thread.
    pub monitor_arbiter: ArbiterHandle,
    /// Published by the SecurityManager; read by every request's access check.
    pub access: arc_swap::ArcSwap<AccessPolicy>,
    /// `None` when `rate_limit` is 0; replaced when the setting changes.
    pub rate_limits: arc_swap::ArcSwapOption<RateLimits>,
    /// The settings that change at run time (see `config::settings`): read them here, not in
    /// `config`, which holds what the server started with.
    pub settings: crate::snapshots::settings::LiveSettings,
    /// One pooled HTTP client for every `http` agent.
    pub http: reqwest::Client,
    /// The programs command agents may run, pinned at start.
    pub programs: Arc<crate::agents::programs::AllowedPrograms>,
    /// Where `http` agents may send requests.
    pub destinations: Arc<crate::agents::destinations::HttpDestinations>,
    /// The `http` agents' own client: it connects only to addresses `destinations` allows and
    /// follows no redirect.
    pub agent_http: reqwest::Client,
    /// Audit entries waiting for the SecurityManager to hand them to the store.
    pub audit: AuditBuffer<NewAuditEntry>,
    /// The running plugins, told of every monitor sample.
    pub plugins: PluginBoard,
    /// The wait of each class's oldest queued task, published by the orchestrator.
    pub queue_ages: QueueAges,
    /// Published by the shedding plugin; read by every task submission.
    pub shedding: arc_swap::ArcSwap<ShedState>,
    /// This node's part of a cluster, set once the listener is bound (its port names the node).
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

pub type Hive = Arc<HiveInner>;

impl HiveInner {
    pub fn new(
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        store: Store,
        agent_arbiters: Vec<ArbiterHandle>,
        monitor_arbiter: ArbiterHandle,
        programs: crate::agents::programs::AllowedPrograms,
        destinations: crate::agents::destinations::HttpDestinations,
    ) -> Hive {
        let destinations = Arc::new(destinations);
        let probes = Probes::default();
        let m = &config.mailbox;
        let kinds = KindProbes {
            store: probes.register("store", m.store),
            orchestrator: probes.register("orchestrator", m.orchestrator),
            lifecycle: probes.register("lifecycle", m.lifecycle),
            communication: probes.register("communication", m.communication),
            configuration: probes.register("configuration", m.control),
            agent: probes.register("agent", m.agent),
        };
        Arc::new(HiveInner {
            metrics,
            bus: EventBus::default(),
            store,
            tree: Tree::default(),
            probes,
            kinds,
            agents: AgentRegistry::default(),
            readiness: Readiness::default(),
            recovered: tokio::sync::watch::Sender::new(Recovered::default()),
            started_at: Instant::now(),
            sample: arc_swap::ArcSwap::from_pointee(Sample::default()),
            monitor: arc_swap::ArcSwap::from_pointee(Default::default()),
            agent_arbiters,
            monitor_arbiter,
            access: arc_swap::ArcSwap::from_pointee(AccessPolicy::default()),
            rate_limits: arc_swap::ArcSwapOption::new(
                RateLimits::new(config.rate_limit).map(Arc::new),
            ),
            settings: crate::snapshots::settings::LiveSettings::new(
                crate::config::settings::Settings::from_config(
                    &config,
                    &crate::config::log_level::initial(),
                ),
            ),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_millis(config.http_timeout_ms))
                .build()
                .unwrap_or_default(),
            programs: Arc::new(programs),
            agent_http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_millis(config.http_timeout_ms))
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(crate::agents::destinations::GuardedResolver(
                    destinations.clone(),
                )))
                .build()
                .unwrap_or_default(),
            destinations,
            audit: Default::default(),
            plugins: Default::default(),
            shedding: Default::default(),
            queue_ages: Default::default(),
            cluster: Default::default(),
            config,
        })
    }

    /// This node's part of a cluster, if it is one node of several.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.cluster.get()
    }

    /// This node's name, if it is one node of several.
    pub fn node_id(&self) -> Option<&str> {
        self.cluster().map(|c| &*c.node)
    }

    /// The arbiter an agent runs on, by a hash of its id so that restarts stay on one thread.
    pub fn arbiter_for(&self, id: &str) -> Option<&ArbiterHandle> {
        if self.agent_arbiters.is_empty() {
            return None;
        }
        let hash = id
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        self.agent_arbiters.get(hash % self.agent_arbiters.len())
    }
}
