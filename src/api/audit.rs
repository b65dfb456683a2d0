//! The audit log: every mutating call (any method but GET and HEAD), allowed or not, with who
//! made it, what it was, when, and how it ended. Requests leave entries in a bounded buffer, not
//! in a mailbox: the SecurityManager, which owns the log, hands the buffer to the store as one
//! write every 100 ms, so that auditing costs the store one message per tick however many
//! clients call, and never takes a place in the store's mailbox that a task needed. Entries are
//! announced as `audit` events once committed; `GET /api/v1/audit` reads them back (admin).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::ApiError;
use crate::context::Hive;
use crate::domain::time::{now_ms, rfc3339};
use crate::snapshots::access::Caller;
use crate::store::models::{AuditRow, NewAuditEntry};

fn outcome(status: u16) -> &'static str {
    match status {
        401 | 403 | 429 => "denied",
        400..=499 => "rejected",
        500.. => "failed",
        _ => "ok",
    }
}

/// Record the call once it is answered. Must run outside the access check, so that refused
/// calls are recorded too.
pub async fn record_mutations(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.call(req).await;
    }
    let hive = req.app_data::<web::Data<Hive>>().cloned();
    let client = req
        .peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string());
    let (method, path) = (req.method().to_string(), req.path().to_owned());
    let response = next.call(req).await?;
    if let Some(hive) = hive {
        let status = response.status().as_u16();
        let caller = response.request().extensions().get::<Caller>().cloned();
        let entry = NewAuditEntry {
            at: now_ms(),
            actor: caller
                .as_ref()
                .map_or("unauthenticated", Caller::actor)
                .to_owned(),
            role: caller.map(|c| c.role().as_str()),
            client,
            method,
            path,
            status: i32::from(status),
            outcome: outcome(status),
        };
        record(&hive, entry);
    }
    Ok(response)
}

fn record(hive: &Hive, entry: NewAuditEntry) {
    let (actor, method, path, status) = (
        entry.actor.clone(),
        entry.method.clone(),
        entry.path.clone(),
        entry.status,
    );
    if !hive.audit.push(entry) {
        // The call itself was answered; losing its record is counted and logged, not hidden.
        hive.metrics.audit_dropped.inc();
        tracing::warn!(%actor, %method, %path, status, "audit entry dropped: the buffer is full");
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this actor's calls: a token id, `anonymous` or `unauthenticated`.
    pub actor: Option<String>,
    pub limit: Option<super::base::Limit>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Its position in the log; give it as `cursor` to read what came after.
    pub id: i64,
    pub at: String,
    /// The token id, `anonymous` (no tokens exist) or `unauthenticated` (no valid token).
    pub actor: String,
    pub role: Option<String>,
    pub client: String,
    pub method: String,
    pub path: String,
    pub status: i32,
    /// ok, denied (401, 403, 429), rejected (other 4xx) or failed (5xx).
    pub outcome: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: rfc3339(r.at),
            actor: r.actor,
            role: r.role,
            client: r.client,
            method: r.method,
            path: r.path,
            status: r.status,
            outcome: r.outcome,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// The audit log, oldest first (admin).
#[utoipa::path(get, path = "/api/v1/audit", tag = "security", params(AuditQuery),
    security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 403, body = super::problem::Problem)))]
pub async fn list(
    hive: web::Data<Hive>,
    query: super::query::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let limit = q.limit.unwrap_or_default().0;
    let rows = hive
        .store
        .audit(q.actor.as_deref(), q.cursor, limit as i64 + 1)
        .await?;
    let (rows, next_cursor) = super::base::paginate(rows, limit, |e| e.id.to_string());
    Ok(HttpResponse::Ok().json(AuditPage {
        items: rows.into_iter().map(AuditEntry::from).collect(),
        next_cursor,
    }))
}
