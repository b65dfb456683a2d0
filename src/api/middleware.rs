//! The middleware around routes: a span per request, request metrics by route pattern, 503 until
//! the server is ready, and a bound on how long any API request waits for its answer.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

use super::problem::ApiError;
use crate::context::{Hive, Phase};

/// Count and time every request by its route pattern (never its concrete path, so ids stay out
/// of the labels).
pub(crate) async fn record(
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
pub(crate) async fn until_ready(
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
pub(crate) async fn within_bound(
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

/// Every request's span: `tracing-actix-web`'s (a request id, the method, the route pattern, the
/// client, the status once answered), with room for the id of the task a submission created, so
/// that the request is found by the task's id too.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing_actix_web::root_span!(request, task_id = tracing::field::Empty)
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
