//! Forecasting by analogy: find where in its history a series last moved the way it moves now,
//! and expect it to go on as it went on then.
//!
//! The newest `window` values are compared with every earlier stretch of the same length: their
//! shapes (each relative to its newest value) and their levels (the newest values). A stretch is
//! an analogue when the root-mean-square difference of the shapes and the difference of the
//! levels together (root of the sum of squares) are at most `max_distance` times the spread of
//! the newest window: the same move at the same height, so that a point halfway up a climb is
//! not taken for its foot. The path is today's value moved as the best analogues (at most [`ANALOGUES`],
//! none overlapping another) moved after them, averaged. Load that comes in waves finds its last
//! wave after one cycle, before any period could be estimated; a climb unlike anything before
//! finds none, and the caller falls back on its trend.

/// Most analogues averaged: one is a single noisy draw, a few are a forecast.
pub const ANALOGUES: usize = 3;

/// Where the analogues of the newest `window` values end (the index of each one's newest value),
/// best first; none when the newest barely move (spread under `min_spread`) or nothing earlier
/// that `horizon` values followed moved like them.
pub fn analogues(
    values: &[f64],
    window: usize,
    horizon: usize,
    max_distance: f64,
    min_spread: f64,
) -> Vec<usize> {
    let n = values.len();
    if window < 2 || horizon == 0 || n < 2 * window + horizon {
        return Vec::new();
    }
    let now = values[n - 1];
    let shape: Vec<f64> = values[n - window..].iter().map(|v| v - now).collect();
    let mean = shape.iter().sum::<f64>() / window as f64;
    let spread = (shape.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / window as f64).sqrt();
    if spread < min_spread || spread <= f64::EPSILON {
        return Vec::new();
    }
    // Every stretch that ends early enough for `horizon` values to have followed it.
    let mut matches: Vec<(f64, usize)> = (window - 1..n - horizon)
        .map(|end| {
            let base = values[end];
            let squared: f64 = values[end + 1 - window..=end]
                .iter()
                .zip(&shape)
                .map(|(v, s)| (v - base - s).powi(2))
                .sum();
            let distance = (squared / window as f64 + (base - now).powi(2)).sqrt();
            (distance / spread, end)
        })
        .filter(|(distance, _)| *distance <= max_distance)
        .collect();
    matches.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut chosen: Vec<usize> = Vec::with_capacity(ANALOGUES);
    for (_, end) in matches {
        if chosen.iter().all(|c| c.abs_diff(end) >= window) {
            chosen.push(end);
            if chosen.len() == ANALOGUES {
                break;
            }
        }
    }
    chosen
}

/// The next `horizon` values from the newest of `values`, moved as the `analogues` (ends, from
/// [`analogues`]) moved after them, averaged; empty without analogues.
pub fn path(values: &[f64], analogues: &[usize], horizon: usize) -> Vec<f64> {
    let (Some(&now), false) = (values.last(), analogues.is_empty()) else {
        return Vec::new();
    };
    let k = analogues.len() as f64;
    (1..=horizon)
        .map(|h| {
            now + analogues
                .iter()
                .map(|&e| values[e + h] - values[e])
                .sum::<f64>()
                / k
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hump: a climb of 10 a step for 20 steps, a fall back, calm for 20.
    fn hump(top_at: f64) -> Vec<f64> {
        let rise = (0..20).map(|i| f64::from(i) * top_at / 20.0);
        let fall = (0..20).map(|i| top_at - f64::from(i) * top_at / 20.0);
        rise.chain(fall)
            .chain(std::iter::repeat_n(0.0, 20))
            .collect()
    }

    #[test]
    fn a_second_wave_goes_on_as_the_first_went() {
        let mut values = hump(200.0);
        values.extend(&hump(200.0)[..15]);
        let found = analogues(&values, 10, 10, 0.3, 1.0);
        assert_eq!(found, vec![14], "the first wave at the same height");
        let next = path(&values, &found, 10);
        // The first wave climbed 6 more steps from 140 to 200 and turned: so does the path.
        let top = next.iter().copied().fold(f64::MIN, f64::max);
        assert!((top - 200.0).abs() < 1e-9, "{next:?}");
        assert!(next[9] < next[5], "{next:?}");
    }

    #[test]
    fn a_climb_unlike_anything_before_or_a_flat_stretch_has_no_analogue() {
        let mut values = vec![0.0; 60];
        values.extend((0..10).map(|i| f64::from(i) * 30.0));
        assert!(analogues(&values, 10, 10, 0.3, 1.0).is_empty());
        assert!(analogues(&[5.0; 80], 10, 10, 0.3, 1.0).is_empty());
        assert!(analogues(&[5.0; 10], 10, 10, 0.3, 0.0).is_empty());
        assert!(path(&values, &[], 10).is_empty());
    }
}
