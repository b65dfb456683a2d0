//! The shape of the supervision tree: the root supervisor and its children in start order.
//! Shutdown runs in reverse, so the store, started first, stops last and commits what the others
//! left it.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use hive_actors::{
    ChildContext, ChildSpec, Intensity, ShutdownPolicy, StartedChild, Supervisor, SupervisorSpec,
};

use super::communication::CommunicationManager;
use super::configuration::ConfigurationManager;
use super::handles::Handles;
use super::lifecycle::LifecycleManager;
use super::lifecycle::Peers;
use super::orchestrator::Orchestrator;
use super::performance::PerformanceManager;
use super::security::SecurityManager;
use super::slot::Slot;
use super::supervision::supervision_sink;
use super::to_orchestrator::ToOrchestrator;
use crate::cluster::feeder::ClusterFeeder;
use crate::context::Hive;
use crate::store::manager::StoreManager;
use crate::store::retention::Retention;
use crate::store::Database;

/// Time the store gets to commit what is queued when the tree shuts down.
const STORE_SHUTDOWN: Duration = Duration::from_secs(30);

/// A child that runs one actor on the supervisor's thread and publishes its address.
fn local<A>(
    id: &str,
    capacity: usize,
    slot: impl Fn(&Handles) -> &Slot<A> + Send + Sync + 'static,
    (hive, handles): (&Hive, &Arc<Handles>),
    make: impl Fn(&Hive, &Arc<Handles>, &ChildContext) -> A + Send + Sync + 'static,
) -> ChildSpec
where
    A: Actor<Context = Context<A>> + actix::Handler<hive_actors::Shutdown>,
{
    let (hive, handles) = (hive.clone(), handles.clone());
    ChildSpec::new(id, move |ctx: ChildContext| {
        let (addr, started) = StartedChild::new(make(&hive, &handles, &ctx), capacity);
        slot(&handles).set(addr);
        started
    })
}

pub fn root(hive: &Hive, handles: &Arc<Handles>, database: Database) -> Supervisor {
    let m = hive.config.mailbox.clone();
    let sink = supervision_sink(hive, &handles.store);
    let both = (hive, handles);
    let tree = hive.tree.clone();

    let store = {
        let (hive, handles) = (hive.clone(), handles.clone());
        ChildSpec::new("store", move |ctx: ChildContext| {
            let actor = StoreManager::new(
                database.clone(),
                ctx.exit,
                hive.kinds.store.clone(),
                hive.metrics.clone(),
                hive.bus.clone(),
                {
                    let settings = hive.settings.load();
                    Retention::new(settings.retention_ms, settings.audit_retention_ms)
                },
            )
            .releasing_to(ToOrchestrator::new(
                hive.clone(),
                handles.orchestrator.clone(),
            ));
            let (addr, started) = StartedChild::new(actor, m.store);
            handles.store.set(addr);
            started
        })
        .shutdown(ShutdownPolicy::Timeout(STORE_SHUTDOWN))
    };
    let configuration = local(
        "configuration",
        m.control,
        |h| &h.configuration,
        both,
        |hive, handles, _| ConfigurationManager::new(hive.clone(), handles.store.clone()),
    );
    let security = local(
        "security",
        m.control,
        |h| &h.security,
        both,
        |hive, handles, ctx| {
            SecurityManager::new(hive.clone(), handles.store.clone(), ctx.exit.clone())
        },
    );
    let communication = local(
        "communication",
        m.communication,
        |h| &h.communication,
        both,
        |hive, handles, _| {
            CommunicationManager::new(
                hive.clone(),
                handles.orchestrator.clone(),
                handles.store.clone(),
            )
        },
    );
    let orchestrator = local(
        "orchestrator",
        m.orchestrator,
        |h| &h.orchestrator,
        both,
        |hive, handles, _| Orchestrator::new(hive.clone(), handles.store.clone()),
    );
    let lifecycle = {
        let manager = local(
            "agents",
            m.lifecycle,
            |h| &h.lifecycle,
            both,
            |hive, handles, _| {
                let peers = Peers {
                    store: handles.store.clone(),
                    orchestrator: handles.orchestrator.clone(),
                    lifecycle_supervisor: handles.lifecycle_supervisor.clone(),
                };
                LifecycleManager::new(hive.clone(), Arc::new(peers))
            },
        );
        let spec = SupervisorSpec::new("lifecycle", tree.clone(), sink.clone())
            .parent("root")
            .intensity(Intensity {
                max_restarts: hive.config.lifecycle_max_restarts,
                period: Duration::from_millis(hive.config.lifecycle_restart_period_ms),
            });
        let h = handles.clone();
        Supervisor::child_spec(
            spec,
            move || vec![manager.clone()],
            m.control,
            move |addr| h.lifecycle_supervisor.set(addr),
        )
    };
    let performance = {
        let (hive, handles) = (hive.clone(), handles.clone());
        ChildSpec::new("performance", move |ctx: ChildContext| {
            let h = hive.clone();
            let (addr, started) =
                StartedChild::on_arbiter(&hive.monitor_arbiter, m.control, &ctx.exit, move || {
                    PerformanceManager::new(h)
                });
            handles.performance.set(addr);
            started
        })
    };
    let plugins = Supervisor::child_spec(
        SupervisorSpec::new("plugins", tree.clone(), sink.clone()).parent("root"),
        {
            let (hive, handles) = (hive.clone(), handles.clone());
            move || crate::plugins::specs(&hive, &handles)
        },
        m.control,
        |_| {},
    );

    // A manager that keeps crashing means the server cannot work: past the root's intensity,
    // stopping with a clear error beats limping.
    let spec = SupervisorSpec::new("root", tree, sink).intensity(Intensity {
        max_restarts: hive.config.root_max_restarts,
        period: Duration::from_millis(hive.config.root_restart_period_ms),
    });
    let mut children = vec![
        store,
        configuration,
        security,
        communication,
        orchestrator,
        lifecycle,
    ];
    // One node of several: reads the task streams, heartbeats, relays events.
    if let Some(cluster) = hive.cluster() {
        let (hive, cluster) = (hive.clone(), cluster.clone());
        let holder = ToOrchestrator::new(hive.clone(), handles.orchestrator.clone());
        children.push(ChildSpec::new("cluster", move |_: ChildContext| {
            let feeder = ClusterFeeder::new(hive.clone(), cluster.clone(), holder.clone());
            StartedChild::new(feeder, m.control).1
        }));
    }
    children.extend([performance, plugins]);
    Supervisor::new(spec, children, hive_actors::ExitSlot::default())
}
