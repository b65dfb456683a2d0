//! Forecasters: Holt's linear trend (double exponential smoothing), its damped form, and a
//! least-squares line as the baseline; each with a prediction interval.
//!
//! Holt's parameters are fitted on the recent window by a grid search, once per horizon: the
//! candidate whose forecasts that many steps ahead erred least along the window wins, and the
//! spread of those errors is the interval's. The grid holds the naive forecast and simple
//! exponential smoothing, so where a trend only fits noise the fit falls back on them.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// Samples a forecaster fits on: two minutes of the monitor's 1 s samples, and a recent
/// stretch of a longer series, so a forecast follows the current regime rather than the history.
pub const FORECAST_WINDOW: usize = 120;

/// The coverage of the monitor's prediction intervals.
pub const COVERAGE: f64 = 0.8;

/// A forecast `horizon` steps ahead with its prediction interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The two-sided z for a central prediction interval of `coverage` (0.8 → 1.2816).
pub fn z_for(coverage: f64) -> f64 {
    // A standard normal is valid by construction.
    Normal::standard().inverse_cdf(0.5 + coverage.clamp(0.0, 0.999_999) / 2.0)
}

/// The probability that a standard normal is below `z`.
pub fn normal_cdf(z: f64) -> f64 {
    Normal::standard().cdf(z)
}

/// Smoothing weights of Holt's method; `phi` < 1 damps the trend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HoltParams {
    pub alpha: f64,
    pub beta: f64,
    pub phi: f64,
}

/// A fitted Holt model: its state after the last sample and its one-step error spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Holt {
    pub params: HoltParams,
    pub level: f64,
    pub trend: f64,
    /// Root mean square of the one-step-ahead errors over the fitted samples.
    pub sigma: f64,
}

// α = 1 with β = 0 is the naive forecast and small α with β = 0 simple exponential smoothing:
// the search may fall back on them where a trend only fits noise.
const ALPHAS: [f64; 7] = [0.05, 0.1, 0.2, 0.4, 0.6, 0.9, 1.0];
const BETAS: [f64; 5] = [0.0, 0.01, 0.05, 0.1, 0.3];
const DAMPED_PHIS: [f64; 4] = [0.8, 0.9, 0.98, 1.0];

/// Samples at the start of a window whose forecasts do not count in a fit: the first trend is
/// one difference, and noise.
const FIT_BURN_IN: usize = 3;

/// The errors of one candidate's forecasts `horizon` steps ahead, made along the window.
#[derive(Debug, Clone, Copy)]
struct FitErrors {
    mean_abs: f64,
    rms: f64,
}

fn damped_sum(phi: f64, horizon: usize) -> f64 {
    (1..=horizon).map(|k| phi.powi(k as i32)).sum()
}

impl Holt {
    /// Run Holt's recursions over `values` with `params`; `None` for fewer than 3 samples.
    pub fn run(values: &[f64], params: HoltParams) -> Option<Holt> {
        Self::run_scored(values, params, 1).map(|(model, _)| model)
    }

    /// The model after the last sample, and the errors of the forecasts `horizon` steps ahead
    /// it made along the way.
    fn run_scored(values: &[f64], params: HoltParams, horizon: usize) -> Option<(Holt, FitErrors)> {
        if values.len() < 3 {
            return None;
        }
        let HoltParams { alpha, beta, phi } = params;
        let ahead = damped_sum(phi, horizon);
        let mut level = values[0];
        // Without trend smoothing the first difference would stay the trend for good.
        let mut trend = if beta > 0.0 {
            values[1] - values[0]
        } else {
            0.0
        };
        let mut squared = 0.0;
        // Forecasts for each sample made `horizon` samples earlier.
        let mut made = vec![None; values.len()];
        let (mut abs_h, mut squared_h, mut n_h) = (0.0, 0.0, 0usize);
        for (t, &x) in values.iter().enumerate().skip(1) {
            let predicted = level + phi * trend;
            squared += (x - predicted).powi(2);
            if let Some(f) = made[t] {
                let e: f64 = x - f;
                abs_h += e.abs();
                squared_h += e * e;
                n_h += 1;
            }
            let previous = level;
            level = alpha * x + (1.0 - alpha) * predicted;
            trend = beta * (level - previous) + (1.0 - beta) * phi * trend;
            if t >= FIT_BURN_IN {
                if let Some(slot) = made.get_mut(t + horizon) {
                    *slot = Some(level + ahead * trend);
                }
            }
        }
        let model = Holt {
            params,
            level,
            trend,
            sigma: (squared / (values.len() - 1) as f64).sqrt(),
        };
        let errors = if n_h == 0 {
            FitErrors {
                mean_abs: model.sigma,
                rms: model.sigma,
            }
        } else {
            FitErrors {
                mean_abs: abs_h / n_h as f64,
                rms: (squared_h / n_h as f64).sqrt(),
            }
        };
        Some((model, errors))
    }

