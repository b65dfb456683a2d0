//! Restart intensity: at most `max_restarts` restarts within any `period`, as OTP counts them.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// OTP's `intensity` and `period`. One restart more than `max_restarts` inside `period` makes the
/// supervisor give up: it stops its children and exits, and its parent decides what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Intensity {
    pub max_restarts: u32,
    #[serde(serialize_with = "crate::millis::as_millis")]
    pub period: Duration,
}

impl Default for Intensity {
    /// OTP's default (1 restart in 5 s) suits hand-written trees; Hive's pools of agents that run
    /// user work crash more often, so the default tolerates bursts of several crashes per second.
    fn default() -> Self {
        Self {
            max_restarts: 10,
            period: Duration::from_secs(5),
        }
    }
}

/// The times of the restarts still inside the window. Owned by one supervisor actor, so it needs no
/// locking; it holds at most `max_restarts + 1` instants.
#[derive(Debug)]
pub struct RestartWindow {
    intensity: Intensity,
    stamps: VecDeque<Instant>,
}

impl RestartWindow {
    pub fn new(intensity: Intensity) -> Self {
        Self {
            intensity,
            stamps: VecDeque::new(),
        }
    }

    /// Record a restart at `now`; `false` means the intensity is exceeded and the supervisor must
    /// give up instead of restarting.
    pub fn admit(&mut self, now: Instant) -> bool {
        while let Some(&oldest) = self.stamps.front() {
            if now.duration_since(oldest) >= self.intensity.period {
                self.stamps.pop_front();
            } else {
                break;
            }
        }
        self.stamps.push_back(now);
        self.stamps.len() as u64 <= u64::from(self.intensity.max_restarts)
    }

    /// Restarts inside the window that ends at `now`.
    pub fn recent(&self, now: Instant) -> usize {
        self.stamps
            .iter()
            .filter(|&&t| now.duration_since(t) < self.intensity.period)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(max_restarts: u32, period_ms: u64) -> RestartWindow {
        RestartWindow::new(Intensity {
            max_restarts,
            period: Duration::from_millis(period_ms),
        })
    }

    #[test]
    fn zero_intensity_refuses_the_first_restart() {
        let mut w = window(0, 1000);
        assert!(!w.admit(Instant::now()));
    }

    #[test]
    fn refuses_one_more_than_max_within_the_period() {
        let mut w = window(3, 1000);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(
                w.admit(t0 + Duration::from_millis(i * 100)),
                "restart {i} is within intensity"
            );
        }
        assert!(!w.admit(t0 + Duration::from_millis(400)));
    }

    #[test]
    fn window_slides_so_old_restarts_stop_counting() {
        let mut w = window(2, 1000);
        let t0 = Instant::now();
        assert!(w.admit(t0));
        assert!(w.admit(t0 + Duration::from_millis(500)));
        // The restart at t0 has left the window 1 s later: two in the window again, allowed.
        assert!(w.admit(t0 + Duration::from_millis(1000)));
        assert_eq!(w.recent(t0 + Duration::from_millis(1000)), 2);
        assert!(!w.admit(t0 + Duration::from_millis(1200)));
    }
}
