//! The monitor's forecaster: several simple forecasters run side by side on a series, and at each
//! horizon the one whose forecasts that far ahead erred least lately is believed, with an interval
//! drawn from the errors its believed forecasts actually made.
//!
//! The candidates: the naive forecast (the value now), simple exponential smoothing at three
//! speeds, running medians (a level that spikes do not move), two damped trends and a straight
//! one, and, where the samples' interval makes a day or a week a whole number of samples that the
//! history can hold, the value a day (a week) before the target, moved by how much the last hour
//! differs from the same hour then. Each candidate's errors at each
//! horizon are smoothed exponentially (half-life [`ERROR_HALF_LIFE`] samples), out of sample: a
//! forecast is scored only against the value that arrives `h` samples after it was made.
//!
//! Naive is believed unless another candidate's recent error is clearly lower
//! ([`SWITCH_MARGIN`]), and the forecast issued blends the believed candidate with naive, weighted
//! by the inverse of their recent errors (naive's weight at most [`NAIVE_SHARE`]): a choice made on recent errors is wrong just after the series turns, and the
//! blend bounds what that costs. Two guards compare the blend's errors with naive's, and the
//! naive forecast is issued unless the blend wins both: over a long stretch
//! ([`GUARD_HALF_LIFE`]), by a clear margin ([`GUARD_MARGIN`]), so that on a series where nothing
//! beats naive (steps and spikes on a flat line) the forecaster is naive; and lately (the
//! candidates' own half-life, [`ERROR_HALF_LIFE`]), so that a stretch where the blend loses is
//! forecast naively as soon as it shows, rather than once it has cost the long run its margin.
//! A forecaster never worse than naive is worth more than one a little better on average.
//!
//! The interval is conformal: the [`COVERAGE`](crate::holt::COVERAGE) quantile of the absolute
//! errors of the last [`INTERVAL_ERRORS`] forecasts issued at that horizon, so it covers about as
//! often as it claims whatever the errors' distribution.

use std::collections::VecDeque;

use crate::holt::Forecast;

/// Samples over which a candidate's error weighs half as much.
pub const ERROR_HALF_LIFE: f64 = 100.0;
/// Another candidate is believed over naive only when its recent error is below naive's by this
/// share.
pub const SWITCH_MARGIN: f64 = 0.03;
/// The most weight the naive forecast has in the blend; the believed candidate has the rest.
pub const NAIVE_SHARE: f64 = 0.4;
/// Samples over which the guard's errors weigh half as much: it compares the blend with naive
/// over a long stretch, so it flips rarely.
pub const GUARD_HALF_LIFE: f64 = 2000.0;
/// The blend is issued only while its long-run error is below naive's by this share.
pub const GUARD_MARGIN: f64 = 0.01;
/// Issued forecasts whose errors make the interval.
pub const INTERVAL_ERRORS: usize = 250;
/// A day and a week in seconds: the cycles looked for.
const CYCLES_S: [f64; 2] = [86_400.0, 604_800.0];
/// Longest cycle, in samples, the history holds (a week of 5-minute samples).
const MAX_CYCLE: usize = 2016;
/// Fewest cycles seen before a seasonal candidate forecasts.
const CYCLES_BEFORE_SEASONAL: usize = 1;

const SES_ALPHAS: [f64; 3] = [0.5, 0.2, 0.05];
/// Windows of the running-median candidates: a level that spikes do not move.
const MEDIANS: [usize; 2] = [5, 15];
/// (α, β, φ) of the trend candidates: two damped, one straight.
const DAMPED: [(f64, f64, f64); 3] = [(0.5, 0.1, 0.9), (0.2, 0.05, 0.98), (0.3, 0.1, 1.0)];

/// The candidates by name, in the order their forecasts are kept.
pub fn candidate_names(cycles: usize) -> Vec<String> {
    let mut names = vec!["naive".to_owned()];
    names.extend(SES_ALPHAS.iter().map(|a| format!("ses({a})")));
    names.extend(MEDIANS.iter().map(|w| format!("median({w})")));
    names.extend(
        DAMPED
            .iter()
            .map(|(a, b, p)| format!("damped({a},{b},{p})")),
    );
    names.extend((0..cycles).map(|c| format!("seasonal({})", ["day", "week"][c])));
    names
}

#[derive(Debug, Clone)]
struct Horizon {
    steps: usize,
    /// Every candidate's forecasts made in the last `steps` samples, oldest first.
    pending: VecDeque<Vec<f64>>,
    /// The forecast issued (the blend, or naive while the guard holds) alongside each of
    /// `pending`.
    issued: VecDeque<f64>,
    /// Each candidate's smoothed absolute error; `None` until it has one.
    error: Vec<Option<f64>>,
    /// Absolute errors of the latest issued forecasts.
    issued_errors: VecDeque<f64>,
    /// The blend alongside each of `pending`, and the discounted sums of its errors and naive's:
    /// over the long stretch, and lately.
    proposed: VecDeque<f64>,
    guard: Option<(f64, f64)>,
    lately: (f64, f64),
}

