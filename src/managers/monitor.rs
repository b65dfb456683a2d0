//! What the monitoring actor (the PerformanceManager) knows between samples: a bounded history
//! of each watched series, its forecast with an 80 % interval and time-to-breach of its limit,
//! and the anomalies its detector flagged. Plain data and arithmetic, driven by the actor once
//! per sample and unit-tested without one; the statistics are `hive_stats`'s, with
//! the monitor's defaults, the same code `hive detect` and `hive forecast` run.

use std::collections::VecDeque;

use hive_stats::analog;
use hive_stats::holt::{linear_trend, time_to_breach, Line, Parabola, COVERAGE, FORECAST_WINDOW};
use hive_stats::novelty::NoveltyParams;
use hive_stats::select::Selecting;
use hive_stats::{Detector, DetectorKind, ForecasterKind, Holt};

use crate::snapshots::monitor::{
    AnomalyView, ForecastView, MonitorView, SeriesView, HORIZON, WARN_CONFIDENCE, WARN_RECENT,
    WARN_STREAK, WARN_WITHIN,
};

/// Samples of history kept per series: ten minutes at the default interval, for the dashboard's
/// charts; the forecasters use the newest [`FORECAST_WINDOW`].
pub const HISTORY: usize = 600;
/// Steps ahead that time-to-breach looks: five minutes at the default interval.
pub const BREACH_LOOKAHEAD: usize = 300;
/// Anomalies kept for `GET /api/v1/monitor/anomalies`.
pub const ANOMALIES_KEPT: usize = 200;
/// A score at or above this is an anomaly: the detector's own alarm (a value or a stretch beyond
/// all the series showed lately), which is also its best threshold on NAB (`hive evaluate`).
pub const ANOMALY_THRESHOLD: f64 = hive_stats::novelty::NOVELTY_ALARM;
/// Fewest samples before a series is forecast: a trend fitted on a handful is noise.
const MIN_SAMPLES: usize = 10;
/// Samples after a series was last at its limit during which it does not warn: coming back down
/// from a breach, its fitted trend still carries the climb, and the breach it would announce is
/// the one just over.
pub const WARN_RECOVERY: u32 = 30;
/// Newest samples whose least-squares line is the second way to a forecast breach: a climb
/// steady enough over half a minute, extended. The damped trend fitted on two minutes
/// lags a climb that starts from a level or from a fall, and misses the first seconds of notice.
pub const CLIMB_SAMPLES: usize = 30;
/// How many standard errors the climb's slope must stand above zero: one sample's noise does not
/// make a climb.
pub const CLIMB_T: f64 = 8.0;
/// Newest samples whose line tells a series that is falling now.
const FALLING_SAMPLES: usize = 3;
/// How many standard errors below zero their slope must stand (three: not noise).
const FALLING_T: f64 = 3.0;
/// Newest samples whose analogues are looked for in a series' history: long enough to have a
/// shape (a third of a minute), short enough that one earlier wave of load holds one.
pub const ANALOG_WINDOW: usize = 20;
/// How far (in spreads of the newest samples) an earlier stretch may differ from them and still
/// be read as the same move at the same height: no further than they are from a flat line.
const ANALOG_DISTANCE: f64 = 1.0;
/// Least spread of the newest samples, as a share of the limit, for analogues to be looked for:
/// a series barely moving has no shape to match.
const ANALOG_SPREAD: f64 = 0.02;
/// How many standard errors below zero the curvature of the newest [`CLIMB_SAMPLES`] must stand
/// for a climb to be read as levelling off (three: the usual bar for "not noise").
pub const LEVEL_T: f64 = 3.0;

/// A reading of one series at one sample.
#[derive(Debug, Clone)]
pub struct Reading {
    pub name: String,
    pub unit: &'static str,
    pub value: f64,
    pub limit: Option<f64>,
    /// The limit is a capacity that leads an overload rather than one itself (demand against
    /// what the agents can finish): being at it is a warning.
    pub leading: bool,
}

struct Series {
    name: String,
    unit: &'static str,
    limit: Option<f64>,
    leading: bool,
    values: VecDeque<f64>,
    detector: Box<dyn Detector + Send>,
    /// The reported forecast, [`HORIZON`] samples ahead.
    forecaster: Selecting,
    /// Consecutive samples with a breach forecast within the horizon.
    forecast_streak: u32,
    /// Samples since the series was last at or past its limit.
    since_breach: u32,
}