    /// Fit by grid search on `values` for one-step forecasts; `damped` also searches φ < 1
    /// (a trend that fades), otherwise φ = 1.
    pub fn fit(values: &[f64], damped: bool) -> Option<Holt> {
        Self::fit_for(values, damped, 1).map(|(model, _)| model)
    }

    /// Fit for forecasts `horizon` steps ahead: the parameters whose forecasts that far ahead
    /// erred least (mean absolute error) along the window. Also returns the RMS of those errors,
    /// the spread of an honest interval at that horizon.
    pub fn fit_for(values: &[f64], damped: bool, horizon: usize) -> Option<(Holt, f64)> {
        let phis: &[f64] = if damped { &DAMPED_PHIS } else { &[1.0] };
        let mut best: Option<(Holt, FitErrors)> = None;
        for &alpha in &ALPHAS {
            for &beta in &BETAS {
                for &phi in phis {
                    let candidate =
                        Holt::run_scored(values, HoltParams { alpha, beta, phi }, horizon)?;
                    if best.is_none_or(|(_, b)| candidate.1.mean_abs < b.mean_abs) {
                        best = Some(candidate);
                    }
                }
            }
        }
        best.map(|(model, errors)| (model, errors.rms))
    }

    /// The forecast `horizon` steps ahead with an interval of `coverage` around it whose
    /// half-width is `z · spread`.
    pub fn forecast_spread(&self, horizon: usize, coverage: f64, spread: f64) -> Forecast {
        let value = self.level + damped_sum(self.params.phi, horizon) * self.trend;
        let half = z_for(coverage) * spread;
        Forecast {
            value,
            lower: value - half,
            upper: value + half,
        }
    }

    /// The forecast `horizon` steps after the last sample, with its interval of `coverage`.
    /// The variance grows with the horizon as Holt's method implies for its own errors.
    pub fn forecast(&self, horizon: usize, coverage: f64) -> Forecast {
        let (value, sd) = self.path().nth(horizon).unwrap_or((self.level, self.sigma));
        let half = z_for(coverage) * sd;
        Forecast {
            value,
            lower: value - half,
            upper: value + half,
        }
    }

    /// The forecast's mean and standard deviation 0, 1, 2, … steps after the last sample, as
    /// [`Holt::forecast`] gives them, a step at a time: walking the horizons one after another
    /// costs a step each rather than a sum over every step before it.
    pub fn path(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        let HoltParams { alpha, beta, phi } = self.params;
        // `ahead` is the damped sum φ + … + φ^h; the variance factor adds, for each step j
        // before h, (α (1 + β (φ + … + φ^j)))².
        let (mut phi_h, mut ahead, mut variance_factor) = (1.0, 0.0, 1.0);
        (0usize..).map(move |h| {
            if h > 1 {
                variance_factor += (alpha * (1.0 + beta * ahead)).powi(2);
            }
            if h > 0 {
                phi_h *= phi;
                ahead += phi_h;
            }
            (
                self.level + ahead * self.trend,
                self.sigma * variance_factor.sqrt(),
            )
        })
    }
}

/// The least-squares line through `values` (x = 0, 1, …), extended `horizon` steps past the
/// last one, with the interval of a new observation there.
pub fn linear_trend(values: &[f64], horizon: usize, coverage: f64) -> Option<Forecast> {
    let line = Line::fit(values)?;
    let x = (values.len() - 1 + horizon) as f64;
    let value = line.at(x);
    let half = z_for(coverage)
        * line.s
        * (1.0 + 1.0 / line.n + (x - line.mean_x).powi(2) / line.sxx).sqrt();
    Some(Forecast {
        value,
        lower: value - half,
        upper: value + half,
    })
}

/// The least-squares line through `values` at x = 0, 1, …, with what its intervals and tests
/// need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub intercept: f64,
    pub slope: f64,
    /// The residuals' standard deviation (n − 2 degrees of freedom).
    pub s: f64,
    pub n: f64,
    pub mean_x: f64,
    /// Σ (x − mean x)².
    pub sxx: f64,
}

