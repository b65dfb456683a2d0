//! Online anomaly detectors: each sees one sample at a time (no look-ahead) and answers a score in
//! [0, 1) for it, computed from that sample and earlier ones only.
//!
//! Scores are monotone in the detector's statistic and never reach 1, so that a threshold can
//! still rank two extreme samples. After an alarm a detector holds its scores down for a while: a
//! level shift keeps a windowed statistic high for as long as the window still remembers the old
//! level, and repeating the alarm says nothing new.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::window::Window;

/// An online detector.
pub trait Detector {
    /// The anomaly score of `x`, given every earlier sample; then `x` joins the history.
    fn score(&mut self, x: f64) -> f64;
}

/// Maps a non-negative statistic onto [0, 1): `SQUASH_AT` maps to one half.
const SQUASH_AT: f64 = 6.0;

fn squash(stat: f64) -> f64 {
    if stat.is_nan() || stat <= 0.0 {
        0.0
    } else if stat.is_infinite() {
        // Still below 1: a threshold of exactly 1 must stay out of reach.
        1.0 - f64::EPSILON
    } else {
        stat / (stat + SQUASH_AT)
    }
}

/// A spread of (almost) zero would make any change an infinite statistic; this floor keeps a
/// change on a flat line large but finite and comparable.
fn spread_floor(level: f64) -> f64 {
    1e-6 * (level.abs() + 1.0)
}

/// Alarm suppression: after a statistic at or above `alarm`, the next `rows` scores are scaled
/// by `factor` unless the statistic grows past the one that raised the alarm.
///
/// The scaled score stays monotone in the statistic within the hold, so a threshold still ranks
/// the samples of a long anomaly; it only puts them below fresh alarms.
#[derive(Debug, Clone)]
struct Hold {
    alarm: f64,
    rows: usize,
    factor: f64,
    left: usize,
    raised_at: f64,
}

impl Hold {
    fn new(alarm: f64, rows: usize) -> Self {
        Self {
            alarm,
            rows,
            factor: 0.2,
            left: 0,
            raised_at: 0.0,
        }
    }

    /// The score of `stat`, held down if an alarm was raised lately.
    fn score(&mut self, stat: f64) -> f64 {
        if self.left > 0 {
            self.left -= 1;
            if stat <= self.raised_at {
                return squash(stat) * self.factor;
            }
        }
        if stat >= self.alarm {
            self.left = self.rows;
            self.raised_at = stat;
        }
        squash(stat)
    }
}

/// The detectors Hive has, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// Values outside the range seen so far, and stretches further from every earlier one than
    /// any of late ([`super::novelty`]).
    Novelty,
    /// Distance from the window's median in MADs (robust z-score).
    RobustZ,
    /// Distance from an exponentially weighted mean in exponentially weighted deviations.
    Ewma,
    /// Cumulative sums of robust z-scores: drifts and level shifts.
    Cusum,
    /// The predecessor's rule as written: 1 when a value is above the mean + 2.5 σ of the
    /// previous 30, else 0.
    Baseline,
}

impl DetectorKind {
    pub const ALL: [DetectorKind; 5] = [
        DetectorKind::Novelty,
        DetectorKind::RobustZ,
        DetectorKind::Ewma,
        DetectorKind::Cusum,
        DetectorKind::Baseline,
    ];

    /// The monitor's detector with its default settings.
    pub const MONITOR_DEFAULT: DetectorKind = DetectorKind::Novelty;

    pub fn as_str(self) -> &'static str {
        match self {
            DetectorKind::Novelty => "novelty",
            DetectorKind::RobustZ => "robust_z",
            DetectorKind::Ewma => "ewma",
            DetectorKind::Cusum => "cusum",
            DetectorKind::Baseline => "baseline",
        }
    }

    /// A new detector of this kind with the default settings (the monitor's).
    pub fn build(self) -> Box<dyn Detector + Send> {
        match self {
            DetectorKind::Novelty => Box::new(super::novelty::Novelty::default()),
            DetectorKind::RobustZ => Box::new(RobustZ::default()),
            DetectorKind::Ewma => Box::new(Ewma::default()),
            DetectorKind::Cusum => Box::new(Cusum::default()),
            DetectorKind::Baseline => Box::new(Baseline::default()),
        }
    }
}

impl fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DetectorKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        DetectorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown detector `{s}` (novelty, robust_z, ewma, cusum, baseline)")
            })
    }
}

/// Robust z-score: `|x − median| / (1.4826 · MAD)` over the previous `window` samples.
#[derive(Debug, Clone)]
pub struct RobustZ {
    window: Window,
    /// Samples seen before any score: a median of a handful says little.
    warmup: usize,
    hold: Hold,
}

impl RobustZ {
    pub fn new(window: usize, warmup: usize) -> Self {
        Self {
            window: Window::new(window),
            warmup,
            hold: Hold::new(8.0, window / 2),
        }
    }
}

impl Default for RobustZ {
    fn default() -> Self {
        Self::new(288, 48)
    }
}

impl Detector for RobustZ {
    fn score(&mut self, x: f64) -> f64 {
        let stat = if self.window.len() < self.warmup {
            0.0
        } else {
            let (median, sigma) = self.window.median_sigma();
            let (_, std) = self.window.mean_std();
            (x - median).abs() / sigma.max(std).max(spread_floor(median))
        };
        self.window.push(x);
        self.hold.score(stat)
    }
}

/// EWMA control chart: the distance of `x` from the weighted mean of earlier samples, in weighted
/// standard deviations.
#[derive(Debug, Clone)]
pub struct Ewma {
    /// Weight of the newest sample; 0.05 remembers about the last 40.
    lambda: f64,
    mean: f64,
    var: f64,
    seen: usize,
    warmup: usize,
    hold: Hold,
}

