//! Health, readiness, metrics, status and the supervision tree.

use actix_web::{web, HttpResponse};
use hive_actors::{ProbeReading, SupervisorSnapshot};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::ApiError;
use super::views::{SupervisorEventPage, SupervisorEventView};
use crate::context::{Hive, Phase};
use crate::managers::handles::Handles;

/// The process is alive.
#[utoipa::path(get, path = "/livez", tag = "system", responses((status = 200)))]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (serving, with less: see `degraded`) or `unavailable`.
    pub status: &'static str,
    /// The checks that fail, empty when ready.
    pub failing: Vec<String>,
    /// What works with less than usual: `redis` when a cluster node cannot reach Redis (tasks
    /// then run on the node they were submitted to, and other nodes' events do not arrive).
    pub degraded: Vec<String>,
}

fn readiness(hive: &Hive, handles: &Handles) -> Readiness {
    let mut failing = Vec::new();
    let phase = hive.readiness.get();
    match phase {
        Phase::Migrating => failing.push("migrating".to_owned()),
        Phase::Starting => failing.push("starting".to_owned()),
        Phase::Draining => failing.push("draining".to_owned()),
        Phase::Ready => {}
    }
    if handles.store.get().is_none_or(|a| !a.connected()) {
        failing.push("store".to_owned());
    } else if phase == Phase::Ready && hive.metrics.store_up.get() == 0 {
        failing.push("database".to_owned());
    }
    if hive.metrics.store_full.get() == 1 {
        failing.push("storage".to_owned());
    }
    if handles.orchestrator.get().is_none_or(|a| !a.connected()) {
        failing.push("orchestrator".to_owned());
    }
    let mut degraded = Vec::new();
    if hive.cluster().is_some_and(|c| !c.is_up()) {
        degraded.push("redis".to_owned());
    }
    Readiness {
        status: if !failing.is_empty() {
            "unavailable"
        } else if !degraded.is_empty() {
            "degraded"
        } else {
            "ready"
        },
        failing,
        degraded,
    }
}

/// Ready to take traffic: 503 with the failing checks while starting or draining.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(hive: web::Data<Hive>, handles: web::Data<Handles>) -> HttpResponse {
    let r = readiness(&hive, &handles);
    if r.failing.is_empty() {
        HttpResponse::Ok().json(r)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(r)
    }
}

