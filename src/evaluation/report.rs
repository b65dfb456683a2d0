//! `hive evaluate --nab DIR`: every detector scored by NAB's rules on the corpus, next to the
//! predecessor's rule, and every forecaster's MASE per horizon on the same series.

use std::fmt;
use std::path::Path;

use anyhow::Context as _;
use hive_stats::{DetectorKind, ForecasterKind};
use serde::Serialize;

use super::accuracy::mase_every;
use hive_stats::nab::{self, Scored};
use hive_stats::window::median_in_place;

#[derive(Debug, Clone, Serialize)]
pub struct DetectorScores {
    pub detector: DetectorKind,
    /// One per NAB profile: standard, reward_low_FP_rate, reward_low_FN_rate.
    pub profiles: Vec<Scored>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaseRow {
    pub forecaster: ForecasterKind,
    pub horizon: usize,
    /// Over the series that have a MASE (a flat line has none).
    pub mean: f64,
    pub median: f64,
    pub below_one: usize,
    pub series: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub files: usize,
    pub windows: usize,
    pub detectors: Vec<DetectorScores>,
    /// The predecessor's rule firing as written (every row it flags is a detection), standard
    /// profile: the figure to beat.
    pub baseline_as_written: Scored,
    pub forecasts: Vec<MaseRow>,
}

/// The baseline scores just under 1 when its rule fires and 0 otherwise.
const BASELINE_FIRES_AT: f64 = 0.5;

/// Every file's scores from `detector`.
fn corpus_scores(corpus: &[nab::Labelled], detector: DetectorKind) -> Vec<Vec<f64>> {
    corpus
        .iter()
        .map(|file| super::detect(&file.series.values, detector))
        .collect()
}

/// `forecaster`'s MASE per horizon over the corpus, from every `stride`-th row.
fn mase_rows(
    corpus: &[nab::Labelled],
    forecaster: ForecasterKind,
    horizons: &[usize],
    stride: usize,
) -> Vec<MaseRow> {
    let per_file: Vec<Vec<Option<f64>>> = corpus
        .iter()
        .map(|file| mase_every(&file.series.values, forecaster, horizons, stride))
        .collect();
    horizons
        .iter()
        .enumerate()
        .map(|(k, horizon)| {
            let mut values: Vec<f64> = per_file.iter().filter_map(|m| m[k]).collect();
            let series = values.len();
            MaseRow {
                forecaster,
                horizon: *horizon,
                mean: values.iter().sum::<f64>() / series.max(1) as f64,
                below_one: values.iter().filter(|m| **m < 1.0).count(),
                median: median_in_place(&mut values),
                series,
            }
        })
        .collect()
}

/// Score every detector and forecaster on the NAB corpus at `root`.
pub fn evaluate(root: &Path, horizons: &[usize]) -> anyhow::Result<Evaluation> {
    let corpus = nab::load_corpus(root)?;
    let mut baseline_as_written = None;
    let detectors = DetectorKind::ALL
        .into_iter()
        .map(|detector| {
            let scores = corpus_scores(&corpus, detector);
            if detector == DetectorKind::Baseline {
                baseline_as_written = Some(nab::score_at(
                    &corpus,
                    &scores,
                    BASELINE_FIRES_AT,
                    nab::STANDARD,
                ));
            }
            DetectorScores {
                detector,
                profiles: nab::PROFILES
                    .iter()
                    .map(|p| nab::score(&corpus, &scores, *p))
                    .collect(),
            }
        })
        .collect();
    let baseline_as_written =
        baseline_as_written.context("DetectorKind::ALL has no baseline to compare with")?;
    let forecasts = ForecasterKind::ALL
        .into_iter()
        .flat_map(|forecaster| mase_rows(&corpus, forecaster, horizons, 1))
        .collect();
    Ok(Evaluation {
        files: corpus.len(),
        windows: corpus.iter().map(|f| f.windows.len()).sum(),
        detectors,
        baseline_as_written,
        forecasts,
    })
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "NAB: {} files, {} windows; normalised scores (null 0, perfect 100)",
            self.files, self.windows
        )?;
        writeln!(
            f,
            "{:<10} {:>10} {:>14} {:>14} {:>12}",
            "detector", "standard", "low FP rate", "low FN rate", "threshold"
        )?;
        for d in &self.detectors {
            let p = &d.profiles;
            writeln!(
                f,
                "{:<10} {:>10.1} {:>14.1} {:>14.1} {:>12.4}",
                d.detector.as_str(),
                p[0].normalized,
                p[1].normalized,
                p[2].normalized,
                p[0].threshold
            )?;
        }
        writeln!(
            f,
            "{:<10} {:>10.1}   (the predecessor's rule firing as written)",
            "baseline*", self.baseline_as_written.normalized
        )?;
        writeln!(
            f,
            "\nforecast accuracy (MASE against the naive forecast; < 1 beats it)"
        )?;
        writeln!(
            f,
            "{:<10} {:>8} {:>8} {:>8} {:>14}",
            "forecaster", "horizon", "mean", "median", "series < 1"
        )?;
        for m in &self.forecasts {
            writeln!(
                f,
                "{:<10} {:>8} {:>8.3} {:>8.3} {:>10}/{}",
                m.forecaster.as_str(),
                m.horizon,
                m.mean,
                m.median,
                m.below_one,
                m.series
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NAB subset beside the repository, as CI and the README's commands have it.
    fn corpus_root() -> Option<std::path::PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nab");
        if root.join("combined_windows.json").is_file() {
            Some(root)
        } else {
            eprintln!("SKIPPED: no NAB corpus at {}", root.display());
            None
        }
    }

    #[test]
    fn on_nab_the_monitor_beats_the_predecessor_and_the_naive_forecast() {
        let Some(root) = corpus_root() else { return };
        let corpus = nab::load_corpus(&root).unwrap();
        assert_eq!(corpus.len(), 31);
        // The corpus README gives about -246 for the predecessor's rule firing as written.
        let as_written = nab::score_at(
            &corpus,
            &corpus_scores(&corpus, DetectorKind::Baseline),
            BASELINE_FIRES_AT,
            nab::STANDARD,
        );
        assert!(
            (-250.0..-240.0).contains(&as_written.normalized),
            "{as_written:?}"
        );
        // Windowed Gaussian, the simplest published detector, scores 37.7 on this subset.
        let ours = nab::score(
            &corpus,
            &corpus_scores(&corpus, DetectorKind::MONITOR_DEFAULT),
            nab::STANDARD,
        );
        assert!(ours.normalized > 37.7, "{ours:?}");
        // Every 20th row keeps a debug build quick; `hive evaluate` scores them all.
        for row in mase_rows(&corpus, ForecasterKind::MONITOR_DEFAULT, &[1, 20], 20) {
            assert!(
                row.mean < 1.0,
                "MASE at horizon {}: {}",
                row.horizon,
                row.mean
            );
        }
    }
}
