//! Scoring anomaly detectors as the Numenta Anomaly Benchmark does (NAB v1.1's rules, as the
//! corpus's README states them):
//!
//! - a row is a detection when its score is at or above one threshold shared by the whole corpus,
//!   the one that maximises the total score;
//! - the first 15 % of each file (at most 750 rows) is probation: never a detection;
//! - in a window of width W whose last row is R, the earliest detection at row i earns
//!   `σ(−(R − i + 1)/W) · tp / σ(−1)`, with `σ(y) = 2/(1 + e^{5y}) − 1`; further detections in the
//!   window earn nothing; a window without one costs `−fn`;
//! - a detection outside every window costs `σ(|i − R'|/(W' − 1)) · fp` for the last window
//!   (R', W') before it, and `−fp` before the first window;
//! - normalised: `100 · (raw − null)/(perfect − null)`, `perfect = tp · windows`,
//!   `null = −fn · windows`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::series::{Series, SeriesError};

/// Why a NAB corpus folder could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read {path}")]
    Labels {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not NAB's windows file")]
    Windows {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Series(#[from] SeriesError),
    #[error("{0}: a window holds no row")]
    EmptyWindow(String),
}

/// The cost weights of one NAB profile.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Profile {
    pub name: &'static str,
    pub tp: f64,
    pub fn_: f64,
    pub fp: f64,
}

pub const STANDARD: Profile = Profile {
    name: "standard",
    tp: 1.0,
    fn_: 1.0,
    fp: 0.11,
};
pub const REWARD_LOW_FP: Profile = Profile {
    name: "reward_low_FP_rate",
    tp: 1.0,
    fn_: 1.0,
    fp: 0.22,
};
pub const REWARD_LOW_FN: Profile = Profile {
    name: "reward_low_FN_rate",
    tp: 1.0,
    fn_: 2.0,
    fp: 0.11,
};
pub const PROFILES: [Profile; 3] = [STANDARD, REWARD_LOW_FP, REWARD_LOW_FN];

/// Probation: the first 15 % of a file, at most 750 rows.
const PROBATION_SHARE: f64 = 0.15;
const PROBATION_MAX: usize = 750;

/// One labelled file: its series and its windows as inclusive row ranges.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub name: String,
    pub series: Series,
    pub windows: Vec<(usize, usize)>,
}

impl Labelled {
    pub fn probation(&self) -> usize {
        ((self.series.len() as f64 * PROBATION_SHARE).floor() as usize).min(PROBATION_MAX)
    }
}

/// NAB's scaled sigmoid.
fn sigma(y: f64) -> f64 {
    2.0 / (1.0 + (5.0 * y).exp()) - 1.0
}

/// Every file of a NAB corpus folder (`data/<category>/<file>.csv` and
/// `combined_windows.json`), in name order.
pub fn load_corpus(root: &Path) -> Result<Vec<Labelled>, CorpusError> {
    let path = root.join("combined_windows.json");
    let text = std::fs::read_to_string(&path).map_err(|source| CorpusError::Labels {
        path: path.clone(),
        source,
    })?;
    let labels: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(&text).map_err(|source| CorpusError::Windows { path, source })?;
    let mut corpus = Vec::new();
    for (name, windows) in labels {
        let series = Series::read_path(&root.join("data").join(&name))?;
        let rows = windows
            .iter()
            .map(|(start, end)| rows_between(&series, start, end))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| CorpusError::EmptyWindow(name.clone()))?;
        corpus.push(Labelled {
            name,
            series,
            windows: rows,
        });
    }
    Ok(corpus)
}

/// NAB writes window edges with microseconds; the series' timestamps have none. Both sort as
/// text once the fraction is cut.
fn timestamp_key(t: &str) -> &str {
    t.split('.').next().unwrap_or(t)
}

fn rows_between(series: &Series, start: &str, end: &str) -> Option<(usize, usize)> {
    let (start, end) = (timestamp_key(start), timestamp_key(end));
    let first = series
        .timestamps
        .iter()
        .position(|t| timestamp_key(t) >= start)?;
    let last = series
        .timestamps
        .iter()
        .rposition(|t| timestamp_key(t) <= end)?;
    (first <= last).then_some((first, last))
}

