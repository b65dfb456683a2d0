//! Which task submissions are turned away early: decided by the shedding plugin, read by every
//! submission.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::task::Priority;

/// Which submissions are turned away early, as the tasks API reads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ShedState {
    /// Submissions of a lower priority than this get 503; `None` while nothing is shed.
    pub below: Option<Priority>,
    /// The series whose forecast called for it, and why.
    pub series: Option<String>,
    pub reason: Option<String>,
    pub since_ms: Option<i64>,
    /// What a refused client is told to wait.
    pub retry_after_s: u64,
}

impl ShedState {
    pub fn refuses(&self, priority: Priority) -> bool {
        self.below.is_some_and(|below| priority < below)
    }

    /// 0 nothing shed, 1 low, 2 low and normal: the `hive_shedding_level` gauge.
    pub fn level(&self) -> i64 {
        match self.below {
            None | Some(Priority::Low) => 0,
            Some(Priority::Normal) => 1,
            Some(_) => 2,
        }
    }
}