impl Series {
    /// The newest `n` samples (fewer while the history is shorter), oldest first.
    fn newest(&self, n: usize) -> Vec<f64> {
        let skip = self.values.len().saturating_sub(n);
        self.values.iter().skip(skip).copied().collect()
    }

    /// Seconds until the least-squares line through the newest `samples` reaches the limit, with
    /// the slope's t statistic, when it climbs clearly ([`CLIMB_T`]).
    fn climb_to_limit(&self, samples: usize, step_s: f64) -> Option<(f64, f64)> {
        let limit = self.limit?;
        let recent = self.newest(samples);
        if recent.len() < samples {
            return None;
        }
        let line = Line::fit(&recent)?;
        let now = line.at((samples - 1) as f64);
        let se = line.slope_se();
        let t = if se > 0.0 {
            line.slope / se
        } else {
            f64::INFINITY
        };
        // The slope two standard errors down: a climb through noise is forecast to arrive later.
        let cautious = line.slope - 2.0 * se;
        (cautious > 0.0 && t >= CLIMB_T && now < limit)
            .then(|| ((limit - now) / cautious * step_s, t))
    }

    /// Whether the newest [`CLIMB_SAMPLES`] bend down clearly ([`LEVEL_T`]) and the parabola
    /// through them stays under the limit over the whole horizon: a climb that is levelling off
    /// (the crest of a cycle, a load finding its level) is not forecast to breach, however its
    /// straight lines extend.
    fn levels_off_below_limit(&self) -> bool {
        let Some(limit) = self.limit else {
            return false;
        };
        let recent = self.newest(CLIMB_SAMPLES);
        if recent.len() < CLIMB_SAMPLES {
            return false;
        }
        let Some(curve) = Parabola::fit(&recent) else {
            return false;
        };
        if curve.curvature_t() > -LEVEL_T {
            return false;
        }
        let (now, end) = (
            (CLIMB_SAMPLES - 1) as f64,
            (CLIMB_SAMPLES - 1 + HORIZON) as f64,
        );
        let highest = match curve.turns_at() {
            Some(turn) if turn > now && turn < end => curve.at(turn),
            _ => curve.at(now).max(curve.at(end)),
        };
        highest < limit
    }

    /// Whether the series' analogues (the stretches of its history that moved as its newest
    /// [`ANALOG_WINDOW`] samples move, at the same height) say it turns under its limit: within
    /// the horizon, the path they foretell stays under it and most of them did not reach it.
    /// Load that comes in waves is read from its last wave; a series with no analogue is not.
    fn analogues_turn_under_limit(&mut self) -> bool {
        let Some(limit) = self.limit else {
            return false;
        };
        let values = self.values.make_contiguous();
        let ends = analog::analogues(
            values,
            ANALOG_WINDOW,
            HORIZON,
            ANALOG_DISTANCE,
            ANALOG_SPREAD * limit,
        );
        if ends.is_empty() {
            return false;
        }
        // An analogue that reached the limit was clipped there: the series climbing from a
        // little lower than it did gets there too, though the path stops short.
        let path = analog::path(values, &ends, HORIZON);
        !(1..=HORIZON).any(|h| {
            let at_limit = ends.iter().filter(|&&e| values[e + h] >= limit).count();
            path[h - 1] >= limit || 2 * at_limit > ends.len()
        })
    }

    /// Whether the newest [`FALLING_SAMPLES`] fall clearly ([`FALLING_T`]): a queue draining
    /// now, after a spike, is not about to fill, whatever lines that take in the spike say.
    fn falling_now(&self) -> bool {
        Line::fit(&self.newest(FALLING_SAMPLES)).is_some_and(|line| {
            let se = line.slope_se();
            line.slope < 0.0 && (se == 0.0 || line.slope / se <= -FALLING_T)
        })
    }

    /// Whether the straight line through the newest [`WARN_RECENT`] samples reaches the limit
    /// within the horizon.
    fn recent_line_reaches_limit(&self) -> bool {
        let Some(limit) = self.limit else {
            return false;
        };
        let recent = self.newest(WARN_RECENT);
        linear_trend(&recent, HORIZON, COVERAGE).is_some_and(|f| f.value >= limit)
    }
}

/// The monitor's state across samples.
pub struct Monitor {
    interval_s: f64,
    series: Vec<Series>,
    anomalies: VecDeque<AnomalyView>,
}