impl Line {
    /// `None` for fewer than 3 values.
    pub fn fit(values: &[f64]) -> Option<Line> {
        let n = values.len();
        if n < 3 {
            return None;
        }
        let nf = n as f64;
        let mean_x = (nf - 1.0) / 2.0;
        let mean_y = values.iter().sum::<f64>() / nf;
        let (mut sxx, mut sxy) = (0.0, 0.0);
        for (i, y) in values.iter().enumerate() {
            let dx = i as f64 - mean_x;
            sxx += dx * dx;
            sxy += dx * (y - mean_y);
        }
        let slope = sxy / sxx;
        let intercept = mean_y - slope * mean_x;
        let residual: f64 = values
            .iter()
            .enumerate()
            .map(|(i, y)| (y - intercept - slope * i as f64).powi(2))
            .sum();
        Some(Line {
            intercept,
            slope,
            s: (residual / (nf - 2.0)).sqrt(),
            n: nf,
            mean_x,
            sxx,
        })
    }

    /// The line's value at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }

    /// The slope's standard error.
    pub fn slope_se(&self) -> f64 {
        self.s / self.sxx.sqrt()
    }
}

/// The least-squares parabola through equally spaced values (at 0, 1, …), fitted in a basis of
/// orthogonal polynomials (1, x − x̄, (x − x̄)² − its mean), so that each coefficient and its
/// standard error come from one sum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parabola {
    mean: f64,
    slope: f64,
    curvature: f64,
    mean_x: f64,
    mean_u2: f64,
    /// The curvature's standard error.
    pub curvature_se: f64,
}

impl Parabola {
    /// `None` for fewer than 4 values.
    pub fn fit(values: &[f64]) -> Option<Parabola> {
        let n = values.len();
        if n < 4 {
            return None;
        }
        let nf = n as f64;
        let mean_x = (nf - 1.0) / 2.0;
        let mean_u2 = (0..n).map(|i| (i as f64 - mean_x).powi(2)).sum::<f64>() / nf;
        let mean = values.iter().sum::<f64>() / nf;
        let (mut suu, mut suy, mut sww, mut swy) = (0.0, 0.0, 0.0, 0.0);
        for (i, y) in values.iter().enumerate() {
            let u = i as f64 - mean_x;
            let w = u * u - mean_u2;
            suu += u * u;
            suy += u * y;
            sww += w * w;
            swy += w * y;
        }
        let (slope, curvature) = (suy / suu, swy / sww);
        let mut fitted = Parabola {
            mean,
            slope,
            curvature,
            mean_x,
            mean_u2,
            curvature_se: 0.0,
        };
        let residual: f64 = values
            .iter()
            .enumerate()
            .map(|(i, y)| (y - fitted.at(i as f64)).powi(2))
            .sum();
        // A floor under the residuals' spread, at the values' rounding error: through exact
        // values (a perfect line) the curvature is rounding noise, not a bend.
        let spread = (residual / (nf - 3.0))
            .sqrt()
            .max(1e-9 * (mean.abs() + slope.abs() * nf + 1.0));
        fitted.curvature_se = spread / sww.sqrt();
        Some(fitted)
    }

    /// The parabola's value at `x`.
    pub fn at(&self, x: f64) -> f64 {
        let u = x - self.mean_x;
        self.mean + self.slope * u + self.curvature * (u * u - self.mean_u2)
    }

    /// How many standard errors its curvature stands from zero (negative: bending down).
    pub fn curvature_t(&self) -> f64 {
        if self.curvature_se > 0.0 {
            self.curvature / self.curvature_se
        } else {
            self.curvature.signum() * f64::INFINITY
        }
    }

    /// Where it turns (its vertex), if it bends at all.
    pub fn turns_at(&self) -> Option<f64> {
        // The vertex of a(u) = slope·u + curvature·u²: u = −slope / (2·curvature).
        (self.curvature != 0.0).then(|| self.mean_x - self.slope / (2.0 * self.curvature))
    }
}

/// The forecasters Hive has, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecasterKind {
    /// Candidates side by side, the best lately believed ([`crate::select`]).
    Select,
    Holt,
    Damped,
    Linear,
}

