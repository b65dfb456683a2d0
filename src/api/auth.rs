//! The access check every request passes, in two steps.
//!
//! 1. [`gate`], around every route: who is calling (a bearer token, or nobody when the API runs
//!    without tokens for loopback clients only), whether an open API is being reached through a
//!    foreign host name or origin (DNS rebinding, cross-site forms), and the caller's rate limit.
//!    It judges nothing about the route: the path it sees is the raw one, which the router
//!    percent-decodes and normalises before matching.
//! 2. [`require`], on each route as it is registered: the role that route needs, checked after
//!    the router chose it, so every spelling of a path that reaches a handler meets the same
//!    check, and a method no route declares is 405 whoever asks.
//!
//! | route | needs |
//! | --- | --- |
//! | `/livez`, `/readyz`, `/health`, the dashboard's page and assets | nothing |
//! | `/metrics` | viewer, or nothing with `metrics_open` |
//! | `GET /api/v1/tokens`, `GET /api/v1/audit` | admin |
//! | any other `GET` (the event stream too) | viewer |
//! | `POST /api/v1/tasks`, `POST /api/v1/tasks/{id}/cancel`, `POST /api/v1/agents/{id}/restart` | operator |
//! | everything else (agents, tokens) | admin |
//!
//! Probes (`/livez`, `/readyz`, `/health`) and `/metrics` draw on no rate limit: a flood from the
//! address a kubelet or scraper shares must not make a healthy server look dead.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{header, Method};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpMessage, ResponseError};

use super::problem::ApiError;
use crate::context::Hive;
use crate::domain::access::AccessRole;
use crate::snapshots::access::{Caller, Denied};
use crate::snapshots::rate_limits::LimitKey;

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Role(AccessRole),
    /// `/metrics`: a viewer, unless the operator opened it to scrapers.
    Metrics,
}

/// Who the gate found calling, kept in the request for the route's check.
#[derive(Debug, Clone)]
enum Identity {
    Known(Caller),
    Refused(Denied),
    /// The tokens have not been read yet: nobody can be judged.
    Unjudged,
}

/// Paths answered without a token and without drawing on a rate limit. Matched on the raw path:
/// a percent-encoded spelling is not exempt, which only costs its sender a token from the bucket.
const PROBES: [&str; 4] = ["/livez", "/readyz", "/health", "/metrics"];

/// Identify, screen and limit; the caller goes into the request's extensions for the route's
/// check, the handlers and the audit log.
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
    let probe = PROBES.contains(&req.path());
    let policy = hive.access.load();
    let identity = if !policy.loaded {
        Identity::Unjudged
    } else {
        if policy.open() && !probe {
            if let Err(why) = same_origin(&req, &hive.config.open_hosts) {
                return Ok(refuse(req, ApiError::Forbidden(why)));
            }
        }
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match policy.caller(authorization, req.peer_addr().map(|a| a.ip())) {
            Ok(caller) => Identity::Known(caller),
            Err(denied) => Identity::Refused(denied),
        }
    };
    if let (Some(limits), false) = (&*hive.rate_limits.load(), probe) {
        let key = match &identity {
            Identity::Known(Caller::Token { id, .. }) => Some(LimitKey::Token(id.clone())),
            _ => req.peer_addr().map(|a| LimitKey::Address(a.ip())),
        };
        if let Some(Err(wait)) = key.map(|k| limits.check(&k)) {
            hive.metrics.rate_limited.inc();
            let retry_after_s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Ok(refuse(req, ApiError::TooManyRequests { retry_after_s }));
        }
    }
    if let Identity::Known(caller) = &identity {
        req.extensions_mut().insert(caller.clone());
    }
    req.extensions_mut().insert(identity);
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// A route's middleware that lets through only callers `needs` admits.
pub fn require<S>(
    needs: Needs,
) -> impl Transform<
    S,
    ServiceRequest,
    Response = ServiceResponse<EitherBody<BoxBody>>,
    Error = actix_web::Error,
    InitError = (),
> + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error> + 'static,
{
    from_fn(move |req: ServiceRequest, next: Next<BoxBody>| async move {
        match admitted(&req, needs) {
            Ok(()) => next
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body),
            Err(refusal) => Ok(refuse(req, refusal)),
        }
    })
}

fn admitted(req: &ServiceRequest, needs: Needs) -> Result<(), ApiError> {
    let hive = req.app_data::<web::Data<Hive>>();
    let needed = match needs {
        Needs::Metrics if hive.is_some_and(|h| h.access.load().metrics_open) => return Ok(()),
        Needs::Metrics => AccessRole::Viewer,
        Needs::Role(role) => role,
    };
    let extensions = req.extensions();
    // No identity means the gate did not run for this route: refuse rather than guess.
    match extensions.get::<Identity>() {
        Some(Identity::Known(caller)) if caller.role() >= needed => Ok(()),
        Some(Identity::Known(caller)) => Err(forbidden(needed, caller.role())),
        Some(Identity::Refused(Denied::Unauthenticated(why))) => Err(ApiError::Unauthorized(why)),
        Some(Identity::Refused(Denied::Forbidden { needed, held })) => {
            Err(forbidden(*needed, *held))
        }
        Some(Identity::Refused(Denied::NotLoopback)) => Err(ApiError::Forbidden(
            "no API tokens exist, so only loopback clients are served".into(),
        )),
        Some(Identity::Unjudged) => Err(hive
            .and_then(|h| super::middleware::not_ready(h.readiness.get()))
            .unwrap_or_else(|| ApiError::Unavailable("the server is starting".into()))),
        None => Err(ApiError::Unauthorized("a bearer token is required")),
    }
}

fn forbidden(needed: AccessRole, held: AccessRole) -> ApiError {
    ApiError::Forbidden(format!(
        "this needs the {needed} role; the token has {held}"
    ))
}

/// An open API answers only requests that name it by a loopback host, and takes changes only
/// from pages of such a host: a page on `attacker.example` whose name was rebound to 127.0.0.1
/// sends its own host name, and a cross-site form sends its own origin.
fn same_origin(req: &ServiceRequest, open_hosts: &[String]) -> Result<(), String> {
    let header_text = |name| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"))
    };
    if let Some(host) = header_text(header::HOST) {
        if !local_host(host_name(host), open_hosts) {
            return Err(format!(
                "no API tokens exist, so only requests to a loopback host name are served, not {host:?}; create a token or list the name in open_hosts"
            ));
        }
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if let (Some(origin), false) = (header_text(header::ORIGIN), safe) {
        let host = origin
            .split_once("://")
            .map(|(_, rest)| host_name(rest))
            .unwrap_or_default();
        if !local_host(host, open_hosts) {
            return Err(format!(
                "no API tokens exist, so changes are taken only from loopback origins, not {origin:?}"
            ));
        }
    }
    Ok(())
}

/// The host of a `Host` header or an origin's authority: without port, IPv6 brackets kept off.
fn host_name(authority: &str) -> &str {
    let authority = authority.split('/').next().unwrap_or_default();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _port)| host)
}

fn local_host(host: &str, open_hosts: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || open_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host))
}

fn refuse<B>(req: ServiceRequest, error: ApiError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(error.error_response())
        .map_into_right_body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_are_local_and_others_are_not() {
        let extra = vec!["hive.internal".to_owned()];
        for local in [
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:3000",
            "127.0.0.1:8080",
            "127.5.6.7",
            "[::1]:8080",
            "hive.internal:80",
        ] {
            assert!(local_host(host_name(local), &extra), "{local}");
        }
        for foreign in [
            "attacker.example",
            "attacker.example:8080",
            "localhost.attacker.example",
            "10.0.0.1:8080",
            "[2001:db8::1]:80",
            "",
        ] {
            assert!(!local_host(host_name(foreign), &extra), "{foreign}");
        }
    }
}