/// What one sample found worth telling: new anomalies and series forecast to breach their limit
/// within the horizon.
#[derive(Debug, Default)]
pub struct Findings {
    pub anomalies: Vec<AnomalyView>,
    pub view: MonitorView,
}

impl Monitor {
    pub fn new(interval_ms: u64) -> Self {
        Self {
            interval_s: interval_ms.max(1) as f64 / 1000.0,
            series: Vec::new(),
            anomalies: VecDeque::new(),
        }
    }

    /// Take one sample's readings at `at_ms`: score each against its history, keep it, forecast.
    pub fn observe(&mut self, at_ms: i64, readings: Vec<Reading>) -> Findings {
        let mut findings = Findings::default();
        for reading in readings {
            let index = match self.series.iter().position(|s| s.name == reading.name) {
                Some(i) => i,
                None => {
                    self.series.push(Series {
                        name: reading.name.clone(),
                        unit: reading.unit,
                        limit: None,
                        leading: reading.leading,
                        values: VecDeque::with_capacity(HISTORY),
                        detector: DetectorKind::MONITOR_DEFAULT.build(),
                        forecaster: Selecting::new(&[HORIZON], self.interval_s, COVERAGE),
                        forecast_streak: 0,
                        since_breach: u32::MAX,
                    });
                    self.series.len() - 1
                }
            };
            let series = &mut self.series[index];
            series.limit = reading.limit;
            let score = series.detector.score(reading.value);
            series.forecaster.observe(reading.value);
            if series.values.len() == HISTORY {
                series.values.pop_front();
            }
            series.values.push_back(reading.value);
            series.since_breach = if reading.limit.is_some_and(|l| reading.value >= l) {
                0
            } else {
                series.since_breach.saturating_add(1)
            };
            if score >= ANOMALY_THRESHOLD {
                let anomaly = AnomalyView {
                    series: reading.name,
                    at_ms,
                    value: reading.value,
                    score,
                };
                if self.anomalies.len() == ANOMALIES_KEPT {
                    self.anomalies.pop_front();
                }
                self.anomalies.push_back(anomaly.clone());
                findings.anomalies.push(anomaly);
            }
        }
        findings.view = self.view();
        findings
    }

    /// Forecast every series and carry each one's warning state one sample on.
    fn view(&mut self) -> MonitorView {
        let mut series: Vec<SeriesView> = self.series.iter().map(|s| self.forecast(s)).collect();
        let horizon_s = HORIZON as f64 * self.interval_s;
        let within_s = WARN_WITHIN as f64 * self.interval_s;
        for (view, s) in series.iter_mut().zip(&mut self.series) {
            // Either way, the newest seconds must still climb (a level reached ends a warning),
            // and not be levelling off under the limit.
            let still_climbing =
                s.recent_line_reaches_limit() && !s.levels_off_below_limit() && !s.falling_now();
            let trend = view.time_to_breach_s.is_some_and(|t| t <= within_s)
                && view.confidence.unwrap_or(0.0) >= WARN_CONFIDENCE
                && still_climbing;
            // The half-minute line, or the newest ten seconds' for a climb that began lately (a
            // burst from a calm level, which the longer line averages with the calm).
            let climb = [CLIMB_SAMPLES, WARN_RECENT]
                .into_iter()
                .filter_map(|samples| s.climb_to_limit(samples, self.interval_s))
                .filter(|(seconds, _)| *seconds <= horizon_s && still_climbing)
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((seconds, t)) = climb {
                if view.time_to_breach_s.is_none_or(|ttb| seconds < ttb) {
                    view.time_to_breach_s = Some(seconds);
                    // How surely the slope is above zero, as for the trend's confidence.
                    view.confidence = Some(hive_stats::holt::normal_cdf(t));
                }
            }
            let climb_near = climb.is_some_and(|(seconds, _)| seconds <= within_s);
            // A series that moved this way at this height before and turned under its limit
            // then (the crest of a wave of load seen before) is not warned of, however its
            // straight lines extend.
            let forecast = (trend || climb_near) && !s.analogues_turn_under_limit();
            s.forecast_streak = if forecast {
                s.forecast_streak.saturating_add(1)
            } else {
                0
            };
            let forecast_held = s.forecast_streak >= WARN_STREAK && s.since_breach > WARN_RECOVERY;
            let leading_at_limit = s.leading && s.since_breach == 0;
            view.warning = forecast_held || leading_at_limit;
            if leading_at_limit && view.time_to_breach_s.is_none() {
                // Its limit is reached now, whatever the smoothed trend says: every reader of the
                // view (events, alerts, the metric) then sees the warning with its time.
                view.time_to_breach_s = Some(0.0);
                view.confidence = Some(1.0);
            }
        }
        MonitorView {
            interval_ms: (self.interval_s * 1000.0) as u64,
            detector: DetectorKind::MONITOR_DEFAULT.as_str(),
            forecaster: ForecasterKind::MONITOR_DEFAULT.as_str(),
            threshold: ANOMALY_THRESHOLD,
            series,
            anomalies: self.anomalies.iter().cloned().collect(),
            history_bytes: self.history_bytes(),
        }
    }

