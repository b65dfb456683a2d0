//! Pure statistics for the monitor: no actors, no clocks, every function unit-tested.
//!
//! # Layout
//! - [`window`] — a sliding window with mean, σ, median and MAD.
//! - [`detect`] — online anomaly detectors (robust z-score, EWMA chart, CUSUM) and the
//!   predecessor's rule they are measured against; scores in [0, 1).
//! - [`holt`] — forecasters (Holt's linear trend, damped trend, least-squares line) with
//!   prediction intervals, and time-to-breach.

pub mod detect;
pub mod holt;
pub mod window;

pub use detect::{Detector, DetectorKind};
pub use holt::{Forecast, ForecasterKind, Holt};
