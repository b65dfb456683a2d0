//! One task's way through its attempts, as plain data and transitions that answer what must
//! follow: the actor applies them (store the state, announce it, arm a timer), so each rule is
//! tested here without an actor.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::SpawnHandle;
use rand::Rng;

use crate::domain::agent::AgentId;
use crate::domain::task::{TaskSpec, TaskState, TaskStatus};
use crate::domain::time::now_ms;

/// Where an unfinished task is.
pub(super) enum State {
    Queued,
    /// Waiting out its retry backoff.
    Backoff,
    Running {
        agent: AgentId,
        started: Instant,
        timeout: SpawnHandle,
    },
}

/// An unfinished task as the orchestrator holds it.
pub(super) struct Active {
    /// What it is: shared with every attempt and write.
    pub(super) spec: Arc<TaskSpec>,
    /// Where it is, as the store holds it.
    pub(super) task: TaskState,
    pub(super) state: State,
    /// When it last joined a queue, for its class's queue-wait share.
    pub(super) queued_at: Instant,
    /// Waiting out a retry's backoff (an addressed task's holds its agent's queue meanwhile).
    pub(super) retrying: bool,
}

impl Active {
    pub(super) fn queued(spec: Arc<TaskSpec>, task: TaskState) -> Self {
        Self {
            spec,
            task,
            state: State::Queued,
            queued_at: Instant::now(),
            retrying: false,
        }
    }

    pub(super) fn is_running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }
}

/// How an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// The executor returned an error: the task ends `failed` when no retry is left.
    Error,
    /// The agent crashed or the attempt timed out: the task ends `dead`.
    Crash,
}

/// What follows an attempt that did not succeed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Next {
    /// No retry is left (or none would help): the task ends with this status.
    End(TaskStatus),
    /// Queued again after this backoff.
    Retry(Duration),
}

/// A new attempt starts on `agent`; answers its number.
pub(super) fn start(record: &mut TaskState, agent: &AgentId) -> u32 {
    record.attempts += 1;
    record.status = TaskStatus::Running;
    record.agent_id = Some(agent.to_string());
    record.started_at = Some(now_ms());
    record.attempts
}

/// The attempt failed with `error`: retried with backoff while retries are left and another
/// attempt might help, otherwise the end.
pub(super) fn fail(
    spec: &TaskSpec,
    record: &mut TaskState,
    error: String,
    failure: Failure,
    retryable: bool,
    backoff_base_ms: u64,
) -> Next {
    record.error = Some(error);
    let retries_left = record.attempts <= spec.max_retries;
    if !(retryable && retries_left) {
        return Next::End(match failure {
            Failure::Error => TaskStatus::Failed,
            Failure::Crash => TaskStatus::Dead,
        });
    }
    let delay = retry_delay(backoff_base_ms, record.attempts);
    record.status = TaskStatus::Queued;
    record.agent_id = None;
    record.queued_at = now_ms() + delay.as_millis() as i64;
    Next::Retry(delay)
}

/// The task ends with `status` (and `result`, when it succeeded).
pub(super) fn end(record: &mut TaskState, status: TaskStatus, result: Option<serde_json::Value>) {
    record.status = status;
    record.finished_at = Some(now_ms());
    if result.is_some() {
        record.result = result;
        record.error = None;
    }
}

/// An attempt that ended through no fault of the task (its agent was deleted, the server is
/// draining, the lease was lost) is not counted: the task is queued as it was before it.
pub(super) fn hand_back(record: &mut TaskState) {
    record.attempts = record.attempts.saturating_sub(1);
    record.status = TaskStatus::Queued;
    record.agent_id = None;
    record.started_at = None;
    record.queued_at = now_ms();
}

/// A task found running that this process did not start: its attempt was interrupted (`why`)
/// and counts. Answers whether it may run again; if not, it is dead.
pub(super) fn interrupted(spec: &TaskSpec, record: &mut TaskState, why: &str) -> bool {
    record.status = TaskStatus::Queued;
    record.agent_id = None;
    record.queued_at = now_ms();
    record.error = Some(format!("interrupted: {why} while this attempt ran"));
    if record.attempts > spec.max_retries {
        record.status = TaskStatus::Dead;
        record.finished_at = Some(now_ms());
        return false;
    }
    true
}