    fn forecast(&self, s: &Series) -> SeriesView {
        let last = s.values.back().copied().unwrap_or(0.0);
        let mut view = SeriesView {
            name: s.name.clone(),
            unit: s.unit,
            last,
            samples: s.values.len(),
            limit: s.limit,
            forecast: None,
            time_to_breach_s: None,
            confidence: None,
            warning: false,
        };
        if s.values.len() < MIN_SAMPLES {
            return view;
        }
        if let Some(f) = s.forecaster.forecast(0) {
            view.forecast = Some(ForecastView {
                horizon_s: HORIZON as f64 * self.interval_s,
                value: f.value,
                lower: f.lower,
                upper: f.upper,
            });
        }
        // Time-to-breach walks a trajectory, step by step to the look-ahead, which the damped
        // trend fitted on the recent window gives and a forecaster of one horizon does not.
        let recent = s.newest(FORECAST_WINDOW);
        let Some((model, _)) = Holt::fit_for(&recent, true, HORIZON) else {
            return view;
        };
        if let Some(limit) = s.limit {
            if let Some((seconds, confidence)) =
                time_to_breach(&model, limit, self.interval_s, BREACH_LOOKAHEAD)
            {
                view.time_to_breach_s = Some(seconds);
                view.confidence = Some(confidence);
            }
        }
        view
    }