impl ForecasterKind {
    pub const ALL: [ForecasterKind; 4] = [
        ForecasterKind::Select,
        ForecasterKind::Holt,
        ForecasterKind::Damped,
        ForecasterKind::Linear,
    ];

    /// The monitor's forecaster.
    pub const MONITOR_DEFAULT: ForecasterKind = ForecasterKind::Select;

    pub fn as_str(self) -> &'static str {
        match self {
            ForecasterKind::Select => "select",
            ForecasterKind::Holt => "holt",
            ForecasterKind::Damped => "damped",
            ForecasterKind::Linear => "linear",
        }
    }

    /// Forecast `horizon` steps past the end of `recent`.
    pub fn forecast(self, recent: &[f64], horizon: usize, coverage: f64) -> Option<Forecast> {
        self.forecast_each(recent, &[horizon], coverage)?.pop()
    }

    /// Forecasts at several horizons from one fit.
    pub fn forecast_each(
        self,
        recent: &[f64],
        horizons: &[usize],
        coverage: f64,
    ) -> Option<Vec<Forecast>> {
        match self {
            ForecasterKind::Select => {
                let mut select = crate::select::Selecting::new(horizons, 0.0, coverage);
                for x in recent {
                    select.observe(*x);
                }
                (0..horizons.len()).map(|k| select.forecast(k)).collect()
            }
            // One fit per horizon: the smoothing that forecasts best one step ahead is
            // rarely the one that does twenty steps ahead.
            ForecasterKind::Holt | ForecasterKind::Damped => horizons
                .iter()
                .map(|h| {
                    let (model, spread) =
                        Holt::fit_for(recent, self == ForecasterKind::Damped, *h)?;
                    Some(model.forecast_spread(*h, coverage, spread))
                })
                .collect(),
            ForecasterKind::Linear => horizons
                .iter()
                .map(|h| linear_trend(recent, *h, coverage))
                .collect(),
        }
    }
}

impl std::fmt::Display for ForecasterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ForecasterKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ForecasterKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown forecaster `{s}` (select, holt, damped, linear)"))
    }
}