/// Exponential from the configured base, with ±20 % jitter so that tasks that failed together
/// do not come back together, capped so that a retry is never more than a minute away.
pub(super) fn retry_delay(base_ms: u64, attempts: u32) -> Duration {
    let raw = Duration::from_millis(base_ms)
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(Duration::from_secs(60));
    raw.mul_f64(rand::rng().random_range(0.8..=1.2))
}

/// The span of one attempt, on the orchestrator's side as on the agent's: a task's whole way is
/// found by its id.
pub(super) fn span(task_id: &str, agent_id: &str, attempt: u32) -> tracing::Span {
    tracing::info_span!("attempt", task_id, agent_id, attempt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::task::{NewTask, TaskRecord};

    fn task(max_retries: u32) -> (Arc<TaskSpec>, TaskState) {
        let new: NewTask = serde_json::from_value(serde_json::json!({
            "role": "worker", "input": {}, "max_retries": max_retries
        }))
        .unwrap();
        TaskRecord::accepted(new, "worker".to_owned().try_into().unwrap(), now_ms()).split()
    }

    #[test]
    fn an_error_is_retried_while_retries_are_left_then_the_task_fails() {
        let (spec, mut t) = task(2);
        let agent: AgentId = "a".into();
        for attempt in 1..=2 {
            assert_eq!(start(&mut t, &agent), attempt);
            let next = fail(&spec, &mut t, "no".into(), Failure::Error, true, 100);
            assert!(matches!(next, Next::Retry(_)), "{next:?}");
            assert_eq!(t.status, TaskStatus::Queued);
            assert_eq!(t.agent_id, None);
        }
        start(&mut t, &agent);
        let next = fail(&spec, &mut t, "no".into(), Failure::Error, true, 100);
        assert_eq!(next, Next::End(TaskStatus::Failed));
        assert_eq!(t.error.as_deref(), Some("no"));
    }

    #[test]
    fn a_crash_without_retries_left_is_dead_and_an_error_nothing_can_mend_is_not_retried() {
        let (spec, mut t) = task(0);
        start(&mut t, &"a".into());
        assert_eq!(
            fail(&spec, &mut t, "boom".into(), Failure::Crash, true, 100),
            Next::End(TaskStatus::Dead)
        );
        let (spec, mut t) = task(5);
        start(&mut t, &"a".into());
        assert_eq!(
            fail(&spec, &mut t, "too big".into(), Failure::Error, false, 100),
            Next::End(TaskStatus::Failed)
        );
    }

    #[test]
    fn a_handed_back_attempt_is_not_counted_and_an_interrupted_one_is() {
        let (spec, mut t) = task(1);
        start(&mut t, &"a".into());
        hand_back(&mut t);
        assert_eq!((t.attempts, t.status), (0, TaskStatus::Queued));
        assert_eq!(t.started_at, None);

        start(&mut t, &"a".into());
        assert!(interrupted(&spec, &mut t, "the server stopped"));
        assert_eq!((t.attempts, t.status), (1, TaskStatus::Queued));
        start(&mut t, &"a".into());
        assert!(!interrupted(&spec, &mut t, "the server stopped"));
        assert_eq!(t.status, TaskStatus::Dead);
        assert!(t.error.unwrap().contains("the server stopped"));
    }

    #[test]
    fn retry_delays_grow_from_the_base_within_the_jitter_and_stop_at_a_minute() {
        for attempts in 1..=4u32 {
            let d = retry_delay(100, attempts).as_secs_f64();
            let expected = 0.1 * f64::from(1u32 << (attempts - 1));
            assert!(
                (0.8 * expected..=1.2 * expected).contains(&d),
                "{attempts}: {d}"
            );
        }
        assert!(retry_delay(100, 30) <= Duration::from_secs(72));
    }
}
