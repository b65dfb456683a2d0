//! The HTTP API on actix-web: one module per resource, problem+json errors everywhere (extractor
//! errors, unknown routes and wrong methods included), request metrics by route pattern.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod dashboard;
pub mod events;
pub mod json;
pub mod monitor;
pub mod openapi;
pub mod problem;
pub mod query;
pub mod rate_limit;
pub mod sla;
pub mod system;
pub mod tasks;
pub mod tokens;
pub mod views;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest};
use serde::Deserialize;

use crate::context::{Hive, Phase, Slot};
use crate::domain::access::AccessRole;
use problem::ApiError;

/// Ask an actor on a client path: the request goes through the kind's probe, so a full mailbox is
/// a counted refusal (503 with Retry-After), and the answer comes back on a oneshot channel. How
/// long the client waits for it is bounded for every API request alike (`within_bound`).
pub(crate) async fn ask<A, M, R>(
    slot: &Slot<A>,
    probe: &hive_actors::MailboxProbe,
    what: &'static str,
    request: impl FnOnce(tokio::sync::oneshot::Sender<R>) -> M,
) -> Result<R, ApiError>
where
    A: actix::Actor + actix::Handler<M>,
    A::Context: actix::dev::ToEnvelope<A, M>,
    M: actix::Message + Send + 'static,
    M::Result: Send,
{
    let restarting = || ApiError::Unavailable(format!("the {what} is restarting"));
    let addr = slot.get().ok_or_else(restarting)?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    probe
        .try_send(&addr, request(reply))
        .map_err(|refused| match refused {
            hive_actors::Refused::Full { .. } => ApiError::Busy(what),
            hive_actors::Refused::Closed { .. } => restarting(),
        })?;
    answer
        .await
        .map_err(|_| ApiError::Unavailable(format!("the {what} stopped")))
}

pub const API: &str = "/api/v1";

/// Page size of list endpoints: 1 to 1,000, 100 by default.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "usize")]
pub struct Limit(pub usize);

// Written by hand: the derive cannot put bounds on a newtype, and clients (and fuzzers) should
// see the 1–1,000 range.
impl utoipa::PartialSchema for Limit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(1000))
            .default(Some(100.into()))
            .into()
    }
}

impl utoipa::ToSchema for Limit {}

impl TryFrom<usize> for Limit {
    type Error = String;

    fn try_from(v: usize) -> Result<Self, String> {
        if (1..=1000).contains(&v) {
            Ok(Self(v))
        } else {
            Err("limit must be between 1 and 1000".into())
        }
    }
}

/// Rows come fetched with `limit + 1`: the extra one only says that there is a next page, whose
/// cursor is the id of this page's last row.
pub(crate) fn paginate<T>(
    mut rows: Vec<T>,
    limit: usize,
    id: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(id) } else { None };
    (rows, next_cursor)
}

impl Default for Limit {
    fn default() -> Self {
        Self(100)
    }
}