/// See the module's documentation.
#[derive(Debug, Clone)]
pub struct Selecting {
    horizons: Vec<Horizon>,
    /// Seasonal lags in samples.
    cycles: Vec<usize>,
    history: VecDeque<f64>,
    capacity: usize,
    ses: [f64; 3],
    damped: [(f64, f64); 3],
    seen: usize,
    coverage: f64,
}

fn damped_sum(phi: f64, horizon: usize) -> f64 {
    (1..=horizon).map(|k| phi.powi(k as i32)).sum()
}

impl Selecting {
    /// A forecaster for `horizons` (in samples) of a series sampled every `step_s` seconds (0 if
    /// unknown: no cycles are looked for), with intervals of `coverage`.
    pub fn new(horizons: &[usize], step_s: f64, coverage: f64) -> Self {
        let cycles: Vec<usize> = if step_s > 0.0 {
            CYCLES_S
                .iter()
                .map(|c| c / step_s)
                .filter(|c| c.fract().abs() < 1e-6 && *c >= 2.0 && *c <= MAX_CYCLE as f64)
                .map(|c| c as usize)
                .collect()
        } else {
            Vec::new()
        };
        let longest = horizons.iter().copied().max().unwrap_or(1).max(1);
        let hour = cycles.first().map_or(1, |c| (c / 24).max(1));
        let capacity =
            (cycles.iter().copied().max().unwrap_or(0) + longest + hour + 1).max(MEDIANS[1]);
        let candidates = candidate_names(cycles.len()).len();
        Self {
            horizons: horizons
                .iter()
                .map(|&steps| Horizon {
                    steps: steps.max(1),
                    pending: VecDeque::with_capacity(steps + 1),
                    issued: VecDeque::with_capacity(steps + 1),
                    error: vec![None; candidates],
                    issued_errors: VecDeque::with_capacity(INTERVAL_ERRORS),
                    proposed: VecDeque::with_capacity(steps + 1),
                    guard: None,
                    lately: (0.0, 0.0),
                })
                .collect(),
            cycles,
            history: VecDeque::with_capacity(capacity),
            capacity,
            ses: [0.0; 3],
            damped: [(0.0, 0.0); 3],
            seen: 0,
            coverage,
        }
    }

    /// Take the next sample.
    pub fn observe(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        let weight = 1.0 - 0.5f64.powf(1.0 / ERROR_HALF_LIFE);
        for h in &mut self.horizons {
            if h.pending.len() == h.steps {
                let (made, issued) = (h.pending.pop_front(), h.issued.pop_front());
                let proposed = h.proposed.pop_front();
                if let (Some(made), Some(issued), Some(proposed)) = (made, issued, proposed) {
                    // Discounted sums, not means: the first errors weigh no more than later
                    // ones, so an early tie does not hold the guard shut for thousands of
                    // samples.
                    let keep = 0.5f64.powf(1.0 / GUARD_HALF_LIFE);
                    let (ep, en) = ((x - proposed).abs(), (x - made[0]).abs());
                    let (p, n) = h.guard.unwrap_or((0.0, 0.0));
                    h.guard = Some((p * keep + ep, n * keep + en));
                    let recent = 1.0 - weight;
                    h.lately = (h.lately.0 * recent + ep, h.lately.1 * recent + en);
                    for (err, f) in h.error.iter_mut().zip(&made) {
                        if f.is_nan() {
                            continue;
                        }
                        let e = (x - f).abs();
                        *err = Some(err.map_or(e, |old| old + weight * (e - old)));
                    }
                    if h.issued_errors.len() == INTERVAL_ERRORS {
                        h.issued_errors.pop_front();
                    }
                    h.issued_errors.push_back((x - issued).abs());
                }
            }
        }
        self.update_states(x);
        let made: Vec<Vec<f64>> = self
            .horizons
            .iter()
            .map(|h| self.candidates(h.steps))
            .collect();
        for (k, forecasts) in made.into_iter().enumerate() {
            let chosen = self.believed(k);
            let share = self.naive_share(k, chosen);
            let proposal = share * forecasts[0] + (1.0 - share) * forecasts[chosen];
            let h = &mut self.horizons[k];
            let trusted = h.guard.is_some_and(|(p, n)| p < n * (1.0 - GUARD_MARGIN))
                && h.lately.0 < h.lately.1;
            h.issued
                .push_back(if trusted { proposal } else { forecasts[0] });
            h.proposed.push_back(proposal);
            h.pending.push_back(forecasts);
        }
    }

