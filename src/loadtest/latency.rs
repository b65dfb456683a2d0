//! Latency per endpoint in HDR histograms: exact to three significant digits from a microsecond
//! to an hour, in a fixed few kilobytes however many requests a run sends.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Three significant digits: a 1.234 ms answer is told from a 1.235 ms one.
const SIGNIFICANT_DIGITS: u8 = 3;
/// The longest latency recorded, in microseconds (an hour); longer ones count as an hour.
const MAX_MICROS: u64 = 3_600_000_000;

/// Latency percentiles in milliseconds, as reports and scripts read them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// One histogram of latencies.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        // The bounds are constants that hdrhistogram accepts.
        #[expect(clippy::expect_used, reason = "constant, valid bounds")]
        let histogram = Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS)
            .expect("valid histogram bounds");
        Self(histogram)
    }
}

impl Latency {
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS);
        self.0.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn add(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// The `q`-quantile (0..=1) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1e3
    }

    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            p50: self.quantile_ms(0.50),
            p90: self.quantile_ms(0.90),
            p95: self.quantile_ms(0.95),
            p99: self.quantile_ms(0.99),
            max: self.0.max() as f64 / 1e3,
        }
    }
}

/// Latencies by endpoint, named `"POST /api/v1/tasks"` (the route, never an id).
#[derive(Debug, Clone, Default)]
pub struct ByEndpoint(BTreeMap<&'static str, Latency>);

impl ByEndpoint {
    pub fn record(&mut self, endpoint: &'static str, latency: Duration) {
        self.0.entry(endpoint).or_default().record(latency);
    }

    pub fn get(&self, endpoint: &str) -> Option<&Latency> {
        self.0.get(endpoint)
    }

    pub fn merge(&mut self, other: &ByEndpoint) {
        for (endpoint, latency) in &other.0 {
            self.0.entry(endpoint).or_default().add(latency);
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().map(Latency::count).sum()
    }

    pub fn percentiles(&self) -> BTreeMap<String, Percentiles> {
        self.0
            .iter()
            .map(|(endpoint, latency)| ((*endpoint).to_owned(), latency.percentiles()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_every_recorded_value() {
        let mut latency = Latency::default();
        for ms in 1..=100u64 {
            latency.record(Duration::from_millis(ms));
        }
        let p = latency.percentiles();
        assert!((p.p50 - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p99 - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max - 100.0).abs() < 0.1, "{p:?}");
        assert_eq!(latency.count(), 100);
    }

    #[test]
    fn endpoints_are_kept_apart_and_merge() {
        let mut a = ByEndpoint::default();
        a.record("POST /api/v1/tasks", Duration::from_millis(2));
        let mut b = ByEndpoint::default();
        b.record("POST /api/v1/tasks", Duration::from_millis(4));
        b.record("GET /health", Duration::from_millis(1));
        a.merge(&b);
        assert_eq!(a.total(), 3);
        assert_eq!(a.get("POST /api/v1/tasks").map(Latency::count), Some(2));
        assert_eq!(a.percentiles().len(), 2);
    }
}
