//! Where one `POST /api/v1/tasks` spends its time, phase by phase, from the HTTP handler to the
//! 202: the submission's tail is read here rather than guessed at.
//!
//! A [`SubmitClock`] travels with the submission (in the orchestrator's `Submit`, the store's
//! write and its answer) and each place it reaches closes the phase before it. Its phases add
//! up to the handler's own time, so a slow tail shows which hop it comes from: a mailbox wait,
//! the wait for the batch in flight to commit, the commit itself, or the answer's way back.

use std::time::Instant;

use prometheus::Histogram;

/// One stretch of a submission's way, in the order it goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sent by the HTTP handler, not yet handled by the orchestrator (its mailbox).
    ToOrchestrator,
    /// Written by the orchestrator, not yet taken by the store (its mailbox).
    ToStore,
    /// Taken by the store, waiting for the batch before it to commit.
    BatchWait,
    /// Its batch's transaction, from begin to the commit's return (the fsync included).
    Commit,
    /// Committed, not yet handled by the orchestrator, which queues it and answers.
    Answer,
    /// Answered by the orchestrator, not yet back in the HTTP handler.
    Reply,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::ToOrchestrator,
        Phase::ToStore,
        Phase::BatchWait,
        Phase::Commit,
        Phase::Answer,
        Phase::Reply,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::ToOrchestrator => "to_orchestrator",
            Phase::ToStore => "to_store",
            Phase::BatchWait => "batch_wait",
            Phase::Commit => "commit",
            Phase::Answer => "answer",
            Phase::Reply => "reply",
        }
    }
}

/// The histograms of `hive_submit_phase_seconds`, one per phase, resolved once.
#[derive(Clone)]
pub struct PhaseHistograms([Histogram; 6]);

impl PhaseHistograms {
    pub fn new(of: impl Fn(Phase) -> Histogram) -> Self {
        Self(Phase::ALL.map(of))
    }

    pub fn of(&self, phase: Phase) -> &Histogram {
        &self.0[phase as usize]
    }
}

/// When the phase under way began; [`SubmitClock::lap`] closes it and starts the next.
#[derive(Debug, Clone, Copy)]
pub struct SubmitClock {
    since: Instant,
}

impl SubmitClock {
    pub fn start() -> Self {
        Self {
            since: Instant::now(),
        }
    }

    /// Record `phase` as ended now.
    pub fn lap(&mut self, phases: &PhaseHistograms, phase: Phase) {
        self.lap_at(phases, phase, Instant::now());
    }

    /// Record `phase` as ended at `at` (a moment several submissions share, such as their
    /// batch's commit).
    pub fn lap_at(&mut self, phases: &PhaseHistograms, phase: Phase, at: Instant) {
        let took = at.saturating_duration_since(self.since);
        phases.of(phase).observe(took.as_secs_f64());
        self.since = self.since.max(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::HistogramOpts;

    #[test]
    fn each_lap_is_recorded_under_its_own_phase_and_the_laps_add_up() {
        let phases = PhaseHistograms::new(|p| {
            Histogram::with_opts(HistogramOpts::new("t", p.as_str())).unwrap()
        });
        let start = Instant::now();
        let mut clock = SubmitClock { since: start };
        let commit_at = start + std::time::Duration::from_millis(3);
        clock.lap_at(
            &phases,
            Phase::BatchWait,
            start + std::time::Duration::from_millis(1),
        );
        clock.lap_at(&phases, Phase::Commit, commit_at);
        assert_eq!(phases.of(Phase::BatchWait).get_sample_count(), 1);
        assert_eq!(phases.of(Phase::Commit).get_sample_count(), 1);
        assert_eq!(phases.of(Phase::Reply).get_sample_count(), 0);
        let total = phases.of(Phase::BatchWait).get_sample_sum()
            + phases.of(Phase::Commit).get_sample_sum();
        assert!((total - 0.003).abs() < 1e-9, "{total}");
        // A moment before the phase began (another thread's clock read first) counts as zero.
        clock.lap_at(&phases, Phase::Answer, start);
        assert_eq!(phases.of(Phase::Answer).get_sample_sum(), 0.0);
    }
}