impl Default for Ewma {
    fn default() -> Self {
        Self {
            lambda: 0.05,
            mean: 0.0,
            var: 0.0,
            seen: 0,
            warmup: 48,
            hold: Hold::new(8.0, 144),
        }
    }
}

impl Detector for Ewma {
    fn score(&mut self, x: f64) -> f64 {
        let stat = if self.seen < self.warmup {
            0.0
        } else {
            (x - self.mean).abs() / self.var.sqrt().max(spread_floor(self.mean))
        };
        if self.seen == 0 {
            self.mean = x;
        } else {
            let d = x - self.mean;
            self.mean += self.lambda * d;
            self.var = (1.0 - self.lambda) * (self.var + self.lambda * d * d);
        }
        self.seen += 1;
        self.hold.score(stat)
    }
}

/// Two-sided CUSUM of robust z-scores (against the previous window's median and MAD), reset after
/// each alarm: it accumulates small persistent departures that no single sample shows.
#[derive(Debug, Clone)]
pub struct Cusum {
    window: Window,
    warmup: usize,
    /// Departures below this many σ are forgiven at every step.
    slack: f64,
    /// The sum at which an alarm is raised and the sums start again.
    alarm: f64,
    high: f64,
    low: f64,
    hold: Hold,
}

impl Default for Cusum {
    fn default() -> Self {
        Self {
            window: Window::new(288),
            warmup: 48,
            slack: 1.0,
            alarm: 12.0,
            high: 0.0,
            low: 0.0,
            hold: Hold::new(12.0, 144),
        }
    }
}

impl Detector for Cusum {
    fn score(&mut self, x: f64) -> f64 {
        let stat = if self.window.len() < self.warmup {
            0.0
        } else {
            let (median, sigma) = self.window.median_sigma();
            let z = (x - median) / sigma.max(spread_floor(median));
            self.high = (self.high + z - self.slack).max(0.0);
            self.low = (self.low - z - self.slack).max(0.0);
            let stat = self.high.max(self.low);
            if stat >= self.alarm {
                // A change: judge what follows against the new regime only.
                self.high = 0.0;
                self.low = 0.0;
                self.window.keep_latest(0);
            }
            stat
        };
        self.window.push(x);
        self.hold.score(stat)
    }
}

/// The predecessor's rule: fires (score 1 in effect, the highest this scale has) when a value
/// is above the mean + 2.5 σ of the previous 30 samples.
#[derive(Debug, Clone)]
pub struct Baseline {
    window: Window,
}

impl Default for Baseline {
    fn default() -> Self {
        Self {
            window: Window::new(30),
        }
    }
}

impl Detector for Baseline {
    fn score(&mut self, x: f64) -> f64 {
        let fired = self.window.is_full() && {
            let (mean, std) = self.window.mean_std();
            x > mean + 2.5 * std
        };
        self.window.push(x);
        if fired {
            1.0 - f64::EPSILON
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(n: usize) -> Vec<f64> {
        let mut rng = crate::xorshift::XorShift::new(0x2545_f491_4f6c_dd1d);
        (0..n).map(|_| 10.0 + rng.uniform()).collect()
    }

    #[test]
    fn every_detector_scores_a_spike_above_the_noise_before_it() {
        for kind in DetectorKind::ALL {
            let mut detector = kind.build();
            let series = noisy(400);
            let quiet: f64 = series
                .iter()
                .map(|x| detector.score(*x))
                .skip(100)
                .fold(0.0, f64::max);
            let spike = detector.score(30.0);
            assert!(spike > quiet, "{kind}: spike {spike} vs noise {quiet}");
            assert!((0.0..1.0).contains(&spike), "{kind}: {spike}");
        }
    }

    #[test]
    fn scores_keep_ranking_extremes_and_never_reach_one() {
        let mut a = RobustZ::default();
        let mut b = RobustZ::default();
        for x in noisy(300) {
            a.score(x);
            b.score(x);
        }
        let (big, huge) = (a.score(1e3), b.score(1e6));
        assert!(big < huge && huge < 1.0, "{big} {huge}");
    }

    #[test]
    fn an_alarm_holds_down_the_echo_of_a_level_shift() {
        let mut d = RobustZ::default();
        for x in noisy(300) {
            d.score(x);
        }
        let first = d.score(20.0);
        let echo = d.score(20.0);
        assert!(echo < first / 2.0, "first {first}, then {echo}");
    }

    #[test]
    fn a_flat_line_scores_nothing_until_it_moves() {
        let mut d = RobustZ::default();
        let flat: Vec<f64> = (0..100).map(|_| d.score(5.0)).collect();
        assert!(flat.iter().all(|s| *s == 0.0));
        assert!(d.score(5.5) > 0.9);
    }

    #[test]
    fn the_baseline_fires_as_written() {
        let mut d = Baseline::default();
        let series = [1.0, 2.0].repeat(15);
        assert!(series.iter().all(|x| d.score(*x) == 0.0));
        // mean 1.5, σ 0.5: the rule fires above 2.75.
        assert_eq!(d.clone().score(2.7), 0.0);
        assert!(d.score(2.8) > 0.99);
    }

    #[test]
    fn detectors_are_named_for_the_command_line() {
        for kind in DetectorKind::ALL {
            assert_eq!(kind.as_str().parse::<DetectorKind>(), Ok(kind));
        }
        assert!("holt".parse::<DetectorKind>().is_err());
    }
}
