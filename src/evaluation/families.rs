//! Overload warnings judged row by row on mailbox-depth series of several load families: the
//! monitor's own code ([`super::predict`]) on series nobody tuned it on, drawn afresh from each
//! family's generator with fixed seeds.
//!
//! A series is a bounded mailbox (limit 1,000) drained by a service of about 100 messages a
//! second and filled by Poisson-like arrivals whose rate follows the family's load shape, sampled
//! once a second:
//! - **ramp**: calm, a climb to a peak between 0.9 and 1.6 times the service rate, a plateau,
//!   relief (peaks under 1 are near misses: no overload follows, any warning is false);
//! - **burst**: calm, a step to between 1.1 and 2.5 times the service rate for 10–60 s, calm
//!   (the smaller steps build over long enough to be foreseeable, the larger do not);
//! - **periodic**: a sine wave around 0.8–0.95 of the service rate, amplitude 0.2–0.5;
//! - **spikes**: 0.7 of the rate, with 3 s spikes of Pareto-distributed height every 15–40 s;
//! - **degradation**: steady arrivals at 0.8 of the first service rate while the service slows
//!   down to 0.6–0.9 of itself over five minutes, and recovers.
//!
//! Scoring, per family:
//! - an overload is a run of seconds at the limit (gaps under 5 s bridged); it is *foreseeable*
//!   when it built over at least [`MIN_BUILD_S`] from a quarter of the limit (the last second at or
//!   under a quarter came that long before it; a climb that began above a quarter, a spike landing
//!   on a queue still draining from an earlier overload, built from the lowest point it climbed
//!   from). Recall counts the foreseeable ones warned
//!   [`LEAD_MIN_S`]–[`LEAD_MAX_S`] ahead: a warning at some second in that span before it began;
//! - an alarm is a run of warnings while under the limit; it is right when the limit is reached
//!   within [`CONFIRM_S`] of its start. Precision counts the right ones.

use serde::Serialize;

use super::predict::{predict, Prediction};
use hive_stats::series::Series;
use hive_stats::xorshift::XorShift;

pub const LIMIT: f64 = 1000.0;
const SERVICE: f64 = 100.0;
const SECONDS: usize = 600;
const SEEDS: u64 = 40;
pub const MIN_BUILD_S: f64 = 15.0;
pub const LEAD_MIN_S: f64 = 10.0;
pub const LEAD_MAX_S: f64 = 30.0;
pub const CONFIRM_S: f64 = 40.0;
const MERGE_GAP_S: f64 = 5.0;

pub const FAMILIES: [&str; 5] = ["ramp", "burst", "periodic", "spikes", "degradation"];

/// One family's score.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FamilyScore {
    pub family: &'static str,
    pub series: usize,
    pub overloads: usize,
    pub foreseeable: usize,
    pub warned_in_time: usize,
    pub alarms: usize,
    pub alarms_right: usize,
    pub recall: Option<f64>,
    pub precision: Option<f64>,
}

/// Arrivals as `load(t)` times the service rate, the service steady, for every second.
fn steady_service(mut load: impl FnMut(f64) -> f64) -> Vec<(f64, f64)> {
    (0..SECONDS)
        .map(|t| (load(t as f64) * SERVICE, SERVICE))
        .collect()
}

