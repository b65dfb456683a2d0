//! `hive predict --input FILE.csv --limit L`: the monitor's breach warnings on one bounded series,
//! row by row. Each row goes through the monitor's own code ([`Monitor::observe`]) with its
//! defaults, as a live series sampled at the file's interval would, so what it writes on a row
//! is what the monitor would have said then, from that row and earlier ones only.

use hive_stats::series::{seconds, Series};
use serde::Serialize;

use crate::managers::monitor::{Monitor, Reading};

/// What the monitor said on one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub timestamp: String,
    pub value: f64,
    pub time_to_breach_s: Option<f64>,
    pub confidence: Option<f64>,
    pub warning: bool,
}

/// Why a series cannot be predicted on; lines are the file's (the header is line 1).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PredictError {
    #[error("the series has fewer than two rows: no interval to sample at")]
    TooShort,
    #[error("line {line}: `{timestamp}` is not a time (YYYY-MM-DD HH:MM:SS or seconds)")]
    Timestamp { line: usize, timestamp: String },
    #[error("line {line}: the interval changes from {expected_s} s to {found_s} s; the series must be sampled at a fixed interval")]
    Interval {
        line: usize,
        expected_s: f64,
        found_s: f64,
    },
    #[error("--limit must be a finite number")]
    Limit,
}

/// The series' fixed interval in seconds, or the line where it breaks.
fn interval(series: &Series) -> Result<f64, PredictError> {
    let times = series
        .timestamps
        .iter()
        .enumerate()
        .map(|(i, t)| {
            seconds(t).ok_or_else(|| PredictError::Timestamp {
                line: i + 2,
                timestamp: t.clone(),
            })
        })
        .collect::<Result<Vec<f64>, _>>()?;
    let [first, second, ..] = times[..] else {
        return Err(PredictError::TooShort);
    };
    let step = second - first;
    for (i, pair) in times.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        if step <= 0.0 || (gap - step).abs() > 1e-6 * step.max(1.0) {
            return Err(PredictError::Interval {
                line: i + 3,
                expected_s: step,
                found_s: gap,
            });
        }
    }
    Ok(step)
}

/// Every row of `series`, limited at `limit`, as the monitor sees it.
pub fn predict(series: &Series, limit: f64) -> Result<Vec<Prediction>, PredictError> {
    if !limit.is_finite() {
        return Err(PredictError::Limit);
    }
    let step_s = interval(series)?;
    let step_ms = (step_s * 1000.0).round() as u64;
    let mut monitor = Monitor::new(step_ms);
    Ok(series
        .timestamps
        .iter()
        .zip(&series.values)
        .enumerate()
        .map(|(i, (timestamp, value))| {
            let findings = monitor.observe(
                i as i64 * step_ms as i64,
                vec![Reading {
                    name: "series".to_owned(),
                    unit: "",
                    value: *value,
                    limit: Some(limit),
                    leading: false,
                }],
            );
            let view = findings.view.series.into_iter().next();
            Prediction {
                timestamp: timestamp.clone(),
                value: *value,
                time_to_breach_s: view.as_ref().and_then(|v| v.time_to_breach_s),
                confidence: view.as_ref().and_then(|v| v.confidence),
                warning: view.is_some_and(|v| v.warning),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Series {
        Series {
            timestamps: (0..values.len()).map(|i| i.to_string()).collect(),
            values: values.to_vec(),
        }
    }

    /// Quiet, a climb to the limit over 60 s, back down.
    fn climb() -> Vec<f64> {
        let mut values = vec![5.0; 200];
        values.extend((0..60).map(|i| 5.0 + f64::from(i) * 100.0 / 60.0));
        values.extend(vec![110.0; 20]);
        values.extend(vec![5.0; 100]);
        values
    }

    #[test]
    fn a_climb_to_the_limit_is_warned_of_before_it_arrives() {
        let values = climb();
        let rows = predict(&series(&values), 100.0).unwrap();
        let breach = values.iter().position(|v| *v >= 100.0).unwrap();
        let first = rows.iter().position(|r| r.warning).expect("a warning");
        assert!(first < breach, "warned at {first}, breach at {breach}");
        assert!(breach - first >= 10, "only {} s ahead", breach - first);
        assert!(rows[..150]
            .iter()
            .all(|r| !r.warning && r.time_to_breach_s.is_none()));
    }

    #[test]
    fn a_prefix_predicts_exactly_as_the_whole_series_did() {
        let values = climb();
        let whole = predict(&series(&values), 100.0).unwrap();
        let prefix = predict(&series(&values[..230]), 100.0).unwrap();
        assert_eq!(prefix[..], whole[..230]);
    }

    #[test]
    fn a_series_must_keep_one_interval_and_say_where_it_does_not() {
        let mut s = series(&[1.0, 2.0, 3.0, 4.0]);
        s.timestamps[3] = "5".into();
        assert_eq!(
            predict(&s, 10.0),
            Err(PredictError::Interval {
                line: 5,
                expected_s: 1.0,
                found_s: 3.0
            })
        );
        s.timestamps[2] = "noon".into();
        assert!(matches!(
            predict(&s, 10.0),
            Err(PredictError::Timestamp { line: 4, .. })
        ));
        assert_eq!(predict(&series(&[1.0]), 10.0), Err(PredictError::TooShort));
        assert_eq!(
            predict(&series(&[1.0, 2.0]), f64::NAN),
            Err(PredictError::Limit)
        );
    }
}