/// Seconds until a series forecast by `model` reaches `limit` (from below), with a confidence;
/// `None` when the trend does not reach it within `max_steps` steps of `step_s` seconds.
///
/// The confidence is the forecast's highest probability, at any step of the look-ahead, of being
/// past the limit: at least that likely, the limit is reached within it. (The probability at
/// the crossing itself is a half or a shade more by construction, whatever the noise, and would
/// tell a steady climb from a trend drawn through noise no better than a coin.)
pub fn time_to_breach(
    model: &Holt,
    limit: f64,
    step_s: f64,
    max_steps: usize,
) -> Option<(f64, f64)> {
    if model.level >= limit {
        return Some((0.0, 1.0));
    }
    let mut crossing = None;
    let mut most_z = f64::NEG_INFINITY;
    for (h, (mean, sd)) in model.path().enumerate().skip(1).take(max_steps) {
        most_z = most_z.max((mean - limit) / sd.max(f64::MIN_POSITIVE));
        if crossing.is_none() && mean >= limit {
            crossing = Some(h);
        }
    }
    crossing.map(|h| (h as f64 * step_s, Normal::standard().cdf(most_z)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parabola_is_fitted_exactly_and_finds_its_turn() {
        let values: Vec<f64> = (0..30)
            .map(|i| {
                let x = i as f64;
                5.0 + 2.0 * x - 0.05 * x * x
            })
            .collect();
        let p = Parabola::fit(&values).unwrap();
        for x in [0.0, 12.0, 29.0, 40.0] {
            assert!(
                (p.at(x) - (5.0 + 2.0 * x - 0.05 * x * x)).abs() < 1e-9,
                "{x}"
            );
        }
        assert!((p.turns_at().unwrap() - 20.0).abs() < 1e-9);
        assert!(p.curvature_t() < -1e3, "an exact bend is certain");
        // Through a perfect line, the curvature is rounding noise, not a bend.
        let line: Vec<f64> = (0..30).map(|i| 3.0 * i as f64 + 0.1).collect();
        assert!(Parabola::fit(&line).unwrap().curvature_t().abs() < 1.0);
    }

    #[test]
    fn holt_follows_a_line_exactly_and_its_interval_is_tight() {
        let line: Vec<f64> = (0..50).map(|i| 3.0 + 2.0 * i as f64).collect();
        let model = Holt::fit(&line, false).unwrap();
        let f = model.forecast(10, 0.8);
        assert!((f.value - (3.0 + 2.0 * 59.0)).abs() < 1e-6, "{f:?}");
        assert!(f.upper - f.lower < 1e-6);
    }

    #[test]
    fn a_damped_trend_levels_off_and_intervals_widen_with_the_horizon() {
        let noisy: Vec<f64> = (0..100)
            .map(|i| i as f64 + if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let model = Holt::fit(&noisy, true).unwrap();
        let (near, far) = (model.forecast(1, 0.8), model.forecast(20, 0.8));
        assert!(far.upper - far.lower > near.upper - near.lower);
        assert!(near.lower < near.value && near.value < near.upper);
    }

    #[test]
    fn a_fading_trend_is_fitted_damped_and_a_straight_one_is_not() {
        // A rise that slows down: each step 0.9 of the one before.
        let fading: Vec<f64> = (0..80).map(|i| 100.0 * (1.0 - 0.9f64.powi(i))).collect();
        let (model, _) = Holt::fit_for(&fading, true, 10).unwrap();
        assert!(model.params.phi < 1.0, "{model:?}");
        let line: Vec<f64> = (0..80).map(|i| i as f64).collect();
        let (model, spread) = Holt::fit_for(&line, true, 10).unwrap();
        assert_eq!(model.params.phi, 1.0);
        assert!(spread < 1e-9);
    }

    #[test]
    fn the_linear_baseline_extends_its_line() {
        let line: Vec<f64> = (0..10).map(|i| 1.0 + 0.5 * i as f64).collect();
        let f = linear_trend(&line, 5, 0.8).unwrap();
        assert!((f.value - (1.0 + 0.5 * 14.0)).abs() < 1e-9);
        assert!((z_for(0.8) - 1.2816).abs() < 1e-3);
    }

    #[test]
    fn time_to_breach_counts_the_steps_until_the_trend_reaches_the_limit() {
        let rising: Vec<f64> = (0..60).map(|i| 10.0 + i as f64).collect();
        let model = Holt::fit(&rising, false).unwrap();
        // At 69 now, one per second: 100 is 31 s away.
        let (seconds, confidence) = time_to_breach(&model, 100.0, 1.0, 600).unwrap();
        assert_eq!(seconds, 31.0);
        assert!(confidence > 0.99, "a straight climb is sure: {confidence}");
        assert!(time_to_breach(&model, 1e9, 1.0, 600).is_none());
    }

    #[test]
    fn a_breach_through_noise_is_less_sure_than_one_on_a_steady_climb() {
        // The same trend, 50 below the limit at one a second: the crossing is 50 s away for
        // both, but one forecast's errors are tiny and the other's large.
        let model = |sigma| Holt {
            params: HoltParams {
                alpha: 0.5,
                beta: 0.1,
                phi: 1.0,
            },
            level: 50.0,
            trend: 1.0,
            sigma,
        };
        let (steady_at, steady) = time_to_breach(&model(0.1), 100.0, 1.0, 300).unwrap();
        let (noisy_at, noisy) = time_to_breach(&model(20.0), 100.0, 1.0, 300).unwrap();
        assert_eq!((steady_at, noisy_at), (50.0, 50.0));
        assert!(steady > 0.99, "{steady}");
        assert!((0.5..0.7).contains(&noisy), "{noisy}");
    }

    #[test]
    fn the_path_walks_the_same_forecasts_as_each_horizon_alone() {
        let model = Holt {
            params: HoltParams {
                alpha: 0.4,
                beta: 0.2,
                phi: 0.9,
            },
            level: 10.0,
            trend: 2.0,
            sigma: 1.5,
        };
        for (h, (mean, sd)) in model.path().enumerate().take(40) {
            let f = model.forecast(h, 0.8);
            let expected = 10.0 + damped_sum(0.9, h) * 2.0;
            assert!(
                (mean - expected).abs() < 1e-9,
                "step {h}: {mean} vs {expected}"
            );
            // The variance factor by its definition, summed afresh for this horizon.
            let factor: f64 = 1.0
                + (1..h)
                    .map(|j| (0.4 * (1.0 + 0.2 * damped_sum(0.9, j))).powi(2))
                    .sum::<f64>();
            assert!((sd - 1.5 * factor.sqrt()).abs() < 1e-9, "step {h}");
            assert!((f.upper - f.value - z_for(0.8) * sd).abs() < 1e-9);
        }
    }
}