/// Arrival and service rates, second by second, of one series of `family`.
fn rates(family: &str, rng: &mut XorShift) -> Vec<(f64, f64)> {
    match family {
        "ramp" => {
            let calm = rng.between(60.0, 150.0);
            let climb = rng.between(40.0, 120.0);
            let peak = rng.between(0.9, 1.6);
            steady_service(|t| {
                if t < calm {
                    0.5
                } else if t < calm + climb {
                    0.5 + (peak - 0.5) * (t - calm) / climb
                } else if t < calm + climb + 60.0 {
                    peak
                } else {
                    0.4
                }
            })
        }
        "burst" => {
            let start = rng.between(60.0, 300.0);
            let length = rng.between(10.0, 60.0);
            let height = rng.between(1.1, 2.5);
            steady_service(|t| {
                if t >= start && t < start + length {
                    height
                } else {
                    0.5
                }
            })
        }
        "periodic" => {
            let period = rng.between(90.0, 180.0);
            let mean = rng.between(0.8, 0.95);
            let amplitude = rng.between(0.2, 0.5);
            steady_service(|t| mean + amplitude * (std::f64::consts::TAU * t / period).sin())
        }
        "spikes" => {
            let mut next = rng.between(15.0, 40.0);
            let (mut until, mut height) = (0.0, 0.0);
            steady_service(|t| {
                if t >= next {
                    height = rng.pareto(1.5).min(8.0);
                    until = t + 3.0;
                    next = t + rng.between(15.0, 40.0);
                }
                if t < until {
                    height
                } else {
                    0.7
                }
            })
        }
        _ => {
            let start = rng.between(30.0, 120.0);
            let floor = rng.between(0.6, 0.9);
            (0..SECONDS)
                .map(|t| {
                    let t = t as f64;
                    let slowed = ((t - start) / 300.0).clamp(0.0, 1.0);
                    let service = if t < start + 420.0 {
                        SERVICE * (1.0 - (1.0 - floor) * slowed)
                    } else {
                        SERVICE
                    };
                    (0.8 * SERVICE, service)
                })
                .collect()
        }
    }
}

