//! Scoring overload predictions against what really happened (`hive replay`).
//!
//! Once a second, for every bounded series, the replay notes whether the series was past its
//! limit (a *breach*: a mailbox full, a class's oldest queued task past its target) and whether
//! the monitor predicted one (its `warning`, which its `monitor.breach_forecast` events and
//! alerts also go by). Runs of either, per series, are
//! episodes; an episode starts at its first second, and a gap shorter than [`MERGE_GAP_S`] does
//! not end it.
//!
//! - **Recall**: the share of breach episodes predicted at least `lead` seconds before they
//!   began: some second in `[start − window, start − lead]` was an alarm.
//! - **Precision**: the share of alarm episodes (a prediction while the series was not already
//!   past its limit) that a breach of the same series began within `window` seconds after.

use std::collections::BTreeMap;

use serde::Serialize;

/// A pause shorter than this inside a run of breaches (or alarms) does not split it.
pub const MERGE_GAP_S: f64 = 5.0;

/// One series at one second of a replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Seconds since the start of the run.
    pub t: f64,
    pub series: String,
    /// The series was at or past its limit.
    pub breached: bool,
    /// The monitor predicted the limit within its horizon.
    pub predicted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PredictionScore {
    pub breaches: usize,
    /// Breach episodes predicted at least `lead` seconds ahead.
    pub breaches_predicted: usize,
    pub alarms: usize,
    /// Alarm episodes a breach followed within the window.
    pub alarms_confirmed: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    /// Per breach predicted in time, how long before it the first alarm of the window came;
    /// the median, in seconds.
    pub median_lead_s: Option<f64>,
}

impl PredictionScore {
    fn finish(&mut self, leads: &mut [f64]) {
        let share = |n: usize, of: usize| (of > 0).then(|| n as f64 / of as f64);
        self.precision = share(self.alarms_confirmed, self.alarms);
        self.recall = share(self.breaches_predicted, self.breaches);
        leads.sort_by(f64::total_cmp);
        self.median_lead_s = leads.get(leads.len() / 2).copied();
    }
}

/// The starts of the runs of seconds at which `on` holds, gaps under [`MERGE_GAP_S`] bridged.
fn onsets(samples: &[&Observation], on: impl Fn(&Observation) -> bool) -> Vec<f64> {
    let mut starts = Vec::new();
    let mut last_on: Option<f64> = None;
    for s in samples.iter().filter(|s| on(s)) {
        if last_on.is_none_or(|last| s.t - last >= MERGE_GAP_S) {
            starts.push(s.t);
        }
        last_on = Some(s.t);
    }
    starts
}

/// Score the predictions in `observations` made at least `lead` seconds ahead, looking back at
/// most `window` seconds from a breach.
pub fn score(observations: &[Observation], lead: f64, window: f64) -> PredictionScore {
    score_series(observations, lead, window, |_| true)
}

/// [`score`] for each series apart, for those with any breach or alarm.
pub fn score_by_series(
    observations: &[Observation],
    lead: f64,
    window: f64,
) -> BTreeMap<String, PredictionScore> {
    let names: std::collections::BTreeSet<&str> =
        observations.iter().map(|o| o.series.as_str()).collect();
    names
        .into_iter()
        .map(|name| {
            let s = score_series(observations, lead, window, |n| n == name);
            (name.to_owned(), s)
        })
        .filter(|(_, s)| s.breaches + s.alarms > 0)
        .collect()
}

/// One breach episode of one series, and whether it was foreseen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Episode {
    pub series: String,
    /// Seconds since the start of the run at which it began.
    pub start_s: f64,
    /// How long before it the first alarm in `[start − window, start − lead]` came; `None` when
    /// no alarm came in time.
    pub lead_s: Option<f64>,
}

/// Every breach episode in `observations`, series by series, each with the lead of its earliest
/// alarm made at least `lead` and at most `window` seconds ahead.
pub fn episodes(observations: &[Observation], lead: f64, window: f64) -> Vec<Episode> {
    by_series(observations, |_| true)
        .into_iter()
        .flat_map(|(name, samples)| breach_episodes(name, &samples, lead, window))
        .collect()
}

