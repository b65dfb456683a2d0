//! Building and running the server: open and migrate the store, start the supervision tree, bind
//! the HTTP listener, and shut down in order on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use hive_actors::{ExitReason, ExitSlot, Shutdown, StartedChild, Supervisor};
use tokio::sync::oneshot;
use tracing_actix_web::TracingLogger;

use crate::agents::destinations::HttpDestinations;
use crate::agents::programs::AllowedPrograms;
use crate::api;
use crate::api::middleware::RequestSpan;
use crate::config::Config;
use crate::context::{Hive, HiveInner, Phase};
use crate::managers::handles::Handles;
use crate::managers::orchestrator::Drain;
use crate::managers::root;
use crate::metrics::Metrics;
use crate::store::{Database, Store};

/// How long the HTTP server lets in-flight requests finish once it stops accepting.
const HTTP_SHUTDOWN_S: u64 = 10;

/// The database the configuration names, with pending migrations applied.
pub async fn prepare_store(config: &Config) -> anyhow::Result<Database> {
    let database = Database::resolve(config.database_url.as_deref(), &config.data_dir)?;
    migrate(&database).await?;
    Ok(database)
}

async fn migrate(database: &Database) -> anyhow::Result<()> {
    let ran = database
        .migrate()
        .await
        .with_context(|| format!("applying migrations to {database}"))?;
    if ran > 0 {
        tracing::info!(migrations = ran, %database, "migrations applied");
    }
    Ok(())
}

pub struct Application {
    addr: SocketAddr,
    hive: Hive,
    handles: Arc<Handles>,
    server: actix_web::dev::ServerHandle,
    serving: actix_rt::task::JoinHandle<std::io::Result<()>>,
    root: Addr<Supervisor>,
    root_exit: oneshot::Receiver<ExitReason>,
    arbiters: Vec<actix_rt::Arbiter>,
}

impl Application {
    /// Bind and serve at once (the API answers 503 and `/readyz` says why until the server is
    /// ready), apply migrations, start the supervision tree, and answer once the tree has taken
    /// over what the store holds. Must run inside an actix system.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        crate::allocator::init();
        let config = Arc::new(config);
        let programs = AllowedPrograms::pin(&config.allow_exec)?;
        for risky in programs.runs_anything() {
            tracing::warn!(
                program = %risky.listed.display(),
                resolves_to = %risky.canonical.display(),
                "allow_exec lists a shell, interpreter or env: whoever may create a command agent on it can run anything as this server's user"
            );
        }
        let destinations =
            HttpDestinations::parse(&config.allow_http).map_err(anyhow::Error::msg)?;
        let database = Database::resolve(config.database_url.as_deref(), &config.data_dir)?;
        if matches!(database, Database::Sqlite(_)) {
            crate::store::sqlite_heap::limit(config.sqlite_heap_limit_bytes);
        }
        let store = Store::new(&database);
        let metrics = Arc::new(Metrics::new()?);
        let threads = if config.agent_threads == 0 {
            Config::cores()
        } else {
            config.agent_threads
        };
        let mut arbiters: Vec<_> = (0..threads).map(|_| actix_rt::Arbiter::new()).collect();
        let agent_arbiters = arbiters.iter().map(|a| a.handle()).collect();
        // The monitor's statistics take milliseconds a sample: on a thread of their own they
        // never hold up dispatch on the managers' thread.
        let monitor = actix_rt::Arbiter::new();
        let monitor_arbiter = monitor.handle();
        arbiters.push(monitor);
        let hive = HiveInner::new(
            config.clone(),
            metrics,
            store,
            agent_arbiters,
            monitor_arbiter,
            programs,
            destinations,
        );
        hive.readiness.set(Phase::Migrating);

