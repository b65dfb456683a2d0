//! The monitor's view: forecasts of each watched series against its limit, and the anomalies its
//! detector flagged, as of the latest sample (at most one sample interval old).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::ApiError;
use crate::context::Hive;
use crate::snapshots::monitor::{AnomalyView, SeriesView};

#[derive(Debug, Serialize, ToSchema)]
pub struct Forecasts {
    pub interval_ms: u64,
    /// The forecaster of every series' forecast (`select`).
    pub forecaster: &'static str,
    /// Bytes of history the monitor keeps (bounded).
    pub history_bytes: usize,
    pub series: Vec<SeriesView>,
}

/// Every watched series (memory, mailboxes, queues) with its last value, its forecast 30
/// samples ahead with an 80 % interval, and the time until it reaches its limit.
#[utoipa::path(get, path = "/api/v1/monitor/forecasts", tag = "system",
    responses((status = 200, body = Forecasts)))]
pub async fn forecasts(hive: web::Data<Hive>) -> HttpResponse {
    let view = hive.monitor.load();
    HttpResponse::Ok().json(Forecasts {
        interval_ms: view.interval_ms,
        forecaster: view.forecaster,
        history_bytes: view.history_bytes,
        series: view.series.clone(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AnomaliesQuery {
    /// Only this series (such as `memory.rss` or `mailbox.store`).
    pub series: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Anomalies {
    pub detector: &'static str,
    pub threshold: f64,
    /// Oldest first; the newest 200 are kept.
    pub items: Vec<AnomalyView>,
}

/// The samples the monitor's detector (robust z-score) flagged, oldest first.
#[utoipa::path(get, path = "/api/v1/monitor/anomalies", tag = "system", params(AnomaliesQuery),
    responses((status = 200, body = Anomalies), (status = 422, body = super::problem::Problem)))]
pub async fn anomalies(
    hive: web::Data<Hive>,
    query: super::query::Query<AnomaliesQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = hive.monitor.load();
    let items = view
        .anomalies
        .iter()
        .filter(|a| query.0.series.as_deref().is_none_or(|s| a.series == s))
        .cloned()
        .collect();
    Ok(HttpResponse::Ok().json(Anomalies {
        detector: view.detector,
        threshold: view.threshold,
        items,
    }))
}