/// What each row would add to the raw score if it were a detection: `Tp(window, earn)` inside a
/// window, `Fp(cost)` outside, nothing in probation.
#[derive(Debug, Clone, Copy)]
enum Worth {
    Tp { window: usize, earn: f64 },
    Fp(f64),
}

fn worths(file: &Labelled, profile: Profile, first_window: usize) -> Vec<Option<Worth>> {
    let probation = file.probation();
    let mut prev: Option<(usize, usize)> = None;
    let mut next = 0;
    (0..file.series.len())
        .map(|i| {
            while next < file.windows.len() && file.windows[next].1 < i {
                prev = Some(file.windows[next]);
                next += 1;
            }
            if i < probation {
                return None;
            }
            let inside = file
                .windows
                .get(next)
                .filter(|(start, end)| *start <= i && i <= *end);
            Some(match (inside, prev) {
                (Some((start, end)), _) => {
                    let width = (end - start + 1) as f64;
                    let earn = sigma(-((end - i + 1) as f64) / width) * profile.tp / sigma(-1.0);
                    Worth::Tp {
                        window: first_window + next,
                        earn,
                    }
                }
                (None, Some((start, end))) => {
                    let width = (end - start + 1) as f64;
                    let past = (i - end) as f64 / (width - 1.0).max(1.0);
                    Worth::Fp(sigma(past) * profile.fp)
                }
                (None, None) => Worth::Fp(-profile.fp),
            })
        })
        .collect()
}

/// The result of the threshold sweep for one profile.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scored {
    pub profile: &'static str,
    pub threshold: f64,
    pub raw: f64,
    pub normalized: f64,
}

impl Scored {
    /// `raw` on NAB's scale: the detector that never fires 0, a perfect one 100.
    fn normalised(corpus: &[Labelled], profile: Profile, threshold: f64, raw: f64) -> Scored {
        let windows: usize = corpus.iter().map(|f| f.windows.len()).sum();
        let null = -profile.fn_ * windows as f64;
        let perfect = profile.tp * windows as f64;
        Scored {
            profile: profile.name,
            threshold,
            raw,
            normalized: 100.0 * (raw - null) / (perfect - null),
        }
    }
}

/// Score a detector's scores for `corpus` (`scores[f][i]` for file f, row i) under `profile`,
/// with the threshold that maximises the total. Exact: every distinct score is a candidate.
pub fn score(corpus: &[Labelled], scores: &[Vec<f64>], profile: Profile) -> Scored {
    let windows: usize = corpus.iter().map(|f| f.windows.len()).sum();
    let null = -profile.fn_ * windows as f64;
    let mut rows: Vec<(f64, Worth)> = Vec::new();
    let mut first_window = 0;
    for (file, file_scores) in corpus.iter().zip(scores) {
        for (worth, s) in worths(file, profile, first_window)
            .into_iter()
            .zip(file_scores)
        {
            if let Some(worth) = worth {
                rows.push((*s, worth));
            }
        }
        first_window += file.windows.len();
    }
    // Lower the threshold one distinct score at a time; each row that becomes a detection adds
    // its cost, or improves its window's best earning.
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut best_in_window: Vec<Option<f64>> = vec![None; windows];
    let mut total = null;
    // A threshold above every score detects nothing: the null score.
    let mut best = (f64::INFINITY, total);
    let mut i = 0;
    while i < rows.len() {
        let level = rows[i].0;
        while i < rows.len() && rows[i].0 == level {
            match rows[i].1 {
                Worth::Fp(cost) => total += cost,
                Worth::Tp { window, earn } => {
                    let before = best_in_window[window];
                    let now = before.map_or(earn, |b: f64| b.max(earn));
                    total += now - before.unwrap_or(-profile.fn_);
                    best_in_window[window] = Some(now);
                }
            }
            i += 1;
        }
        if total > best.1 {
            best = (level, total);
        }
    }
    Scored::normalised(corpus, profile, best.0, best.1)
}

