//! The HTTP API on actix-web: one module per resource, problem+json errors everywhere (extractor
//! errors, unknown routes and wrong methods included), request metrics by route pattern.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod events;
pub mod json;
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
use utoipa::ToSchema;

use crate::context::{Hive, Phase, Slot};
use problem::ApiError;

/// Ask an actor on a client path: the request goes through the kind's probe, so a full mailbox is
/// a counted refusal (503 with Retry-After), and the answer comes back on a oneshot channel.
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
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(try_from = "usize")]
pub struct Limit(pub usize);

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
    cfg.app_data(web::PathConfig::default().error_handler(path_error))
        .service(
            web::scope("")
                .wrap(from_fn(auth::gate))
                .wrap(from_fn(audit::record_mutations))
                .wrap(from_fn(record))
                .route("/livez", web::get().to(system::livez))
                .route("/readyz", web::get().to(system::readyz))
                .route("/health", web::get().to(system::health))
                .route("/metrics", web::get().to(system::metrics))
                .service(
                    web::scope(API)
                        .wrap(from_fn(until_ready))
                        .route("/openapi.json", web::get().to(openapi::openapi_json))
                        .route("/system/status", web::get().to(system::status))
                        .route("/supervision", web::get().to(system::supervision))
                        .route(
                            "/supervision/events",
                            web::get().to(system::supervision_events),
                        )
                        .route("/sla", web::get().to(sla::sla))
                        .route("/events", web::get().to(events::events))
                        .service(
                            web::resource("/agents")
                                .route(web::post().to(agents::create_agent))
                                .route(web::get().to(agents::list_agents))
                                .default_service(web::to(method_not_allowed)),
                        )
                        .service(
                            web::resource("/agents/batch")
                                .route(web::post().to(agents::create_batch))
                                .default_service(web::to(method_not_allowed)),
                        )
                        .service(
                            web::resource("/agents/{id}")
                                .route(web::get().to(agents::get_agent))
                                .route(web::delete().to(agents::delete_agent))
                                .default_service(web::to(method_not_allowed)),
                        )
                        .service(
                            web::resource("/tasks")
                                .route(web::post().to(tasks::submit))
                                .route(web::get().to(tasks::list_tasks))
                                .default_service(web::to(method_not_allowed)),
                        )
                        .service(
                            web::resource("/tasks/{id}")
                                .route(web::get().to(tasks::get_task))
                                .default_service(web::to(method_not_allowed)),
                        )
                        .service(
                            web::resource("/tasks/{id}/events")
                                .route(web::get().to(tasks::task_events))
                                .default_service(web::to(method_not_allowed)),
                        )
                        .service(
                            web::resource("/tasks/{id}/cancel")
                                .route(web::post().to(tasks::cancel))
                                .default_service(web::to(method_not_allowed)),
                        )
                        .service(
                            web::resource("/tokens")
                                .route(web::post().to(tokens::create))
                                .route(web::get().to(tokens::list))
                                .default_service(web::to(method_not_allowed)),
                        )
                        .service(
                            web::resource("/tokens/{id}")
                                .route(web::delete().to(tokens::revoke))
                                .default_service(web::to(method_not_allowed)),
                        )
                        .route("/audit", web::get().to(audit::list))
                        .default_service(web::to(no_route)),
                )
                .default_service(web::to(no_route)),
        );
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

async fn no_route() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NoRoute)
}