/// Readiness with the version and uptime, for people.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn health(hive: web::Data<Hive>, handles: web::Data<Handles>) -> HttpResponse {
    let r = readiness(&hive, &handles);
    let body = serde_json::json!({
        "status": r.status, "failing": r.failing, "degraded": r.degraded, "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": hive.started_at.elapsed().as_secs(),
    });
    if r.failing.is_empty() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics, text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(hive: web::Data<Hive>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(hive.metrics.render())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemStatus {
    pub version: &'static str,
    pub uptime_s: u64,
    /// Agents by status.
    #[schema(value_type = Object)]
    pub agents: serde_json::Map<String, serde_json::Value>,
    /// Tasks by status.
    #[schema(value_type = Object)]
    pub tasks: serde_json::Map<String, serde_json::Value>,
    /// Tasks waiting for an agent, by priority class.
    #[schema(value_type = Object)]
    pub queue: serde_json::Map<String, serde_json::Value>,
    pub memory: Memory,
    #[schema(value_type = Vec<Object>)]
    pub mailboxes: Vec<ProbeReading>,
    /// Time per message by actor kind since the start, in milliseconds (`{"p50","p99"}`).
    #[schema(value_type = Object)]
    pub processing_ms: serde_json::Map<String, serde_json::Value>,
    /// Which submissions the shedding plugin turns away now, and why.
    pub shedding: crate::snapshots::shedding::ShedState,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Memory {
    pub rss_bytes: u64,
    pub allocator: crate::allocator::AllocatorStats,
    /// SQLite's page caches and statements, allocated outside jemalloc (0 on PostgreSQL).
    pub sqlite_heap_bytes: u64,
}

/// Agents and tasks by status, memory, uptime and mailboxes.
#[utoipa::path(get, path = "/api/v1/system/status", tag = "system", responses((status = 200, body = SystemStatus)))]
pub async fn status(hive: web::Data<Hive>) -> Result<HttpResponse, ApiError> {
    let mut agents = serde_json::Map::new();
    for (status, count) in hive.agents.counts() {
        agents.insert(status.as_str().to_owned(), count.into());
    }
    let mut tasks = serde_json::Map::new();
    for status in crate::domain::task::TaskStatus::ALL {
        tasks.insert(status.as_str().to_owned(), 0.into());
    }
    for (status, count) in hive.store.task_counts().await? {
        tasks.insert(status, count.into());
    }
    let mut queue = serde_json::Map::new();
    for priority in crate::domain::task::Priority::BY_URGENCY {
        let depth = hive.metrics.queue_depth(priority);
        queue.insert(priority.as_str().to_owned(), depth.into());
    }
    // The monitor's latest sample (at most one interval old): no /proc read per request.
    let sample = hive.sample.load();
    let readings = hive.probes.readings();
    let mut processing_ms = serde_json::Map::new();
    for r in &readings {
        let h = hive.metrics.actor_processing.with_label_values(&[r.kind]);
        let ms = |q| crate::metrics::quantile(&h, q).map(|s| s * 1000.0);
        processing_ms.insert(
            r.kind.to_owned(),
            serde_json::json!({ "p50": ms(0.5), "p99": ms(0.99) }),
        );
    }
    Ok(HttpResponse::Ok().json(SystemStatus {
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: hive.started_at.elapsed().as_secs(),
        agents,
        tasks,
        queue,
        memory: Memory {
            rss_bytes: sample.resident_memory_bytes,
            allocator: sample.allocator,
            sqlite_heap_bytes: sample.sqlite_heap_bytes,
        },
        mailboxes: readings,
        processing_ms,
        shedding: (**hive.shedding.load()).clone(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SupervisionQuery {
    /// Children listed per supervisor (the rest are counted); 100 by default, at most 10,000.
    #[param(maximum = 10000)]
    pub children: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupervisionTree {
    #[schema(value_type = Vec<Object>)]
    pub supervisors: Vec<SupervisorSnapshot>,
}

/// The live supervision tree: every supervisor with its strategy, intensity, restarts, recent exit
/// reasons and children.
#[utoipa::path(get, path = "/api/v1/supervision", tag = "system", params(SupervisionQuery),
    responses((status = 200, body = SupervisionTree)))]
pub async fn supervision(
    hive: web::Data<Hive>,
    query: super::query::Query<SupervisionQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.0.children.unwrap_or(100);
    if limit > 10_000 {
        return Err(ApiError::invalid(
            "children",
            "children must be at most 10000",
        ));
    }
    Ok(HttpResponse::Ok().json(SupervisionTree {
        supervisors: hive.tree.snapshot(limit).await,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SupervisionEventsQuery {
    /// Only this supervisor's decisions (`root`, `lifecycle`, `pool:<role>`).
    pub supervisor: Option<String>,
    pub limit: Option<super::base::Limit>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
}

/// The history of supervision decisions (exits, restarts, give-ups), oldest first, kept in the
/// store across restarts of the server.
#[utoipa::path(get, path = "/api/v1/supervision/events", tag = "system", params(SupervisionEventsQuery),
    responses((status = 200, body = SupervisorEventPage), (status = 422, body = super::problem::Problem)))]
pub async fn supervision_events(
    hive: web::Data<Hive>,
    query: super::query::Query<SupervisionEventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let limit = q.limit.unwrap_or_default().0;
    let rows = hive
        .store
        .supervisor_events(q.supervisor.as_deref(), q.cursor, limit as i64 + 1)
        .await?;
    let (rows, next_cursor) = super::base::paginate(rows, limit, |e| e.id.to_string());
    Ok(HttpResponse::Ok().json(SupervisorEventPage {
        items: rows.into_iter().map(SupervisorEventView::from).collect(),
        next_cursor,
    }))
}
