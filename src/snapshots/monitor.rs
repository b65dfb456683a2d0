//! What the monitor publishes after every sample: each watched series with its forecast,
//! time-to-breach and warning, and the anomalies its detector flagged. Read by the API, the
//! dashboard and, through [`Insight`], the plugins.

use std::sync::Arc;

use actix::Message;
use serde::Serialize;
use utoipa::ToSchema;

/// The least confidence of a forecast breach that counts towards a warning.
pub const WARN_CONFIDENCE: f64 = 0.5;
/// Consecutive samples a breach must be forecast within the horizon before it is a warning: one
/// sample's trend through a noisy series flickers, and a warning that comes and goes is an
/// operator's false alarm.
pub const WARN_STREAK: u32 = 3;
/// Newest samples whose straight line must also reach the limit within the horizon for a
/// forecast breach to count towards a warning. The trend fitted on two minutes still carries a
/// climb for a while after it levelled off; ten seconds of a level series say it has.
pub const WARN_RECENT: usize = 10;
/// Steps ahead of the reported forecast: 30 s at the default interval.
pub const HORIZON: usize = 30;
/// Steps within which a forecast breach counts towards a warning: 20 s at the default interval.
/// A warning is meant to come 10–30 s ahead; a breach forecast 20–30 s out is still mostly a
/// climb that may turn, and the cautious slope a warning goes by puts a real breach later than it
/// comes, so a warning at 20 s forecast still comes 10 s or more ahead.
pub const WARN_WITHIN: usize = 20;

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct ForecastView {
    pub horizon_s: f64,
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

/// One series as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeriesView {
    pub name: String,
    pub unit: &'static str,
    pub last: f64,
    /// Samples held (at most ten minutes' worth).
    pub samples: usize,
    /// The bound this series must stay under, if it has one.
    pub limit: Option<f64>,
    pub forecast: Option<ForecastView>,
    /// Seconds until the forecast reaches `limit`, if within the look-ahead.
    pub time_to_breach_s: Option<f64>,
    /// The forecast's highest probability, at any step of the look-ahead, of being past the
    /// limit: at least that likely, the limit is reached within it. 1 at the limit.
    pub confidence: Option<f64>,
    /// Whether the monitor warns that the limit will be reached: a breach forecast within
    /// [`WARN_WITHIN`] with at least [`WARN_CONFIDENCE`], borne out by the line through the last
    /// [`WARN_RECENT`] samples, held for [`WARN_STREAK`] samples, not while the series is
    /// falling or coming back from a breach, and not when the last time it moved this way at
    /// this height it turned under its limit (its analogues); or, for a series whose limit leads an
    /// overload (demand against capacity), the series at its limit. What
    /// `monitor.breach_forecast` events, alerts and `hive replay`'s scoring go by.
    pub warning: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnomalyView {
    pub series: String,
    pub at_ms: i64,
    pub value: f64,
    /// The detector's score in [0, 1); at least the threshold.
    pub score: f64,
}

/// What the API and the dashboard read, replaced whole after every sample.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct MonitorView {
    pub interval_ms: u64,
    pub detector: &'static str,
    pub threshold: f64,
    /// The forecaster of every series' reported forecast.
    pub forecaster: &'static str,
    pub series: Vec<SeriesView>,
    pub anomalies: Vec<AnomalyView>,
    /// Bytes the monitor's history takes: bounded by design, reported to prove it.
    pub history_bytes: usize,
}

/// What the monitor found in one sample, as every plugin is told: shared, not copied.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Insight {
    pub view: Arc<MonitorView>,
    /// Anomalies this sample flagged (the view lists older ones too).
    pub anomalies: Arc<[AnomalyView]>,
}
