//! Forecast accuracy as MASE: the mean absolute error of a forecaster `h` rows ahead, divided by
//! that of the naive forecast (the value now, for `h` rows later) over the same rows. Below 1,
//! the forecaster beats doing nothing.

use hive_stats::holt::{COVERAGE, FORECAST_WINDOW};
use hive_stats::ForecasterKind;

/// Rows before a forecast counts: the forecaster's window is full by then.
const WARMUP: usize = FORECAST_WINDOW;

/// MASE of `kind` on `values` at each of `horizons`; `None` where no row could be scored (or the
/// naive forecast is never wrong, as on a flat line).
/// `stride` > 1 scores every `stride`-th row only: an estimate at a fraction of the cost.
pub fn mase_every(
    values: &[f64],
    kind: ForecasterKind,
    horizons: &[usize],
    stride: usize,
) -> Vec<Option<f64>> {
    // Per horizon: the forecaster's absolute errors, the naive ones, and how many rows.
    let mut errors = vec![(0.0, 0.0, 0usize); horizons.len()];
    for i in (WARMUP - 1..values.len()).step_by(stride.max(1)) {
        let recent = &values[(i + 1).saturating_sub(FORECAST_WINDOW)..=i];
        let Some(forecasts) = kind.forecast_each(recent, horizons, COVERAGE) else {
            continue;
        };
        for (k, (h, f)) in horizons.iter().zip(forecasts).enumerate() {
            if let Some(actual) = values.get(i + h) {
                errors[k].0 += (actual - f.value).abs();
                errors[k].1 += (actual - values[i]).abs();
                errors[k].2 += 1;
            }
        }
    }
    errors
        .into_iter()
        .map(|(model, naive, n)| (n > 0 && naive > 0.0).then(|| model / naive))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trend_is_forecast_better_than_naively_and_a_flat_line_has_no_mase() {
        let trend: Vec<f64> = (0..400)
            .map(|i| i as f64 * 0.5 + if i % 3 == 0 { 0.3 } else { -0.1 })
            .collect();
        let scores = mase_every(&trend, ForecasterKind::Holt, &[1, 10], 1);
        assert!(
            scores.iter().all(|m| m.is_some_and(|m| m < 1.0)),
            "{scores:?}"
        );
        let flat = vec![4.0; 400];
        assert_eq!(
            mase_every(&flat, ForecasterKind::Linear, &[5], 1),
            vec![None]
        );
    }
}
