//! The access check every request passes: who is calling (a bearer token, or nobody when the API
//! runs without tokens for loopback clients only), the caller's rate limit, and whether the
//! caller's role may use the route.
//!
//! | route | needs |
//! | --- | --- |
//! | `/livez`, `/readyz`, `/health` | nothing |
//! | `/metrics` | viewer, or nothing with `metrics_open` |
//! | `GET /api/v1/tokens`, `GET /api/v1/audit` | admin |
//! | any other `GET` (the dashboard and the event stream too) | viewer |
//! | `POST /api/v1/tasks`, `POST /api/v1/tasks/{id}/cancel` | operator |
//! | everything else (agents, tokens) | admin |

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

use super::problem::ApiError;
use super::rate_limit::LimitKey;
use crate::context::Hive;
use crate::domain::access::AccessRole;
use crate::managers::security::{Caller, Denied};

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    Role(AccessRole),
}

pub fn needs(method: &Method, path: &str, metrics_open: bool) -> Needs {
    let path = path.trim_end_matches('/');
    match path {
        // The dashboard's page and assets hold no data: what it shows, it reads with the token
        // its viewer gives it.
        "/livez" | "/readyz" | "/health" | "/dashboard" => return Needs::Nothing,
        _ if path.starts_with("/dashboard/") && method == Method::GET => return Needs::Nothing,
        "/metrics" if metrics_open => return Needs::Nothing,
        "/metrics" => return Needs::Role(AccessRole::Viewer),
        _ => {}
    }
    let admin_reads = ["/api/v1/tokens", "/api/v1/audit"];
    if method == Method::GET || method == Method::HEAD {
        if admin_reads.iter().any(|p| path.starts_with(p)) {
            return Needs::Role(AccessRole::Admin);
        }
        return Needs::Role(AccessRole::Viewer);
    }
    let is_cancel = path
        .strip_prefix("/api/v1/tasks/")
        .is_some_and(|rest| rest.ends_with("/cancel") && rest.matches('/').count() == 1);
    let is_restart = path
        .strip_prefix("/api/v1/agents/")
        .is_some_and(|rest| rest.ends_with("/restart") && rest.matches('/').count() == 1);
    if method == Method::POST && (path == "/api/v1/tasks" || is_cancel || is_restart) {
        return Needs::Role(AccessRole::Operator);
    }
    Needs::Role(AccessRole::Admin)
}

/// Identify, limit, authorise; the caller goes into the request's extensions for the handlers
/// and the audit log.
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(hive) = req.app_data::<web::Data<Hive>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let peer = req.peer_addr().map(|a| a.ip());
    let policy = hive.access.load();
    let needs = needs(req.method(), req.path(), policy.metrics_open);
    let caller = match needs {
        Needs::Nothing => None,
        Needs::Role(_) if !policy.loaded => {
            let refusal = super::not_ready(hive.readiness.get())
                .unwrap_or_else(|| ApiError::Unavailable("the server is starting".into()));
            return Ok(refuse(req, refusal));
        }
        Needs::Role(_) => {
            let authorization = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            Some(policy.caller(authorization, peer))
        }
    };
    if let Some(limits) = &hive.rate_limits {
        let key = match &caller {
            Some(Ok(Caller::Token { id, .. })) => Some(LimitKey::Token(id.clone())),
            _ => peer.map(LimitKey::Address),
        };
        if let Some(Err(wait)) = key.map(|k| limits.check(&k)) {
            hive.metrics.rate_limited.inc();
            let retry_after_s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Ok(refuse(req, ApiError::TooManyRequests { retry_after_s }));
        }
    }
    let caller = match (needs, caller) {
        (Needs::Role(needed), Some(Ok(caller))) if caller.role() < needed => {
            let held = caller.role();
            req.extensions_mut().insert(caller);
            return Ok(refuse(
                req,
                ApiError::Forbidden(format!(
                    "this needs the {needed} role; the token has {held}"
                )),
            ));
        }
        (_, Some(Ok(caller))) => Some(caller),
        (_, Some(Err(Denied::Unauthenticated(why)))) => {
            return Ok(refuse(req, ApiError::Unauthorized(why)));
        }
        (_, Some(Err(Denied::NotLoopback))) => {
            return Ok(refuse(
                req,
                ApiError::Forbidden(
                    "no API tokens exist, so only loopback clients are served".into(),
                ),
            ));
        }
        (_, Some(Err(Denied::Forbidden { needed, held }))) => {
            return Ok(refuse(
                req,
                ApiError::Forbidden(format!(
                    "this needs the {needed} role; the token has {held}"
                )),
            ));
        }
        (_, None) => None,
    };
    if let Some(caller) = caller {
        req.extensions_mut().insert(caller);
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn refuse<B>(req: ServiceRequest, error: ApiError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(error.error_response())
        .map_into_right_body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_roles_the_table_says() {
        let cases = [
            (Method::GET, "/livez", Needs::Nothing),
            (Method::GET, "/readyz", Needs::Nothing),
            (Method::GET, "/metrics", Needs::Role(AccessRole::Viewer)),
            (
                Method::GET,
                "/api/v1/tasks",
                Needs::Role(AccessRole::Viewer),
            ),
            (
                Method::GET,
                "/api/v1/events",
                Needs::Role(AccessRole::Viewer),
            ),
            (
                Method::GET,
                "/api/v1/tokens",
                Needs::Role(AccessRole::Admin),
            ),
            (Method::GET, "/api/v1/audit", Needs::Role(AccessRole::Admin)),
            (
                Method::POST,
                "/api/v1/tasks",
                Needs::Role(AccessRole::Operator),
            ),
            (
                Method::POST,
                "/api/v1/tasks/x/cancel",
                Needs::Role(AccessRole::Operator),
            ),
            (
                Method::POST,
                "/api/v1/tasks/x/y/cancel",
                Needs::Role(AccessRole::Admin),
            ),
            (
                Method::POST,
                "/api/v1/agents",
                Needs::Role(AccessRole::Admin),
            ),
            (
                Method::DELETE,
                "/api/v1/agents/x",
                Needs::Role(AccessRole::Admin),
            ),
            (
                Method::POST,
                "/api/v1/tokens",
                Needs::Role(AccessRole::Admin),
            ),
            (
                Method::POST,
                "/api/v1/agents/x/restart",
                Needs::Role(AccessRole::Operator),
            ),
            (
                Method::POST,
                "/api/v1/agents/x/y/restart",
                Needs::Role(AccessRole::Admin),
            ),
            (Method::GET, "/dashboard", Needs::Nothing),
            (Method::GET, "/dashboard/app.js", Needs::Nothing),
            (
                Method::POST,
                "/dashboard/app.js",
                Needs::Role(AccessRole::Admin),
            ),
        ];
        for (method, path, expected) in cases {
            assert_eq!(needs(&method, path, false), expected, "{method} {path}");
        }
        assert_eq!(needs(&Method::GET, "/metrics", true), Needs::Nothing);
    }
}
