//! The monitor's anomaly detector: a sample is anomalous when it, or the shape of the stretch it
//! ends, lies beyond everything the series has shown lately.
//!
//! Two rules, one statistic:
//! - **spatial**: the value is outside the range of every earlier value; the statistic is
//!   `1 + excess / range`.
//! - **contextual**: the last [`NoveltyParams::span`] samples, averaged in blocks (so noise within
//!   a block does not count as shape), are compared with every earlier such stretch held
//!   (`memory` of them, not overlapping the current one). The distance to the nearest is
//!   divided by the largest nearest-neighbour distance of the last `calibration` samples: at 1 or
//!   more, this stretch is further from anything seen than any stretch of late has been.
//!
//! Both ask the same question ("beyond all that was seen?"), so one statistic serves both and
//! its natural alarm is 1, whatever the series' scale or noise ([`ALARM_STAT`] is a hair above):
//! the score is `stat / (stat + 1)`, so [`NOVELTY_ALARM`] is about one half, and a threshold
//! still ranks two extreme samples.
//!
//! After an alarm the contextual statistic is held down for `hold` samples (the stretch that
//! raised it stays novel while it passes through the window, and repeating the alarm says
//! nothing new); a spatial alarm is not repeated for `spatial_hold` samples, so a series
//! climbing to new highs a step at a time alarms once per climb, not once per step.
//!
//! Cost per sample: one pass over `memory` stretches of `blocks` numbers; memory per series is
//! bounded by [`NoveltyParams::bytes`] (34 KB with the defaults).

use std::collections::VecDeque;

use super::detect::Detector;

/// The statistic at which the monitor raises an anomaly: beyond all seen, by a little. On the NAB
/// subset the score is steep around 1 (65.6 at exactly 1, 70.0 here, 70.6 at 1.008, 61.2 at
/// 1.02), and a margin this small keeps the ties and hair-breadth extremes of quantised series
/// out.
pub const ALARM_STAT: f64 = 1.004;

/// The score of [`ALARM_STAT`]: a score at or above it is an alarm.
pub const NOVELTY_ALARM: f64 = ALARM_STAT / (ALARM_STAT + 1.0);

/// The settings of [`Novelty`]; the defaults are the monitor's and `hive evaluate`'s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoveltyParams {
    /// Blocks in one stretch.
    pub blocks: usize,
    /// Samples averaged into one block.
    pub block: usize,
    /// Earlier stretches kept to compare with.
    pub memory: usize,
    /// Nearest-neighbour distances the contextual statistic is measured against.
    pub calibration: usize,
    /// Samples before any score: the range and the stretches of a few samples say little.
    pub warmup: usize,
    /// Samples the contextual statistic is held down after an alarm, and by what factor.
    pub hold: usize,
    pub hold_factor: f64,
    /// Samples after a spatial alarm during which new extremes do not alarm again.
    pub spatial_hold: usize,
}

impl Default for NoveltyParams {
    fn default() -> Self {
        Self {
            blocks: 8,
            block: 4,
            memory: 500,
            calibration: 1000,
            warmup: 150,
            hold: 100,
            hold_factor: 0.1,
            spatial_hold: 10,
        }
    }
}

impl NoveltyParams {
    /// Samples in one stretch.
    pub fn span(&self) -> usize {
        self.blocks * self.block
    }

    /// The most memory one detector's history takes, in bytes.
    pub fn bytes(&self) -> usize {
        (self.memory + self.span()) * self.blocks * std::mem::size_of::<f32>()
            + self.span() * std::mem::size_of::<f64>()
            + self.calibration * std::mem::size_of::<(u64, f64)>()
            + std::mem::size_of::<Novelty>()
    }
}

/// A stretch must be this much further than the furthest of late to reach the alarm: on a
/// quantised series many distances tie with the largest, and a tie is nothing new.
const TIE_MARGIN: f64 = 0.02;

/// Fewest nearest-neighbour distances before the contextual statistic counts.
const MIN_CALIBRATION: usize = 50;

/// The largest of the latest `capacity` values, in O(1) amortised per push (a monotone queue).
#[derive(Debug, Clone)]
struct SlidingMax {
    capacity: usize,
    pushed: u64,
    /// (index, value), values strictly decreasing from front to back.
    queue: VecDeque<(u64, f64)>,
}

