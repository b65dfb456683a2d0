//! Delay before a restart: immediate for a first crash, then exponential with jitter and a cap, so
//! that a child in a crash loop does not burn a core while its supervisor counts towards giving up.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Backoff {
    /// Delay before the second consecutive restart; doubles with each one after.
    #[serde(serialize_with = "crate::millis::as_millis")]
    pub base: Duration,
    #[serde(serialize_with = "crate::millis::as_millis")]
    pub max: Duration,
    /// Fraction of the delay added or taken away at random, so that children that crashed together
    /// do not restart in lockstep.
    pub jitter: f64,
    /// A child that ran this long without crashing starts again from an immediate restart.
    #[serde(serialize_with = "crate::millis::as_millis")]
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(10),
            max: Duration::from_secs(2),
            jitter: 0.2,
            reset_after: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// No delay at all, as OTP restarts; for tests and trees that must restart at once.
    pub fn immediate() -> Self {
        Self {
            base: Duration::ZERO,
            max: Duration::ZERO,
            jitter: 0.0,
            ..Self::default()
        }
    }

    /// Delay before restart number `consecutive` (1 for the first crash after a stable run).
    pub fn delay(&self, consecutive: u32) -> Duration {
        if consecutive <= 1 || self.base.is_zero() {
            return Duration::ZERO;
        }
        let exponent = (consecutive - 2).min(30);
        let raw = self.base.saturating_mul(1u32 << exponent).min(self.max);
        if self.jitter <= 0.0 {
            return raw;
        }
        let spread = rand::rng().random_range(-self.jitter..=self.jitter);
        raw.mul_f64((1.0 + spread).max(0.0)).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_restart_is_immediate_then_doubles_up_to_the_cap() {
        let b = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        assert_eq!(b.delay(1), Duration::ZERO);
        assert_eq!(b.delay(2), Duration::from_millis(10));
        assert_eq!(b.delay(3), Duration::from_millis(20));
        assert_eq!(b.delay(5), Duration::from_millis(80));
        assert_eq!(b.delay(40), Duration::from_secs(2));
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_the_cap() {
        let b = Backoff::default();
        for _ in 0..1000 {
            let d = b.delay(3);
            assert!(
                d >= Duration::from_millis(16) && d <= Duration::from_millis(24),
                "{d:?}"
            );
        }
    }
}
