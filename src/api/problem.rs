//! The one error shape of the HTTP API: `application/problem+json` (RFC 9457) with `type`,
//! `title`, `status`, `detail` and, when one field of the request was wrong, `field`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

/// Seconds a client is asked to wait after a refusal for load (a full mailbox or store queue).
const BUSY_RETRY_AFTER_S: u32 = 1;
/// Seconds a client is asked to wait while the server starts, drains or recovers a component.
const UNAVAILABLE_RETRY_AFTER_S: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    Malformed { detail: String },
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    /// A request field names something that does not exist (`"agent": "<unknown id>"`).
    #[error("{field}: no {field} with id {id}")]
    UnknownReference { field: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    /// The node hosts as many agents as its configuration allows.
    #[error("{0}")]
    AgentLimit(String),
    #[error("the {0} is at capacity; retry shortly")]
    Busy(&'static str),
    /// One bounded queue is full (an agent's own), with what the client should know.
    #[error("{0}")]
    QueueFull(String),
    #[error("{0}")]
    Unavailable(String),
    /// The database's volume is full: nothing new is taken until space returns.
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("no route matches this path")]
    NoRoute,
    #[error("this method is not allowed on this path")]
    MethodNotAllowed { allow: &'static str },
    #[error("the request body did not arrive within {limit_ms} ms")]
    BodyTimeout { limit_ms: u64 },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("too many requests; retry in {retry_after_s} s")]
    TooManyRequests { retry_after_s: u64 },
    #[error("{priority}-priority submissions are shed for now: {reason}")]
    Shed {
        priority: &'static str,
        reason: String,
        retry_after_s: u64,
    },
    /// Ours, not the client's: the whole cause chain is logged, the client told only that.
    #[error("internal error")]
    Internal(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// An error of the server's own, kept whole for the log.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Arc::new(cause))
    }

    /// An internal error with no error value behind it: a broken promise of the server's.
    pub fn internal_msg(what: &str) -> Self {
        let cause: Box<dyn std::error::Error + Send + Sync> = what.into();
        ApiError::Internal(Arc::from(cause))
    }
}

/// `error: its source: its source…`, each cause once (an error that prints its source is not
/// repeated).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        next = cause.source();
    }
    text
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::from(Arc::new(e))
    }
}

/// A database that is not there now is a 503 the client may retry; anything else is ours, kept
/// whole (with the database's own error as its cause) for the log.
impl From<Arc<StoreError>> for ApiError {
    fn from(e: Arc<StoreError>) -> Self {
        match &*e {
            StoreError::Pool(_) | StoreError::Unavailable | StoreError::Unreachable => {
                ApiError::Unavailable(e.to_string())
            }
            StoreError::Busy => ApiError::Busy("store"),
            StoreError::StorageFull => ApiError::InsufficientStorage(e.to_string()),
            _ => ApiError::Internal(e),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, stable for clients to match on.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The request field that was wrong, as a path (`input.op`, `count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Malformed { .. } => ("malformed-body", "Malformed request body"),
            ApiError::Invalid { .. } => ("invalid-field", "Invalid field"),
            ApiError::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            ApiError::TooLarge { .. } => ("body-too-large", "Request body too large"),
            ApiError::NotFound { .. } | ApiError::UnknownReference { .. } => {
                ("not-found", "Not found")
            }
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::AgentLimit(_) => ("agent-limit", "Agent limit reached"),
            ApiError::Busy(_) | ApiError::QueueFull(_) => ("overloaded", "Server at capacity"),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::InsufficientStorage(_) => ("storage-full", "Insufficient storage"),
            ApiError::NoRoute => ("no-route", "Not found"),
            ApiError::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            ApiError::BodyTimeout { .. } => ("request-timeout", "Request timeout"),
            ApiError::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::TooManyRequests { .. } => ("rate-limited", "Too many requests"),
            ApiError::Shed { .. } => ("shed", "Shedding low-priority work"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Malformed { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound { .. } | ApiError::UnknownReference { .. } | ApiError::NoRoute => {
                StatusCode::NOT_FOUND
            }
            ApiError::Conflict(_) | ApiError::AgentLimit(_) => StatusCode::CONFLICT,
            ApiError::Busy(_)
            | ApiError::QueueFull(_)
            | ApiError::Unavailable(_)
            | ApiError::Shed { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (slug, title) = self.slug_and_title();
        let detail = match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %chain(&**cause), "request failed");
                "the server could not complete the request".to_owned()
            }
            ApiError::Invalid { detail, .. } => detail.clone(),
            other => other.to_string(),
        };
        let field = match self {
            ApiError::Invalid { field, .. } => Some(field.clone()),
            ApiError::UnknownReference { field, .. } => Some((*field).to_owned()),
            _ => None,
        };
        let body = Problem {
            kind: format!("urn:hive:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail,
            field,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        match self {
            ApiError::Busy(_) | ApiError::QueueFull(_) => {
                response.insert_header((header::RETRY_AFTER, BUSY_RETRY_AFTER_S));
            }
            ApiError::Unavailable(_) | ApiError::InsufficientStorage(_) => {
                response.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER_S));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            ApiError::TooManyRequests { retry_after_s } | ApiError::Shed { retry_after_s, .. } => {
                response.insert_header((header::RETRY_AFTER, *retry_after_s));
            }
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"hive\""));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    /// A database error behind a store error: the log gets both, the client neither.
    #[test]
    fn an_internal_error_keeps_its_causes_for_the_log_and_tells_the_client_nothing_of_them() {
        let store = StoreError::Database(diesel::result::Error::NotFound);
        let error = ApiError::from(store);
        let ApiError::Internal(cause) = &error else {
            panic!("{error:?} is internal")
        };
        assert_eq!(chain(&**cause), "database error: Record not found");
        #[derive(Debug, thiserror::Error)]
        #[error("forwarding failed")]
        struct Outer(#[source] StoreError);
        let wrapped = ApiError::internal(Outer(StoreError::Corrupt("x".into())));
        let ApiError::Internal(cause) = &wrapped else {
            panic!("internal")
        };
        assert_eq!(
            chain(&**cause),
            "forwarding failed: stored data is corrupt: x"
        );

        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().try_into_bytes().unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["detail"], "the server could not complete the request");
        assert!(!body.to_string().contains("Record not found"), "{body}");
    }

    #[test]
    fn a_database_that_is_away_is_a_retryable_503_not_an_internal_error() {
        let error = ApiError::from(StoreError::Unreachable);
        assert_eq!(error.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