impl SlidingMax {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            pushed: 0,
            queue: VecDeque::new(),
        }
    }

    fn max(&self) -> Option<f64> {
        self.queue.front().map(|(_, v)| *v)
    }

    fn len(&self) -> usize {
        self.pushed.min(self.capacity as u64) as usize
    }

    fn push(&mut self, x: f64) {
        while self.queue.back().is_some_and(|(_, v)| *v <= x) {
            self.queue.pop_back();
        }
        self.queue.push_back((self.pushed, x));
        self.pushed += 1;
        let oldest = self.pushed.saturating_sub(self.capacity as u64);
        while self.queue.front().is_some_and(|(i, _)| *i < oldest) {
            self.queue.pop_front();
        }
    }
}

/// See the module's documentation.
#[derive(Debug, Clone)]
pub struct Novelty {
    params: NoveltyParams,
    seen: usize,
    /// The latest `span` values.
    recent: VecDeque<f64>,
    /// Stretches (block means), newest last, `blocks` numbers each; at most `memory + span`
    /// of them, the newest `span` of which overlap the current stretch and are not compared.
    stretches: VecDeque<f32>,
    distances: SlidingMax,
    min: f64,
    max: f64,
    hold_left: usize,
    spatial_left: usize,
}

impl Default for Novelty {
    fn default() -> Self {
        Self::new(NoveltyParams::default())
    }
}

impl Novelty {
    pub fn new(params: NoveltyParams) -> Self {
        let params = NoveltyParams {
            blocks: params.blocks.max(1),
            block: params.block.max(1),
            ..params
        };
        Self {
            params,
            seen: 0,
            recent: VecDeque::with_capacity(params.span()),
            stretches: VecDeque::new(),
            distances: SlidingMax::new(params.calibration),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            hold_left: 0,
            spatial_left: 0,
        }
    }

    /// How far outside the range seen so far `x` is, in ranges (0 inside it). A series that
    /// never moved has no range; any move off it is then measured against a floor so small that
    /// it alarms, as a queue empty for minutes that suddenly fills should.
    fn spatial(&self, x: f64) -> f64 {
        let range = (self.max - self.min).max(1e-9 * (self.max.abs() + 1.0));
        if self.seen < self.params.warmup || range.is_nan() {
            0.0
        } else if x > self.max {
            (x - self.max) / range
        } else if x < self.min {
            (self.min - x) / range
        } else {
            0.0
        }
    }

