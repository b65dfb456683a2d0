//! How long the oldest queued task of each priority class has waited, published by the
//! orchestrator at every queue change and read by the monitor at every sample, which forecasts
//! it against the class's queue-wait target (`wait.<priority>`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::domain::task::Priority;

/// Per class, when its oldest queued task was queued (milliseconds since `epoch`), or
/// `EMPTY`.
pub struct QueueAges {
    epoch: Instant,
    oldest: [AtomicU64; 4],
}

const EMPTY: u64 = u64::MAX;

impl Default for QueueAges {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            oldest: std::array::from_fn(|_| AtomicU64::new(EMPTY)),
        }
    }
}

impl QueueAges {
    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// The class's oldest queued task was queued at `at`, or the class is empty.
    pub fn set(&self, priority: Priority, at: Option<Instant>) {
        let value = at.map_or(EMPTY, |at| self.millis(at));
        self.oldest[priority.index()].store(value, Ordering::Relaxed);
    }

    /// How long the class's oldest queued task has waited by `now`, in milliseconds; 0 when
    /// nothing is queued.
    pub fn wait_ms(&self, priority: Priority, now: Instant) -> u64 {
        match self.oldest[priority.index()].load(Ordering::Relaxed) {
            EMPTY => 0,
            queued => self.millis(now).saturating_sub(queued),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_wait_of_the_oldest_task_grows_until_its_class_empties() {
        let ages = QueueAges::default();
        let t0 = Instant::now();
        assert_eq!(ages.wait_ms(Priority::Low, t0), 0);
        ages.set(Priority::Low, Some(t0));
        assert_eq!(
            ages.wait_ms(Priority::Low, t0 + Duration::from_millis(1500)),
            1500
        );
        assert_eq!(
            ages.wait_ms(Priority::High, t0 + Duration::from_millis(1500)),
            0
        );
        ages.set(Priority::Low, None);
        assert_eq!(ages.wait_ms(Priority::Low, t0 + Duration::from_secs(9)), 0);
    }
}
