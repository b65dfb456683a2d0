//! Pure statistics for Hive's monitor: no actors, no clocks, every function unit-tested. The
//! monitor, `hive detect`, `hive forecast`, `hive predict` and `hive evaluate` all run this code
//! with the same defaults.
//!
//! # Layout
//! - [`accuracy`] — forecast accuracy (relMAE against naive, interval coverage), online.
//! - [`window`] — a sliding window with mean, σ, median and MAD.
//! - [`xorshift`] — a seeded generator for synthetic series, traces and tests.
//! - [`detect`] — online anomaly detectors by name; scores in [0, 1).
//! - [`novelty`] — the monitor's detector: values and stretches beyond all seen lately.
//! - [`holt`] — forecasters (Holt's linear trend, damped trend, least-squares line) with
//!   prediction intervals, and time-to-breach.
//! - [`select`] — the monitor's forecaster: candidates side by side, the best lately believed.
//! - [`analog`] — forecasting by analogy: the series goes on as it did after moving like this.
//! - [`series`] — `timestamp,value` CSV, as NAB writes it.
//! - [`nab`] — the Numenta Anomaly Benchmark's scoring rules and the threshold sweep.

pub mod accuracy;
pub mod analog;
pub mod detect;
pub mod holt;
pub mod nab;
pub mod novelty;
pub mod select;
pub mod series;
pub mod window;
pub mod xorshift;

pub use detect::{Detector, DetectorKind};
pub use holt::{Forecast, ForecasterKind, Holt};