    fn update_states(&mut self, x: f64) {
        if self.seen == 0 {
            self.ses = [x; 3];
            self.damped = [(x, 0.0); 3];
        } else if self.seen == 1 {
            // The first difference starts the trends: a series that climbs from its first
            // samples is followed at once rather than after the smoothing catches up.
            for level in self.ses.iter_mut() {
                *level = 0.5 * (*level + x);
            }
            self.damped = [(x, x - self.damped[0].0); 3];
        } else {
            for (level, alpha) in self.ses.iter_mut().zip(SES_ALPHAS) {
                *level += alpha * (x - *level);
            }
            for ((level, trend), (alpha, beta, phi)) in self.damped.iter_mut().zip(DAMPED) {
                let predicted = *level + phi * *trend;
                let previous = *level;
                *level = alpha * x + (1.0 - alpha) * predicted;
                *trend = beta * (*level - previous) + (1.0 - beta) * phi * *trend;
            }
        }
        self.seen += 1;
        if self.history.len() == self.capacity {
            self.history.pop_front();
        }
        self.history.push_back(x);
    }

    /// Every candidate's forecast `steps` samples past the newest one (NaN where a candidate
    /// cannot forecast yet).
    fn candidates(&self, steps: usize) -> Vec<f64> {
        let now = self.history.back().copied().unwrap_or(0.0);
        let mut out = vec![now];
        out.extend(self.ses);
        let n = self.history.len();
        for w in MEDIANS {
            let mut last: Vec<f64> = self
                .history
                .iter()
                .skip(n.saturating_sub(w))
                .copied()
                .collect();
            out.push(crate::window::median_in_place(&mut last));
        }
        out.extend(
            self.damped
                .iter()
                .zip(DAMPED)
                .map(|((level, trend), (_, _, phi))| level + damped_sum(phi, steps) * trend),
        );
        for &cycle in &self.cycles {
            let hour = (self.cycles[0] / 24).max(1);
            let enough = self.seen >= cycle * CYCLES_BEFORE_SEASONAL + hour && steps <= cycle;
            if !enough || n < cycle + hour {
                out.push(f64::NAN);
                continue;
            }
            // The value one cycle before the target, and the last hour against the same hour a
            // cycle ago.
            let base = self.history[n - 1 + steps - cycle];
            let recent: f64 = (0..hour).map(|i| self.history[n - 1 - i]).sum::<f64>();
            let before: f64 = (0..hour)
                .map(|i| self.history[n - 1 - i - cycle])
                .sum::<f64>();
            out.push(base + (recent - before) / hour as f64);
        }
        out
    }

    /// The naive forecast's weight in the blend at horizon `k`: the two weighted by the inverse
    /// of their recent errors, naive's weight at most [`NAIVE_SHARE`].
    fn naive_share(&self, k: usize, chosen: usize) -> f64 {
        let errors = &self.horizons[k].error;
        match (errors[0], errors[chosen]) {
            (Some(naive), Some(other)) if chosen != 0 && naive + other > 0.0 => {
                (other / (naive + other)).min(NAIVE_SHARE)
            }
            _ => NAIVE_SHARE,
        }
    }

    /// Which candidate is believed at horizon `k` now.
    fn believed(&self, k: usize) -> usize {
        let errors = &self.horizons[k].error;
        let Some(naive) = errors[0] else { return 0 };
        let mut best = (0, naive * (1.0 - SWITCH_MARGIN));
        for (c, e) in errors.iter().enumerate().skip(1) {
            if let Some(e) = e {
                if *e < best.1 {
                    best = (c, *e);
                }
            }
        }
        best.0
    }

    /// The believed forecast at the `k`-th horizon with its interval; `None` before any sample.
    pub fn forecast(&self, k: usize) -> Option<Forecast> {
        let h = self.horizons.get(k)?;
        let value = *h.issued.back()?;
        let half = quantile(&h.issued_errors, self.coverage);
        Some(Forecast {
            value,
            lower: value - half,
            upper: value + half,
        })
    }

    /// The name of the candidate believed at the `k`-th horizon.
    pub fn believed_name(&self, k: usize) -> String {
        candidate_names(self.cycles.len())
            .swap_remove(self.believed(k.min(self.horizons.len().saturating_sub(1))))
    }

    /// The most memory one forecaster takes, in bytes, for `horizons` and `cycles` as built.
    pub fn bytes(&self) -> usize {
        let candidates = candidate_names(self.cycles.len()).len();
        let per_horizon: usize = self
            .horizons
            .iter()
            .map(|h| (h.steps + 1) * (candidates + 1) + candidates + INTERVAL_ERRORS)
            .sum();
        (self.capacity + per_horizon) * std::mem::size_of::<f64>() + std::mem::size_of::<Self>()
    }
}

