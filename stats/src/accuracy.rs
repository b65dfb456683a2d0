//! Forecast accuracy, measured as the monitor forecasts: online, one sample at a time, each
//! forecast scored against the value that arrives `h` samples later.
//!
//! - relMAE: the forecaster's mean absolute error divided by the naive forecast's (the value now,
//!   for `h` samples later) over the same rows; below 1, it beats doing nothing.
//! - coverage: the share of values that fell inside the forecast's interval.

use serde::Serialize;

use crate::holt::COVERAGE;
use crate::select::Selecting;

/// Rows before a forecast counts: every forecaster has had a fair start by then.
pub const WARMUP: usize = 120;

/// One series' accuracy at one horizon.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Accuracy {
    pub horizon: usize,
    /// `None` where the naive forecast is never wrong (a flat line) or no row was scored.
    pub rel_mae: Option<f64>,
    pub inside: usize,
    pub scored: usize,
}

/// The monitor's forecaster's accuracy on `values` (sampled every `step_s` seconds, 0 if
/// unknown) at each of `horizons`.
pub fn selecting(values: &[f64], step_s: f64, horizons: &[usize]) -> Vec<Accuracy> {
    let mut forecaster = Selecting::new(horizons, step_s, COVERAGE);
    let mut sums = vec![(0.0, 0.0, 0usize, 0usize); horizons.len()];
    for (i, x) in values.iter().enumerate() {
        forecaster.observe(*x);
        if i + 1 < WARMUP {
            continue;
        }
        for (k, h) in horizons.iter().enumerate() {
            let (Some(f), Some(actual)) = (forecaster.forecast(k), values.get(i + h)) else {
                continue;
            };
            let s = &mut sums[k];
            s.0 += (actual - f.value).abs();
            s.1 += (actual - x).abs();
            s.2 += usize::from(f.lower <= *actual && *actual <= f.upper);
            s.3 += 1;
        }
    }
    horizons
        .iter()
        .zip(sums)
        .map(|(h, (model, naive, inside, scored))| Accuracy {
            horizon: *h,
            rel_mae: (scored > 0 && naive > 0.0).then(|| model / naive),
            inside,
            scored,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_with_a_trend_beats_naive_and_a_flat_one_has_no_rel_mae() {
        let trend: Vec<f64> = (0..600)
            .map(|i| i as f64 * 0.5 + if i % 3 == 0 { 0.3 } else { -0.1 })
            .collect();
        for a in selecting(&trend, 0.0, &[1, 10]) {
            assert!(a.rel_mae.is_some_and(|m| m < 1.0), "{a:?}");
        }
        let flat = vec![4.0; 400];
        assert!(selecting(&flat, 0.0, &[5])[0].rel_mae.is_none());
    }
}
