//! Measuring the monitor's statistics on data nobody here wrote: `hive detect`, `hive forecast`
//! and `hive evaluate` run exactly the detectors and forecasters of `hive_stats` with
//! the monitor's default settings, one row at a time, with no look-ahead.
//!
//! # Layout
//! - [`families`] — overload warnings judged row by row on mailbox-depth series of five load
//!   families.
//! - [`accuracy`] — forecast accuracy as MASE against the naive forecast, per horizon.
//! - [`overload`] — overload predictions scored against real breaches (`hive replay`).
//! - [`report`] — `hive evaluate`: every detector on a NAB corpus beside the published ones,
//!   the monitor's forecaster's relMAE and coverage, the windowed forecasters' MASE.
//! - [`predict`] — `hive predict`: the monitor's breach warnings on one series, row by row.

pub mod accuracy;
pub mod families;
pub mod overload;
pub mod predict;
pub mod report;

use hive_stats::holt::{COVERAGE, FORECAST_WINDOW};
use hive_stats::select::Selecting;
use hive_stats::{DetectorKind, Forecast, ForecasterKind};

/// The score of every value, each from that value and earlier ones only.
pub fn detect(values: &[f64], kind: DetectorKind) -> Vec<f64> {
    let mut detector = kind.build();
    values.iter().map(|x| detector.score(*x)).collect()
}

/// On each row, the forecast of the value `horizon` rows later, made from that row and earlier
/// ones (none until there are enough): the monitor's forecaster online, the others refitted on
/// the recent window at every row. `step_s` is the rows' interval (0 if unknown).
pub fn forecasts(
    values: &[f64],
    kind: ForecasterKind,
    horizon: usize,
    step_s: f64,
) -> Vec<Option<Forecast>> {
    if kind == ForecasterKind::Select {
        let mut select = Selecting::new(&[horizon], step_s, COVERAGE);
        return values
            .iter()
            .map(|x| {
                select.observe(*x);
                select.forecast(0)
            })
            .collect();
    }
    (0..values.len())
        .map(|i| {
            let recent = &values[(i + 1).saturating_sub(FORECAST_WINDOW)..=i];
            kind.forecast(recent, horizon, COVERAGE)
        })
        .collect()
}