fn by_series(
    observations: &[Observation],
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<&str, Vec<&Observation>> {
    let mut by_series: BTreeMap<&str, Vec<&Observation>> = BTreeMap::new();
    for o in observations.iter().filter(|o| keep(&o.series)) {
        by_series.entry(o.series.as_str()).or_default().push(o);
    }
    for samples in by_series.values_mut() {
        samples.sort_by(|a, b| a.t.total_cmp(&b.t));
    }
    by_series
}

/// An alarm: a prediction while the series was not already past its limit.
fn alarm(o: &Observation) -> bool {
    o.predicted && !o.breached
}

/// The breach episodes of one series' time-ordered `samples`.
fn breach_episodes(name: &str, samples: &[&Observation], lead: f64, window: f64) -> Vec<Episode> {
    onsets(samples, |o| o.breached)
        .into_iter()
        .map(|start| Episode {
            series: name.to_owned(),
            start_s: start,
            lead_s: samples
                .iter()
                .find(|o| alarm(o) && o.t >= start - window && o.t <= start - lead)
                .map(|first| start - first.t),
        })
        .collect()
}

fn score_series(
    observations: &[Observation],
    lead: f64,
    window: f64,
    keep: impl Fn(&str) -> bool,
) -> PredictionScore {
    let mut total = PredictionScore::default();
    let mut leads = Vec::new();
    for (name, samples) in by_series(observations, keep) {
        let breaches = breach_episodes(name, &samples, lead, window);
        let alarms = onsets(&samples, alarm);
        total.breaches += breaches.len();
        total.alarms += alarms.len();
        leads.extend(breaches.iter().filter_map(|e| e.lead_s));
        total.alarms_confirmed += alarms
            .iter()
            .filter(|&&at| {
                breaches
                    .iter()
                    .any(|b| b.start_s >= at && b.start_s <= at + window)
            })
            .count();
    }
    total.breaches_predicted = leads.len();
    total.finish(&mut leads);
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A series observed once a second for `secs`: breached in `breach`, predicted in `alarm`.
    fn run(
        series: &str,
        secs: u32,
        breach: std::ops::Range<u32>,
        alarm: std::ops::Range<u32>,
    ) -> Vec<Observation> {
        (0..secs)
            .map(|t| Observation {
                t: f64::from(t),
                series: series.into(),
                breached: breach.contains(&t),
                predicted: alarm.contains(&t),
            })
            .collect()
    }

    #[test]
    fn a_breach_predicted_early_enough_counts_for_both() {
        // Alarm from 40 s, breach from 60 s: predicted 20 s ahead.
        let s = score(&run("wait.normal", 120, 60..80, 40..80), 10.0, 40.0);
        assert_eq!((s.breaches, s.breaches_predicted), (1, 1));
        assert_eq!((s.alarms, s.alarms_confirmed), (1, 1));
        assert_eq!((s.precision, s.recall), (Some(1.0), Some(1.0)));
        assert_eq!(s.median_lead_s, Some(20.0));
    }

    #[test]
    fn an_alarm_too_late_is_right_but_does_not_predict() {
        // The alarm comes 5 s before the breach: confirmed, yet not 10 s ahead.
        let s = score(&run("mailbox.store", 120, 60..70, 55..70), 10.0, 40.0);
        assert_eq!((s.alarms_confirmed, s.breaches_predicted), (1, 0));
        assert_eq!(s.recall, Some(0.0));
    }

    #[test]
    fn a_false_alarm_and_a_missed_breach_each_cost_their_share() {
        let mut obs = run("wait.low", 200, 150..160, 20..30);
        obs.extend(run("wait.normal", 200, 0..0, 0..0));
        let s = score(&obs, 10.0, 40.0);
        assert_eq!((s.alarms, s.alarms_confirmed), (1, 0));
        assert_eq!((s.breaches, s.breaches_predicted), (1, 0));
        assert_eq!((s.precision, s.recall), (Some(0.0), Some(0.0)));
    }

    #[test]
    fn each_breach_episode_carries_its_own_lead() {
        // wait.low: alarm from 20 s, breach from 45 s; wait.normal: breaches at 10 s and 90 s,
        // the second warned only 5 s ahead.
        let mut obs = run("wait.low", 120, 45..50, 20..50);
        let mut normal = run("wait.normal", 120, 10..15, 85..90);
        normal
            .iter_mut()
            .filter(|o| (90..95).contains(&(o.t as u32)))
            .for_each(|o| o.breached = true);
        obs.extend(normal);
        let found = episodes(&obs, 10.0, 40.0);
        let summary: Vec<(&str, f64, Option<f64>)> = found
            .iter()
            .map(|e| (e.series.as_str(), e.start_s, e.lead_s))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("wait.low", 45.0, Some(25.0)),
                ("wait.normal", 10.0, None),
                ("wait.normal", 90.0, None),
            ]
        );
        let s = score(&obs, 10.0, 40.0);
        assert_eq!((s.breaches, s.breaches_predicted), (3, 1));
    }

    #[test]
    fn short_gaps_do_not_split_episodes_and_nothing_scores_nothing() {
        let mut obs = run("wait.normal", 100, 50..60, 30..50);
        // A one-second dip inside the breach.
        obs[55].breached = false;
        let s = score(&obs, 10.0, 40.0);
        assert_eq!(s.breaches, 1);
        let calm = score(&run("wait.normal", 100, 0..0, 0..0), 10.0, 40.0);
        assert_eq!((calm.precision, calm.recall), (None, None));
    }
}
