//! `/api/v1/config`: the settings that change at run time, their history, and a rollback.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::ask::ask;
use super::base::Limit;
use super::json::JsonBody;
use super::problem::{ApiError, Problem};
use crate::context::Hive;
use crate::domain::time::rfc3339;
use crate::managers::configuration::{
    ConfigError, ConfigurationManager, Current, PatchConfig, Rollback,
};
use crate::managers::handles::Handles;
use crate::snapshots::access::Caller;
use tokio::sync::oneshot;

/// The live settings and the version they are (0: as the server started, never changed).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigView {
    pub version: i64,
    #[schema(value_type = Object)]
    pub settings: Value,
}

impl From<Current> for ConfigView {
    fn from((version, settings): Current) -> Self {
        Self {
            version,
            settings: serde_json::to_value(&*settings).unwrap_or_default(),
        }
    }
}

/// One change: the merge patch that made the version, who made it and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigChange {
    pub version: i64,
    pub at: String,
    pub author: String,
    #[schema(value_type = Object)]
    pub patch: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigHistory {
    /// Newest first.
    pub items: Vec<ConfigChange>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub limit: Option<Limit>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
}

/// The body of `POST /api/v1/config/rollback`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackTo {
    pub version: i64,
}

fn config_error(e: ConfigError) -> ApiError {
    match e {
        ConfigError::Invalid(e) => ApiError::invalid(e.field, e.detail),
        conflict @ ConfigError::Conflict(_) => ApiError::Conflict(conflict.to_string()),
        ConfigError::UnknownVersion(v) => {
            ApiError::invalid("version", format!("no version {v} of the settings"))
        }
        ConfigError::Store(e) => ApiError::from(std::sync::Arc::new(e)),
    }
}

/// Who made a change, as the audit log names callers.
fn author(caller: Option<web::ReqData<Caller>>) -> String {
    caller.map_or_else(|| "unauthenticated".to_owned(), |c| c.actor().to_owned())
}

/// The settings that can change while the server runs, and their version.
#[utoipa::path(get, path = "/api/v1/config", tag = "config",
    responses((status = 200, body = ConfigView)))]
pub async fn get(hive: web::Data<Hive>) -> HttpResponse {
    let current = (hive.settings.version(), hive.settings.load());
    HttpResponse::Ok().json(ConfigView::from(current))
}

/// Change settings with a JSON merge patch (`application/merge-patch+json`, RFC 7396): the
/// result is checked as a whole (an unknown or out-of-range setting is 422 naming it, and
/// nothing changes), stored as a new version with its author, and applied at once, on every
/// node.
#[utoipa::path(patch, path = "/api/v1/config", tag = "config",
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = ConfigView), (status = 409, body = Problem, description = "changed meanwhile by another call"),
        (status = 422, body = Problem)))]
pub async fn patch(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    caller: Option<web::ReqData<Caller>>,
    body: JsonBody<Value>,
) -> Result<HttpResponse, ApiError> {
    let author = author(caller);
    change(&hive, &handles, |reply| PatchConfig {
        patch: body.value,
        author,
        reply,
    })
    .await
}

/// Ask the ConfigurationManager for a change; answered with the settings it made.
async fn change<M>(
    hive: &Hive,
    handles: &Handles,
    request: impl FnOnce(oneshot::Sender<Result<Current, ConfigError>>) -> M,
) -> Result<HttpResponse, ApiError>
where
    M: actix::Message<Result = ()> + Send + 'static,
    ConfigurationManager: actix::Handler<M>,
{
    let current = ask(
        &handles.configuration,
        &hive.kinds.configuration,
        "configuration manager",
        request,
    )
    .await?
    .map_err(config_error)?;
    Ok(HttpResponse::Ok().json(ConfigView::from(current)))
}

/// Every change, newest first: the version, the merge patch, its author and time.
#[utoipa::path(get, path = "/api/v1/config/history", tag = "config", params(HistoryQuery),
    responses((status = 200, body = ConfigHistory)))]
pub async fn history(
    hive: web::Data<Hive>,
    query: super::query::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.0.limit.unwrap_or_default().0;
    let mut rows = hive
        .store
        .config_history(query.0.cursor, limit as i64 + 1)
        .await?;
    let next_cursor = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last()
            .map(|r| r.version.to_string())
            .unwrap_or_default()
    });
    let items = rows
        .into_iter()
        .map(|r| ConfigChange {
            version: r.version,
            at: rfc3339(r.at),
            author: r.author,
            patch: serde_json::from_str(&r.patch).unwrap_or(Value::Null),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ConfigHistory { items, next_cursor }))
}

/// Make the settings what they were at a version, as a new version (its patch in the history
/// is what the rollback changed).
#[utoipa::path(post, path = "/api/v1/config/rollback", tag = "config", request_body = RollbackTo,
    responses((status = 200, body = ConfigView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn rollback(
    hive: web::Data<Hive>,
    handles: web::Data<Handles>,
    caller: Option<web::ReqData<Caller>>,
    body: JsonBody<RollbackTo>,
) -> Result<HttpResponse, ApiError> {
    let author = author(caller);
    change(&hive, &handles, |reply| Rollback {
        version: body.value.version,
        author,
        reply,
    })
    .await
}
