//! `GET /api/v1/sla`: per priority class, queue wait and run time of the tasks that finished in a
//! recent window, against the class's target.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::problem::{ApiError, Problem};
use crate::context::Hive;
use crate::domain::sla::{report, SlaReport};
use crate::domain::time::now_ms;

const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// A report window such as `30s`, `5m` or `2h`: 1 second to 24 hours; empty means the default.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub struct Window(Duration);

impl TryFrom<String> for Window {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() {
            return Ok(Self(DEFAULT_WINDOW));
        }
        let window = humantime::parse_duration(&s)
            .map_err(|_| format!("{s:?} is not a duration such as 30s, 5m or 2h"))?;
        if window < Duration::from_secs(1) || window > MAX_WINDOW {
            return Err("window must be between 1s and 24h".into());
        }
        Ok(Self(window))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SlaQuery {
    /// How far back to look: `30s`, `5m`, `2h` (1 s to 24 h; 5 m by default, or when empty).
    #[param(value_type = Option<String>)]
    pub window: Option<Window>,
}

/// Queue-wait and run-time p50/p95/p99 per priority class over a window, and the share of tasks
/// whose queue wait met the class's target.
#[utoipa::path(get, path = "/api/v1/sla", tag = "tasks", params(SlaQuery),
    responses((status = 200, body = SlaReport), (status = 422, body = Problem)))]
pub async fn sla(
    hive: web::Data<Hive>,
    query: super::query::Query<SlaQuery>,
) -> Result<HttpResponse, ApiError> {
    let window = query.0.window.map_or(DEFAULT_WINDOW, |w| w.0);
    let since = now_ms() - window.as_millis() as i64;
    let finished = hive.store.finished_since(since).await?;
    Ok(HttpResponse::Ok().json(report(
        &finished,
        &hive.settings.load().slo,
        window.as_secs(),
    )))
}