/// Score a detector's scores for `corpus` at a fixed `threshold`: how a detector does when it
/// fires by its own rule rather than at the best threshold in hindsight.
pub fn score_at(
    corpus: &[Labelled],
    scores: &[Vec<f64>],
    threshold: f64,
    profile: Profile,
) -> Scored {
    let raw: f64 = corpus
        .iter()
        .zip(scores)
        .map(|(file, file_scores)| raw_at(file, file_scores, threshold, profile))
        .sum();
    Scored::normalised(corpus, profile, threshold, raw)
}

/// The raw score of one file at a fixed threshold (for tests and per-file reports).
pub fn raw_at(file: &Labelled, scores: &[f64], threshold: f64, profile: Profile) -> f64 {
    let mut best: Vec<Option<f64>> = vec![None; file.windows.len()];
    let mut total = 0.0;
    for (worth, s) in worths(file, profile, 0).into_iter().zip(scores) {
        match worth {
            Some(Worth::Fp(cost)) if *s >= threshold => total += cost,
            Some(Worth::Tp { window, earn }) if *s >= threshold => {
                best[window] = Some(best[window].map_or(earn, |b: f64| b.max(earn)));
            }
            _ => {}
        }
    }
    total + best.iter().map(|b| b.unwrap_or(-profile.fn_)).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: usize, windows: Vec<(usize, usize)>) -> Labelled {
        Labelled {
            name: "f".into(),
            series: Series {
                timestamps: (0..n).map(|i| format!("{i:06}")).collect(),
                values: vec![0.0; n],
            },
            windows,
        }
    }

    #[test]
    fn an_early_detection_earns_the_full_reward_and_a_late_one_little() {
        let f = file(1000, vec![(500, 599)]);
        let mut scores = vec![0.0; 1000];
        scores[500] = 1.0;
        let early = raw_at(&f, &scores, 0.5, STANDARD);
        assert!((early - 1.0).abs() < 1e-9, "{early}");
        scores[500] = 0.0;
        scores[599] = 1.0;
        let late = raw_at(&f, &scores, 0.5, STANDARD);
        assert!(late > 0.0 && late < 0.1, "{late}");
        // A miss costs fn.
        assert_eq!(raw_at(&f, &vec![0.0; 1000], 0.5, STANDARD), -1.0);
    }

    #[test]
    fn false_alarms_cost_fp_before_the_first_window_and_less_right_after_one() {
        let f = file(1000, vec![(500, 599)]);
        let mut scores = vec![0.0; 1000];
        scores[500] = 1.0;
        scores[300] = 1.0;
        let before = raw_at(&f, &scores, 0.5, STANDARD);
        assert!((before - (1.0 - 0.11)).abs() < 1e-9, "{before}");
        scores[300] = 0.0;
        scores[601] = 1.0;
        let just_after = raw_at(&f, &scores, 0.5, STANDARD) - 1.0;
        assert!(just_after < 0.0 && just_after > -0.02, "{just_after}");
        // Probation (the first 150 rows here) is never a detection.
        scores[601] = 0.0;
        scores[10] = 1.0;
        assert!((raw_at(&f, &scores, 0.5, STANDARD) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_sweep_finds_the_best_threshold_and_normalises() {
        let f = file(1000, vec![(500, 599)]);
        let mut scores = vec![0.1; 1000];
        scores[510] = 0.9;
        scores[700] = 0.5;
        let scored = score(std::slice::from_ref(&f), &[scores.clone()], STANDARD);
        assert_eq!(scored.threshold, 0.9);
        let expected = raw_at(&f, &scores, 0.9, STANDARD);
        assert!((scored.raw - expected).abs() < 1e-9);
        assert!((scored.normalized - 100.0 * (expected + 1.0) / 2.0).abs() < 1e-9);
        // A detector that never stands out is best never fired: it scores 0.
        let none = score(std::slice::from_ref(&f), &[vec![0.0; 1000]], STANDARD);
        assert_eq!(none.threshold, f64::INFINITY);
        assert_eq!(none.normalized, 0.0);
    }
}