/// The `q` quantile of `values` (0 for none).
fn quantile(values: &VecDeque<f64>, q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted: Vec<f64> = values.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[f64], horizons: &[usize], step_s: f64) -> Selecting {
        let mut f = Selecting::new(horizons, step_s, 0.8);
        for x in values {
            f.observe(*x);
        }
        f
    }

    #[test]
    fn a_random_walk_is_forecast_naively() {
        let mut rng = crate::xorshift::XorShift::new(7);
        let mut x = 0.0;
        let walk: Vec<f64> = (0..2000)
            .map(|_| {
                x += rng.between(-1.0, 1.0);
                x
            })
            .collect();
        let f = run(&walk, &[1], 0.0);
        assert_eq!(f.believed_name(0), "naive");
        let forecast = f.forecast(0).unwrap();
        assert_eq!(forecast.value, walk[1999]);
        assert!(forecast.lower < forecast.value && forecast.value < forecast.upper);
    }

    #[test]
    fn noise_around_a_level_is_smoothed_and_a_trend_is_followed() {
        let noise: Vec<f64> = (0..1000)
            .map(|i| 50.0 + if i % 2 == 0 { 3.0 } else { -3.0 })
            .collect();
        let f = run(&noise, &[1], 0.0);
        assert!(
            f.believed_name(0).starts_with("ses"),
            "{}",
            f.believed_name(0)
        );
        let line: Vec<f64> = (0..1000).map(|i| 2.0 * i as f64).collect();
        let f = run(&line, &[5], 0.0);
        assert!(
            f.believed_name(0).starts_with("damped"),
            "{}",
            f.believed_name(0)
        );
        let error = (f.forecast(0).unwrap().value - 2.0 * 1004.0).abs();
        assert!(error < 0.1, "{error}");
    }

    #[test]
    fn a_daily_cycle_is_forecast_from_the_day_before() {
        // Hourly samples: a day is 24 of them.
        let day = |i: usize| 100.0 + 40.0 * (i as f64 * std::f64::consts::TAU / 24.0).sin();
        let values: Vec<f64> = (0..24 * 30).map(day).collect();
        let f = run(&values, &[5], 3600.0);
        // A week of days repeats as exactly as a day does.
        assert!(
            f.believed_name(0).starts_with("seasonal"),
            "{}",
            f.believed_name(0)
        );
        let forecast = f.forecast(0).unwrap();
        assert!(
            (forecast.value - day(24 * 30 - 1 + 5)).abs() < 1.0,
            "{forecast:?}"
        );
    }

    #[test]
    fn intervals_cover_about_as_often_as_they_claim() {
        let mut rng = crate::xorshift::XorShift::new(11);
        let values: Vec<f64> = (0..5000).map(|_| rng.between(0.0, 100.0)).collect();
        let mut f = Selecting::new(&[3], 0.0, 0.8);
        let mut made: VecDeque<Forecast> = VecDeque::new();
        let (mut inside, mut counted) = (0, 0);
        for (i, x) in values.iter().enumerate() {
            if made.len() == 3 {
                let old = made.pop_front().unwrap();
                if i > 1000 {
                    counted += 1;
                    inside += usize::from(old.lower <= *x && *x <= old.upper);
                }
            }
            f.observe(*x);
            made.push_back(f.forecast(0).unwrap());
        }
        let coverage = inside as f64 / counted as f64;
        assert!((0.75..0.85).contains(&coverage), "{coverage}");
    }

    #[test]
    fn a_prefix_forecasts_exactly_as_the_whole_series_did() {
        let values: Vec<f64> = (0..3000)
            .map(|i| ((i * 7919) % 1000) as f64 / 10.0 + (i / 300) as f64)
            .collect();
        let forecasts = |values: &[f64]| -> Vec<Forecast> {
            let mut f = Selecting::new(&[1, 5, 20], 300.0, 0.8);
            values
                .iter()
                .flat_map(|x| {
                    f.observe(*x);
                    (0..3).filter_map(|k| f.forecast(k)).collect::<Vec<_>>()
                })
                .collect()
        };
        let whole = forecasts(&values);
        let prefix = forecasts(&values[..1700]);
        assert_eq!(prefix[..], whole[..prefix.len()]);
    }

    #[test]
    fn memory_stays_bounded() {
        let values: Vec<f64> = (0..20_000).map(|i| (i % 300) as f64).collect();
        let f = run(&values, &[1, 5, 20], 300.0);
        assert!(f.history.len() <= f.capacity);
        assert!(f
            .horizons
            .iter()
            .all(|h| h.issued_errors.len() <= INTERVAL_ERRORS));
        assert!(f.bytes() < 64 * 1024, "{}", f.bytes());
    }
}