/// Count and time every request by its route pattern (never its concrete path, so ids stay out
/// of the labels).
async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let hive = req.app_data::<web::Data<Hive>>().cloned();
    let method = req.method().as_str().to_owned();
    let response = next.call(req).await?;
    if let Some(hive) = hive {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = response.status().as_u16().to_string();
        hive.metrics
            .http_requests
            .with_label_values(&[&method, &route, &status])
            .inc();
        hive.metrics
            .http_duration
            .with_label_values(&[&method, &route])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// Until the server has migrated its database and taken over what it stored, the API answers 503
/// with Retry-After; `/livez`, `/readyz` and `/metrics` answer throughout.
async fn until_ready(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let phase = req
        .app_data::<web::Data<Hive>>()
        .map(|hive| hive.readiness.get());
    match phase.and_then(not_ready) {
        Some(refusal) => Err(refusal.into()),
        None => next.call(req).await,
    }
}

/// Every API request is answered within `answer_timeout_ms`: a read that waits on a database
/// that stalled (a blackholed connection never refuses) is answered 503 with Retry-After rather
/// than holding its client. A streamed answer (the event stream) is bounded only until its
/// head is sent.
async fn within_bound(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(hive) = req.app_data::<web::Data<Hive>>().cloned() else {
        return next.call(req).await;
    };
    let bound = std::time::Duration::from_millis(hive.config.answer_timeout_ms);
    match tokio::time::timeout(bound, next.call(req)).await {
        Ok(answered) => answered,
        Err(_) => {
            hive.metrics.answers_timed_out.inc();
            Err(ApiError::Unavailable(format!(
                "no answer within {} ms (the database may be slow or unreachable, or its disk full); retry, with the same idempotency key for a task",
                bound.as_millis()
            ))
            .into())
        }
    }
}

/// The answer to a request that came before the server was ready, if it did.
pub(crate) fn not_ready(phase: Phase) -> Option<ApiError> {
    match phase {
        Phase::Migrating => Some(ApiError::Unavailable(
            "the server is applying database migrations".into(),
        )),
        Phase::Starting => Some(ApiError::Unavailable("the server is starting".into())),
        Phase::Ready | Phase::Draining => None,
    }
}

fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::invalid("path", err.to_string()).into()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    use auth::Needs;
    use AccessRole::{Admin, Operator, Viewer};
    let viewer = Needs::Role(Viewer);
    cfg.app_data(web::PathConfig::default().error_handler(path_error))
        .service(
            web::scope("")
                .wrap(from_fn(auth::gate))
                .wrap(from_fn(audit::record_mutations))
                .wrap(from_fn(record))
                .service(get_only("/livez", None, system::livez))
                .service(get_only("/readyz", None, system::readyz))
                .service(get_only("/health", None, system::health))
                .service(get_only("/metrics", Some(Needs::Metrics), system::metrics))
                // The dashboard's page and assets hold no data: what it shows, it reads with the
                // token its viewer gives it.
                .service(get_only("/dashboard", None, dashboard::page))
                .service(get_only("/dashboard/{asset}", None, dashboard::asset))
                .service(
                    web::scope(API)
                        .wrap(from_fn(until_ready))
                        .wrap(from_fn(within_bound))
                        .service(get_only(
                            "/openapi.json",
                            Some(viewer),
                            openapi::openapi_json,
                        ))
                        .service(get_only("/system/status", Some(viewer), system::status))
                        .service(get_only("/supervision", Some(viewer), system::supervision))
                        .service(get_only(
                            "/supervision/events",
                            Some(viewer),
                            system::supervision_events,
                        ))
                        .service(get_only("/sla", Some(viewer), sla::sla))
                        .service(get_only("/cluster", Some(viewer), cluster::cluster))
                        .service(get_only(
                            "/monitor/forecasts",
                            Some(viewer),
                            monitor::forecasts,
                        ))
                        .service(get_only(
                            "/monitor/anomalies",
                            Some(viewer),
                            monitor::anomalies,
                        ))
                        .service(get_only("/events", Some(viewer), events::events))
                        .service(
                            web::resource("/agents")
                                .route(allow(Admin, web::post().to(agents::create_agent)))
                                .route(allow(Viewer, web::get().to(agents::list_agents)))
                                .default_service(web::to(|| not_allowed("POST, GET"))),
                        )
                        .service(
                            web::resource("/agents/batch")
                                .route(allow(Admin, web::post().to(agents::create_batch)))
                                .default_service(web::to(batch_other_methods)),
                        )
                        .service(
                            web::resource("/agents/{id}")
                                .route(allow(Viewer, web::get().to(agents::get_agent)))
                                .route(allow(Admin, web::delete().to(agents::delete_agent)))
                                .default_service(web::to(|| not_allowed("GET, DELETE"))),
                        )
                        .service(
                            web::resource("/agents/{id}/restart")
                                .route(allow(Operator, web::post().to(agents::restart_agent)))
                                .default_service(web::to(|| not_allowed("POST"))),
                        )
                        .service(
                            web::resource("/tasks")
                                .route(allow(Operator, web::post().to(tasks::submit)))
                                .route(allow(Viewer, web::get().to(tasks::list_tasks)))
                                .default_service(web::to(|| not_allowed("POST, GET"))),
                        )
                        .service(
                            web::resource("/tasks/{id}")
                                .route(allow(Viewer, web::get().to(tasks::get_task)))
                                .default_service(web::to(|| not_allowed("GET"))),
                        )
                        .service(
                            web::resource("/tasks/{id}/events")
                                .route(allow(Viewer, web::get().to(tasks::task_events)))
                                .default_service(web::to(|| not_allowed("GET"))),
                        )
                        .service(
                            web::resource("/tasks/{id}/cancel")
                                .route(allow(Operator, web::post().to(tasks::cancel)))
                                .default_service(web::to(|| not_allowed("POST"))),
                        )
                        .service(
                            web::resource("/tokens")
                                .route(allow(Admin, web::post().to(tokens::create)))
                                .route(allow(Admin, web::get().to(tokens::list)))
                                .default_service(web::to(|| not_allowed("POST, GET"))),
                        )
                        .service(
                            web::resource("/tokens/{id}")
                                .route(allow(Admin, web::delete().to(tokens::revoke)))
                                .default_service(web::to(|| not_allowed("DELETE"))),
                        )
                        .service(get_only("/audit", Some(Needs::Role(Admin)), audit::list))
                        .default_service(web::to(no_route)),
                )
                .default_service(web::to(no_route)),
        );
}

/// A route that only callers with `role` (or more) may use; the check runs once the router has
/// chosen this route, whatever spelling of the path led to it.
fn allow(role: AccessRole, route: actix_web::Route) -> actix_web::Route {
    route.wrap(auth::require(auth::Needs::Role(role)))
}

/// A resource that answers GET to callers `needs` admits (anyone for `None`), and 405 to any
/// other method (not the 404 of an unknown path).
fn get_only<F, Args>(path: &str, needs: Option<auth::Needs>, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let route = web::get().to(handler);
    let route = match needs {
        Some(needs) => route.wrap(auth::require(needs)),
        None => route,
    };
    web::resource(path)
        .route(route)
        .default_service(web::to(|| not_allowed("GET")))
}

/// `/agents/batch` shadows `/agents/{id}` for the id `batch`: the methods an agent answers get
/// an agent's answer (there is no agent of that id), the others 405.
async fn batch_other_methods(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let method = req.method();
    if method == actix_web::http::Method::GET || method == actix_web::http::Method::DELETE {
        return Err(ApiError::NotFound {
            what: "agent",
            id: "batch".into(),
        });
    }
    not_allowed("POST").await
}

/// 405 with the methods the resource does answer, as RFC 9110 asks.
async fn not_allowed(allow: &'static str) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed { allow })
}

async fn no_route() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NoRoute)
}