    fn history_bytes(&self) -> usize {
        let per_series = std::mem::size_of::<Series>()
            + HISTORY * std::mem::size_of::<f64>()
            + NoveltyParams::default().bytes();
        let forecasters: usize = self.series.iter().map(|s| s.forecaster.bytes()).sum();
        self.series.len() * per_series
            + forecasters
            + self.anomalies.capacity() * std::mem::size_of::<AnomalyView>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(name: &str, value: f64, limit: Option<f64>) -> Reading {
        Reading {
            name: name.to_owned(),
            unit: "bytes",
            value,
            limit,
            leading: false,
        }
    }

    #[test]
    fn a_steady_climb_is_forecast_to_breach_its_limit_about_when_it_will() {
        let mut monitor = Monitor::new(1000);
        let mut view = MonitorView::default();
        // 1 MB a second from 10 MB for five minutes: the 320 MB limit is 11 s after the last.
        for i in 0..300 {
            let v = 10e6 + 1e6 * f64::from(i);
            view = monitor
                .observe(
                    i64::from(i) * 1000,
                    vec![reading("memory.rss", v, Some(320e6))],
                )
                .view;
        }
        let s = &view.series[0];
        let ttb = s.time_to_breach_s.expect("a breach within the look-ahead");
        assert!((ttb - 11.0).abs() <= 2.0, "{s:?}");
        let f = s.forecast.expect("a forecast");
        // Far closer than the naive forecast (30 MB short), and its interval holds the truth.
        assert!((f.value - 339e6).abs() < 6e6, "{f:?}");
        assert!(f.lower <= 339e6 && 339e6 <= f.upper, "{f:?}");
        // A series' history, detector and forecaster together.
        assert!(monitor.observe(300_000, vec![]).view.history_bytes < 128 * 1024);
    }

    #[test]
    fn a_flat_series_never_breaches_and_a_spike_in_it_is_an_anomaly() {
        let mut monitor = Monitor::new(1000);
        let noise = |i: i64| if i % 2 == 0 { 1.0 } else { -1.0 };
        for i in 0..200 {
            let f = monitor.observe(
                i * 1000,
                vec![reading("queue", 100.0 + noise(i), Some(1000.0))],
            );
            assert!(f.anomalies.is_empty(), "sample {i}: {:?}", f.anomalies);
            assert_eq!(f.view.series[0].time_to_breach_s, None);
        }
        let spike = monitor.observe(200_000, vec![reading("queue", 400.0, Some(1000.0))]);
        assert_eq!(spike.anomalies.len(), 1);
        assert_eq!(spike.anomalies[0].at_ms, 200_000);
        assert!(spike.anomalies[0].score >= ANOMALY_THRESHOLD);
        assert_eq!(spike.view.anomalies.len(), 1);
    }

    /// Feed `values` of one series limited at 100, a sample a second, and return each sample's
    /// (forecast within the warning's reach, [`WARN_WITHIN`], warning).
    fn warnings(monitor: &mut Monitor, from: i64, values: &[f64]) -> Vec<(bool, bool)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let view = monitor
                    .observe(
                        (from + i as i64) * 1000,
                        vec![reading("wait.low", v, Some(100.0))],
                    )
                    .view;
                let s = &view.series[0];
                let near = s.time_to_breach_s.is_some_and(|t| t <= WARN_WITHIN as f64)
                    && s.confidence.unwrap_or(0.0) >= WARN_CONFIDENCE;
                (near, s.warning)
            })
            .collect()
    }

    #[test]
    fn a_warning_needs_a_forecast_held_for_its_streak() {
        let mut monitor = Monitor::new(1000);
        // A climb of 1 a second from 0: the limit of 100 comes within a warning's 20 s at ~80.
        let climb: Vec<f64> = (0..95).map(f64::from).collect();
        let seen = warnings(&mut monitor, 0, &climb);
        let first_near = seen
            .iter()
            .position(|s| s.0)
            .expect("the breach is forecast");
        let first_warning = seen.iter().position(|s| s.1).expect("and warned of");
        assert_eq!(
            first_warning,
            first_near + WARN_STREAK as usize - 1,
            "{seen:?}"
        );
        assert!(seen[first_warning..].iter().all(|s| s.1), "{seen:?}");
    }

    #[test]
    fn a_forecast_that_flickers_is_no_warning() {
        let mut monitor = Monitor::new(1000);
        // A sawtooth under the limit: its first rising tooth is forecast to go on rising, the
        // next ones are seen for what they are.
        let values: Vec<f64> = (0..60).map(|i| 70.0 + f64::from(i % 10) * 2.0).collect();
        let seen = warnings(&mut monitor, 0, &values);
        assert!(seen.iter().any(|s| s.0), "the tooth is forecast: {seen:?}");
        assert!(seen.iter().all(|s| !s.1), "{seen:?}");
    }

    #[test]
    fn a_series_coming_back_from_a_breach_does_not_warn_of_it_again() {
        let mut monitor = Monitor::new(1000);
        // Past the limit for ten seconds, then down to 60 and climbing a unit a second: within
        // the horizon of the limit again from ~70, at it again at 100.
        let mut values: Vec<f64> = (0..100).map(|i| f64::from(i) * 1.1).collect();
        values.extend([120.0; 10]);
        let back = values.len();
        values.extend((0..40).map(|i| 60.0 + f64::from(i)));
        let seen = warnings(&mut monitor, 0, &values);
        let recovering = &seen[back..back + WARN_RECOVERY as usize];
        assert!(recovering.iter().any(|s| s.0), "{recovering:?}");
        assert!(recovering.iter().all(|s| !s.1), "{recovering:?}");
        // Past the recovery the climb, still forecast to reach the limit, is warned of again.
        assert!(seen[back + WARN_RECOVERY as usize + 1..]
            .iter()
            .any(|s| s.1));
    }

    #[test]
    fn a_climb_that_levels_off_under_its_limit_is_not_warned_of_once_the_level_is_seen() {
        // Demand (tasks/s) as `hive replay --trace near` drove it: none while the pool was
        // created, calm at half of what the agents finish (79/s), climbing for half a minute,
        // then level at nine tenths. The trend fitted on two minutes carried the climb on for
        // almost half a minute of the level.
        let mut values = vec![0.0; 5];
        values.extend([40.0; 31]);
        values.extend([
            41.0, 41.0, 43.0, 44.0, 45.0, 45.0, 47.0, 48.0, 49.0, 51.0, 51.0, 52.0, 53.0, 55.0,
            55.0, 57.0, 57.0, 59.0, 60.0, 61.0, 61.0, 63.0, 64.0, 65.0, 66.0, 68.0, 68.0, 69.0,
            71.0, 71.0,
        ]);
        let level_from = values.len();
        values.extend([72.0; 60]);
        let mut monitor = Monitor::new(1000);
        let warned: Vec<usize> = values
            .iter()
            .enumerate()
            .filter(|&(i, &v)| {
                let view = monitor
                    .observe(i as i64 * 1000, vec![reading("demand", v, Some(79.0))])
                    .view;
                view.series[0].warning
            })
            .map(|(i, _)| i)
            .collect();
        assert!(
            warned.iter().all(|&i| i < level_from + WARN_RECENT),
            "warned at {warned:?}; level from {level_from}"
        );
    }

    /// One wave of load on a mailbox limited at 100: calm, a steep climb that slows and turns
    /// at 80, a fall back to calm. A little alternating noise keeps every fit honest.
    fn wave() -> Vec<f64> {
        let mut values = vec![0.0; 30];
        values.extend((1..=15).map(|i| 4.0 * f64::from(i)));
        values.extend((1..=10).map(|i| 60.0 + 2.0 * f64::from(i)));
        values.extend((1..=20).map(|i| 80.0 - 4.0 * f64::from(i)));
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (v + if i % 2 == 0 { 0.5 } else { -0.5 }).max(0.0))
            .collect()
    }

    #[test]
    fn a_wave_that_crested_under_its_limit_before_is_not_warned_of_again() {
        let mut monitor = Monitor::new(1000);
        let first = warnings(&mut monitor, 0, &wave());
        assert!(
            first.iter().any(|s| s.1),
            "its first climb, like none before, is warned of: {first:?}"
        );
        let second = warnings(&mut monitor, wave().len() as i64, &wave());
        assert!(
            second.iter().any(|s| s.0),
            "its lines still reach: {second:?}"
        );
        assert!(second.iter().all(|s| !s.1), "{second:?}");
    }

    #[test]
    fn a_burst_from_calm_is_warned_of_ten_seconds_ahead_and_a_spike_draining_is_not() {
        let mut monitor = Monitor::new(1000);
        // Calm, then a climb of 5 a second: the limit of 100 arrives 20 s into it.
        let mut values = vec![0.0; 60];
        values.extend((1..=20).map(|i| 5.0 * f64::from(i)));
        let seen = warnings(&mut monitor, 0, &values);
        let first = seen.iter().position(|s| s.1).expect("a warning");
        assert!(
            first <= values.len() - 1 - 10,
            "warned at {first}: {seen:?}"
        );
        // Calm, a spike to 90 in three seconds, then draining.
        let mut monitor = Monitor::new(1000);
        let mut values = vec![0.0; 60];
        values.extend([30.0, 60.0, 90.0]);
        values.extend((1..=20).map(|i| 90.0 - 3.0 * f64::from(i)));
        let seen = warnings(&mut monitor, 0, &values);
        assert!(seen.iter().all(|s| !s.1), "{seen:?}");
    }

    #[test]
    fn a_leading_series_at_its_limit_is_a_warning_at_once() {
        let mut monitor = Monitor::new(1000);
        let demand = |v: f64| Reading {
            leading: true,
            ..reading("demand", v, Some(100.0))
        };
        for i in 0..20 {
            let view = monitor.observe(i * 1000, vec![demand(50.0)]).view;
            assert!(!view.series[0].warning);
        }
        let over = monitor.observe(20_000, vec![demand(120.0)]).view;
        assert!(over.series[0].warning, "{:?}", over.series[0]);
        // One sample over barely moves the smoothed level: the breach is the observed one, now.
        assert_eq!(over.series[0].time_to_breach_s, Some(0.0));
        assert_eq!(over.series[0].confidence, Some(1.0));
        // A series whose limit is itself the overload is past it, not warned of it.
        let mut monitor = Monitor::new(1000);
        for i in 0..20 {
            monitor.observe(i * 1000, vec![reading("wait.low", 50.0, Some(100.0))]);
        }
        let past = monitor.observe(20_000, vec![reading("wait.low", 120.0, Some(100.0))]);
        assert!(!past.view.series[0].warning);
    }

    #[test]
    fn history_and_anomalies_stay_bounded() {
        let mut monitor = Monitor::new(1000);
        for i in 0..(HISTORY as i64 * 3) {
            // Alternating calm and wild values keeps flagging anomalies.
            let v = if i % 97 == 96 { 1e9 } else { (i % 3) as f64 };
            monitor.observe(i, vec![reading("s", v, None)]);
        }
        assert_eq!(monitor.series[0].values.len(), HISTORY);
        assert!(monitor.anomalies.len() <= ANOMALIES_KEPT);
    }
}