/// One series of `family` drawn with `seed`: the mailbox's depth once a second.
pub fn series(family: &str, seed: u64) -> Vec<f64> {
    let mut rng =
        XorShift::new(0x9e37_79b9_7f4a_7c15 ^ (seed + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut depth: f64 = 0.0;
    rates(family, &mut rng)
        .into_iter()
        .map(|(arrival, service)| {
            let arrived = (arrival + arrival.sqrt() * rng.normal()).max(0.0);
            let served = (service + 0.3 * service.sqrt() * rng.normal()).max(0.0);
            depth = (depth + arrived - served).clamp(0.0, LIMIT);
            depth.round()
        })
        .collect()
}

/// Runs of seconds at which `on` holds, gaps under [`MERGE_GAP_S`] bridged: their starts.
fn onsets(on: impl Iterator<Item = bool>) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut last_on: Option<usize> = None;
    for (t, on) in on.enumerate() {
        if on {
            if last_on.is_none_or(|l| (t - l) as f64 > MERGE_GAP_S) {
                starts.push(t);
            }
            last_on = Some(t);
        }
    }
    starts
}

/// Where the climb that reached the limit at `start` built from: the last second at or under a
/// quarter of the limit, unless the climb began above it (on what an earlier overload left, a
/// spike landing on a queue still draining), then the lowest point it climbed from: walking
/// back, the lowest second before the series was last a quarter of the limit above it.
fn build_start(values: &[f64], start: usize) -> usize {
    let mut lowest = start;
    for t in (0..start).rev() {
        if values[t] <= LIMIT / 4.0 {
            return t;
        }
        if values[t] < values[lowest] {
            lowest = t;
        } else if values[t] > values[lowest] + LIMIT / 4.0 {
            return lowest;
        }
    }
    0
}

/// Score one series' predictions.
fn score_series(values: &[f64], rows: &[Prediction], score: &mut FamilyScore) {
    let breached = |t: usize| values[t] >= LIMIT;
    let overloads = onsets((0..values.len()).map(breached));
    for &start in &overloads {
        score.overloads += 1;
        let build = (start - build_start(values, start)) as f64;
        if build < MIN_BUILD_S {
            continue;
        }
        score.foreseeable += 1;
        let from = start.saturating_sub(LEAD_MAX_S as usize);
        let to = start.saturating_sub(LEAD_MIN_S as usize);
        if (from..=to).any(|t| rows[t].warning && !breached(t)) {
            score.warned_in_time += 1;
        }
    }
    let alarms = onsets((0..values.len()).map(|t| rows[t].warning && !breached(t)));
    score.alarms += alarms.len();
    score.alarms_right += alarms
        .iter()
        .filter(|&&a| {
            overloads
                .iter()
                .any(|&o| o >= a && (o - a) as f64 <= CONFIRM_S)
        })
        .count();
}

/// Every family's score over its series.
pub fn evaluate() -> Vec<FamilyScore> {
    FAMILIES
        .iter()
        .map(|family| {
            let mut score = FamilyScore {
                family,
                ..FamilyScore::default()
            };
            for seed in 0..SEEDS {
                let values = series(family, seed);
                let input = Series {
                    timestamps: (0..values.len()).map(|t| t.to_string()).collect(),
                    values: values.clone(),
                };
                // A fixed interval and a finite limit: the series is well formed.
                let Ok(rows) = predict(&input, LIMIT) else {
                    continue;
                };
                score.series += 1;
                score_series(&values, &rows, &mut score);
            }
            let share = |n: usize, of: usize| (of > 0).then(|| n as f64 / of as f64);
            score.recall = share(score.warned_in_time, score.foreseeable);
            score.precision = share(score.alarms_right, score.alarms);
            score
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(warning: bool) -> Prediction {
        Prediction {
            timestamp: String::new(),
            value: 0.0,
            time_to_breach_s: None,
            confidence: None,
            warning,
        }
    }

    #[test]
    fn a_foreseeable_overload_warned_in_time_counts_for_both_and_a_sudden_one_for_neither() {
        // A climb from 0 to the limit over 50 s, at the limit for 10 s; warned from 30 s.
        let mut values: Vec<f64> = (0..100).map(|t| (t as f64 * 20.0).min(LIMIT)).collect();
        values.extend(vec![0.0; 50]);
        // A jump straight to the limit: no build-up.
        values.extend(vec![LIMIT; 5]);
        values.extend(vec![0.0; 50]);
        let rows: Vec<Prediction> = (0..values.len())
            .map(|t| row((30..50).contains(&t)))
            .collect();
        let mut score = FamilyScore::default();
        score_series(&values, &rows, &mut score);
        assert_eq!(
            (score.overloads, score.foreseeable, score.warned_in_time),
            (2, 1, 1)
        );
        assert_eq!((score.alarms, score.alarms_right), (1, 1));
    }

    #[test]
    fn a_spike_landing_on_a_draining_queue_built_only_from_where_it_climbed() {
        // At the limit, draining 30 a second for 20 s (to 400), then a jump back in 2 s.
        let mut values = vec![0.0; 10];
        values.extend([LIMIT; 5]);
        values.extend((1..=20).map(|s| LIMIT - 30.0 * f64::from(s)));
        values.extend([700.0, LIMIT]);
        let again = values.len() - 1;
        assert_eq!(build_start(&values, again), again - 2);
        // A slow climb from 400 with dips of noise built from where it began.
        let slow: Vec<f64> = (0..60)
            .map(|s| 400.0 + 10.0 * f64::from(s) - if s % 7 == 3 { 40.0 } else { 0.0 })
            .chain([LIMIT])
            .collect();
        assert_eq!(build_start(&slow, 60), 0);
    }

    #[test]
    fn an_alarm_no_overload_follows_is_wrong() {
        let values = vec![100.0; 200];
        let rows: Vec<Prediction> = (0..200).map(|t| row((50..60).contains(&t))).collect();
        let mut score = FamilyScore::default();
        score_series(&values, &rows, &mut score);
        assert_eq!(
            (score.alarms, score.alarms_right, score.overloads),
            (1, 0, 0)
        );
    }

    #[test]
    fn every_family_draws_the_same_series_for_a_seed_and_some_overload() {
        for family in FAMILIES {
            assert_eq!(series(family, 3), series(family, 3));
            let any = (0..SEEDS).any(|seed| series(family, seed).contains(&LIMIT));
            assert!(any, "{family} never overloads");
        }
    }
}