    /// The contextual statistic of the stretch ending at the newest sample, which is then kept.
    fn contextual(&mut self) -> f64 {
        let NoveltyParams {
            blocks,
            block,
            memory,
            ..
        } = self.params;
        if self.recent.len() < self.params.span() {
            return 0.0;
        }
        let current: Vec<f64> = (0..blocks)
            .map(|b| (0..block).map(|j| self.recent[b * block + j]).sum::<f64>() / block as f64)
            .collect();
        let held = self.stretches.len() / blocks;
        let comparable = held.saturating_sub(self.params.span());
        let mut nearest = f64::INFINITY;
        for s in 0..comparable {
            let earlier = &self.stretches;
            let mut d = 0.0;
            for (b, c) in current.iter().enumerate() {
                let e = f64::from(earlier[s * blocks + b]) - c;
                d += e * e;
                if d >= nearest {
                    break;
                }
            }
            nearest = nearest.min(d);
        }
        // Kept in single precision: half the memory, and a distance between stretches needs no
        // more than seven digits.
        self.stretches.extend(current.iter().map(|c| *c as f32));
        if held + 1 > memory + self.params.span() {
            self.stretches.drain(..blocks);
        }
        if comparable == 0 {
            return 0.0;
        }
        let nearest = nearest.sqrt();
        let stat = match self.distances.max() {
            Some(largest)
                if self.distances.len() >= MIN_CALIBRATION && self.seen > self.params.warmup =>
            {
                if largest > 0.0 {
                    nearest / (largest * (1.0 + TIE_MARGIN))
                } else if nearest > 0.0 {
                    // A series that repeated itself exactly until now.
                    f64::INFINITY
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        self.distances.push(nearest);
        stat
    }
}

impl Detector for Novelty {
    fn score(&mut self, x: f64) -> f64 {
        if !x.is_finite() {
            return 0.0;
        }
        let mut spatial = self.spatial(x);
        if self.spatial_left > 0 {
            self.spatial_left -= 1;
            spatial = 0.0;
        } else if spatial > 0.0 {
            self.spatial_left = self.params.spatial_hold;
        }
        self.seen += 1;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        if self.recent.len() == self.params.span() {
            self.recent.pop_front();
        }
        self.recent.push_back(x);

        let mut contextual = self.contextual();
        if self.hold_left > 0 {
            self.hold_left -= 1;
            contextual *= self.params.hold_factor;
        } else if contextual >= 1.0 {
            self.hold_left = self.params.hold;
        }
        let stat = if spatial > 0.0 {
            // A new extreme also makes a novel stretch; that echo is not a second alarm.
            self.hold_left = self.params.hold;
            contextual.max(1.0 + spatial)
        } else {
            contextual
        };
        if stat.is_infinite() {
            1.0 - f64::EPSILON
        } else {
            stat / (stat + 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = crate::xorshift::XorShift::new(seed);
        (0..n).map(|_| 10.0 + rng.uniform()).collect()
    }

    fn scores(values: &[f64]) -> Vec<f64> {
        let mut d = Novelty::default();
        values.iter().map(|x| d.score(*x)).collect()
    }

    #[test]
    fn a_value_beyond_every_earlier_one_alarms_and_the_climb_alarms_once() {
        let mut values = noisy(600, 7);
        let quiet = scores(&values);
        assert!(
            quiet.iter().skip(300).all(|s| *s < NOVELTY_ALARM),
            "noise alarmed"
        );
        values.push(12.0);
        let s = scores(&values);
        assert!(s[600] >= NOVELTY_ALARM, "{}", s[600]);
        // Higher highs right after it: one alarm, not one per step.
        values.extend([12.5, 13.0, 13.5]);
        let s = scores(&values);
        assert!(
            s[601..].iter().all(|s| *s < NOVELTY_ALARM),
            "{:?}",
            &s[600..]
        );
    }

    #[test]
    fn a_stretch_unlike_any_before_alarms_inside_the_range() {
        // A daily-like square wave; then one "day" whose high part only reaches half as high.
        let day = |high: f64| -> Vec<f64> {
            (0..96)
                .map(|i| if (30..60).contains(&i) { high } else { 20.0 })
                .collect()
        };
        let mut values: Vec<f64> = (0..12).flat_map(|_| day(80.0)).collect();
        let start = values.len();
        values.extend(day(50.0));
        let s = scores(&values);
        let alarms = s[start..].iter().filter(|s| **s >= NOVELTY_ALARM).count();
        assert!(alarms >= 1, "the low day went unnoticed");
        assert!(s[200..start].iter().all(|s| *s < NOVELTY_ALARM));
    }

    #[test]
    fn a_flat_series_that_moves_alarms() {
        let mut values = vec![0.0; 300];
        values.push(5.0);
        let s = scores(&values);
        assert!(s[..300].iter().all(|s| *s == 0.0));
        assert!(s[300] >= NOVELTY_ALARM, "{}", s[300]);
    }

    #[test]
    fn a_prefix_scores_exactly_as_the_whole_series_did() {
        let mut values = noisy(2000, 11);
        values[1500] = 30.0;
        let whole = scores(&values);
        let prefix = scores(&values[..1600]);
        assert_eq!(prefix[..], whole[..1600]);
    }

    #[test]
    fn scores_stay_below_one_and_rank_extremes() {
        let values = noisy(400, 3);
        let mut a = Novelty::default();
        let mut b = Novelty::default();
        for x in &values {
            a.score(*x);
            b.score(*x);
        }
        let (big, huge) = (a.score(100.0), b.score(1e6));
        assert!(big < huge && huge < 1.0, "{big} {huge}");
        assert_eq!(a.score(f64::NAN), 0.0);
    }

    #[test]
    fn memory_stays_bounded_on_a_long_series() {
        let mut d = Novelty::default();
        for x in noisy(5000, 5) {
            d.score(x);
        }
        let p = NoveltyParams::default();
        assert!(d.stretches.len() <= (p.memory + p.span()) * p.blocks);
        assert!(d.distances.queue.len() <= p.calibration);
        assert_eq!(d.recent.len(), p.span());
        assert!(p.bytes() < 64 * 1024, "{}", p.bytes());
    }

    #[test]
    fn the_sliding_max_forgets_what_left_the_window() {
        let mut m = SlidingMax::new(3);
        for x in [5.0, 1.0, 2.0, 3.0] {
            m.push(x);
        }
        assert_eq!(m.max(), Some(3.0));
        m.push(0.5);
        m.push(0.25);
        assert_eq!(m.max(), Some(3.0));
        m.push(0.1);
        assert_eq!(m.max(), Some(0.5));
    }
}
