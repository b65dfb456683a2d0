//! A sliding window of the latest samples and the robust statistics the detectors read from it.

use std::collections::VecDeque;

/// The MAD of a normal distribution is 0.6745 σ; this turns a MAD into an estimate of σ.
pub const MAD_TO_SIGMA: f64 = 1.4826;
/// The mean absolute deviation of a normal distribution is 0.7979 σ.
pub const MEAN_ABS_TO_SIGMA: f64 = 1.2533;

/// The latest `capacity` samples, oldest first.
#[derive(Debug, Clone)]
pub struct Window {
    values: VecDeque<f64>,
    capacity: usize,
}

impl Window {
    pub fn new(capacity: usize) -> Self {
        Self {
            values: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, x: f64) {
        if self.values.len() == self.capacity {
            self.values.pop_front();
        }
        self.values.push_back(x);
    }

    /// Forget every sample but the latest `keep`.
    pub fn keep_latest(&mut self, keep: usize) {
        while self.values.len() > keep {
            self.values.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.values.len() == self.capacity
    }

    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        self.values.iter().copied()
    }

    pub fn mean_std(&self) -> (f64, f64) {
        mean_std(self.values.iter().copied())
    }

    /// Median and MAD-based σ: a burst of outliers in the window moves neither much. Where more
    /// than half the window holds one value (a quantised or mostly idle series) the MAD is 0;
    /// the mean absolute deviation, scaled to σ for a normal distribution, stands in for it.
    pub fn median_sigma(&self) -> (f64, f64) {
        let mut sorted: Vec<f64> = self.values.iter().copied().collect();
        let median = median_in_place(&mut sorted);
        let mut deviations: Vec<f64> = self.values.iter().map(|x| (x - median).abs()).collect();
        let mad = median_in_place(&mut deviations);
        if mad > 0.0 {
            return (median, MAD_TO_SIGMA * mad);
        }
        let mean_abs = deviations.iter().sum::<f64>() / deviations.len().max(1) as f64;
        (median, MEAN_ABS_TO_SIGMA * mean_abs)
    }
}

/// Mean and (population) standard deviation.
pub fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count() as f64;
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The median of `values` (reordered); 0 for none.
pub fn median_in_place(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_the_latest_and_its_robust_spread_ignores_an_outlier() {
        let mut w = Window::new(5);
        for x in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] {
            w.push(x);
        }
        assert_eq!(w.iter().collect::<Vec<_>>(), [2.0, 3.0, 4.0, 5.0, 6.0]);
        w.push(1000.0);
        let (median, sigma) = w.median_sigma();
        assert_eq!(median, 5.0);
        assert!((sigma - MAD_TO_SIGMA).abs() < 1e-9, "{sigma}");
        let (mean, std) = mean_std([1.0, 3.0].into_iter());
        assert_eq!((mean, std), (2.0, 1.0));
    }
}