        let handles = Arc::new(Handles::default());
        let data = web::Data::new(hive.clone());
        let handles_data = web::Data::from(handles.clone());
        let workers = if config.http_workers == 0 {
            Config::cores()
        } else {
            config.http_workers
        };
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(data.clone())
                .app_data(handles_data.clone())
                .configure(api::configure)
        })
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(HTTP_SHUTDOWN_S)
        // Slow clients: headers must arrive within the limit (bodies are timed by the
        // JSON extractor), and a closed connection is let go after a second.
        .client_request_timeout(Duration::from_millis(config.client_timeout_ms))
        .client_disconnect_timeout(Duration::from_secs(1))
        .bind(config.addr)
        .with_context(|| format!("binding {}", config.addr))?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .context("the server bound no address")?;
        if config.cluster.redis_url.is_some() {
            let cluster = join_cluster(&config, addr)?;
            tracing::info!(node = %cluster.node, url = %cluster.url, "one node of a cluster");
            let _ = hive.cluster.set(cluster);
        }
        let server = server.run();
        let handle = server.handle();
        let serving = actix_rt::spawn(server);
        tracing::info!(%addr, "listening on {addr}");

        let started = async {
            migrate(&database).await?;
            refuse_open_non_loopback(&hive).await?;
            if let Some(cluster) = hive.cluster() {
                // Before any task is taken over: a previous run of this node is fenced.
                cluster
                    .claim_lease(&hive.store, &hive.metrics)
                    .await
                    .context("taking this node's lease in the database")?;
                // Submissions go to the streams from the first one if Redis answers now.
                if !cluster.ping().await {
                    tracing::warn!("redis does not answer: starting degraded");
                }
            }
            hive.readiness.set(Phase::Starting);
            let exit = ExitSlot::default();
            let supervisor = root::root(&hive, &handles, database.clone());
            let (root, started) = StartedChild::new(supervisor, config.mailbox.control);
            let (exit_tx, root_exit) = oneshot::channel();
            actix_rt::spawn(async move {
                let _ = exit_tx.send(started.run_unsupervised(exit).await);
            });
            // Traffic waits until the orchestrator and the lifecycle manager have taken over the
            // tasks and agents a previous process stored.
            let mut root_exit = root_exit;
            tokio::select! {
                _ = wait_started(&hive) => {}
                reason = &mut root_exit => {
                    let reason = reason.unwrap_or(ExitReason::Killed);
                    anyhow::bail!("the supervision tree stopped while starting: {reason}");
                }
            }
            anyhow::Ok((root, root_exit))
        };
        let (root, root_exit) = match started.await {
            Ok(started) => started,
            Err(e) => {
                handle.stop(false).await;
                stop_arbiters(arbiters);
                return Err(e);
            }
        };
        hive.readiness.set(Phase::Ready);
        tracing::info!(%addr, %database, "ready on {addr}");
        Ok(Application {
            addr,
            hive,
            handles,
            server: handle,
            serving,
            root,
            root_exit,
            arbiters,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until SIGINT/SIGTERM (or `stop` resolves), then shut down in order. An error means
    /// the supervision tree gave up.
    pub async fn run_until_stopped(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let Application {
            hive,
            handles,
            server: handle,
            serving,
            root,
            mut root_exit,
            arbiters,
            ..
        } = self;
        tokio::select! {
            _ = stop => tracing::info!("shutting down"),
            reason = &mut root_exit => {
                let reason = reason.unwrap_or(ExitReason::Killed);
                tracing::error!(%reason, "the supervision tree stopped; the server cannot continue");
                handle.stop(false).await;
                stop_arbiters(arbiters);
                anyhow::bail!("the supervision tree stopped: {reason}");
            }
        }
        hive.readiness.set(Phase::Draining);
        // Event streams end on this event, so that they do not hold the graceful stop open.
        hive.bus.publish(crate::bus::Event::Draining);
        // 1. Stop accepting; in-flight requests finish.
        handle.stop(true).await;
        let _ = serving.await;
        // 2. Running tasks finish or go back to the queue, committed.
        if let Some(orchestrator) = handles.orchestrator.get() {
            let (reply, done) = oneshot::channel();
            let grace = Duration::from_millis(hive.config.shutdown_grace_ms);
            orchestrator.do_send(Drain { grace, reply });
            let _ = done.await;
        }
        // 3. The tree stops in reverse start order; the store, first started, commits and stops last.
        root.do_send(Shutdown);
        let reason = root_exit.await.unwrap_or(ExitReason::Killed);
        stop_arbiters(arbiters);
        tracing::info!(%reason, "stopped");
        Ok(())
    }
}

/// This node's part of the cluster: its name (default `<hostname>:<port>`, stable across
/// restarts on the same host and port) and the URL other nodes reach it at.
fn join_cluster(config: &Config, addr: SocketAddr) -> anyhow::Result<Arc<crate::cluster::Cluster>> {
    let c = &config.cluster;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hive".into());
    let node = c
        .node_id
        .clone()
        .unwrap_or_else(|| format!("{host}:{}", addr.port()));
    let url = c.advertise_url.clone().unwrap_or_else(|| {
        if addr.ip().is_unspecified() {
            format!("http://{host}:{}", addr.port())
        } else {
            format!("http://{addr}")
        }
    });
    crate::cluster::Cluster::new(c, &node, url).context("configuring the cluster's Redis")
}

/// Without tokens the API is open, which is safe only on loopback: binding anything else then is a
/// mistake the operator hears about at once, not a server open to the network.
async fn refuse_open_non_loopback(hive: &Hive) -> anyhow::Result<()> {
    let addr = hive.config.addr;
    if addr.ip().is_loopback() {
        return Ok(());
    }
    let tokens = hive
        .store
        .tokens()
        .await
        .context("reading the API tokens")?;
    // Once any token exists (even revoked) the API requires one, so it is not open.
    if tokens.is_empty() {
        anyhow::bail!(
            "refusing to serve {addr} without API tokens: anyone who can reach it could run \
             agents. Create one with `hive token create --role admin` (same --data-dir or \
             --database-url), or listen on a loopback address"
        );
    }
    Ok(())
}

fn stop_arbiters(arbiters: Vec<actix_rt::Arbiter>) {
    for arbiter in arbiters {
        arbiter.stop();
    }
}

async fn wait_started(hive: &Hive) {
    let mut recovered = hive.recovered.subscribe();
    let _ = recovered
        .wait_for(|r| r.tasks && r.agents && r.access && r.settings)
        .await;
}

/// Listens for SIGINT and SIGTERM from the moment it is called, and resolves on the first.
///
/// Called before start-up, not when serving begins: until a process listens for a signal, its
/// default action kills the process, so a SIGTERM during start-up (an orchestrator stopping a
/// server that has just reported ready) would end it without the orderly stop.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
