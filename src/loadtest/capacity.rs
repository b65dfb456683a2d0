//! `hive loadtest --find-capacity`: the highest submission rate the server sustains with p95
//! under a limit, found by stepping the rate up until a step fails.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::driver::{self, SUBMIT};
use super::latency::ByEndpoint;
use super::scenario::Scenario;
use super::target::Target;

/// Each step asks for this much more than the one before.
const GROWTH: f64 = 1.5;
/// A step passes when it reaches this share of its planned rate…
const MIN_ACHIEVED: f64 = 0.9;
/// …with at most this share of requests refused or failed.
const MAX_ERROR_SHARE: f64 = 0.01;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub rate: f64,
    pub achieved_per_s: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Capacity {
    pub agents: usize,
    pub p95_limit_ms: f64,
    pub step_s: f64,
    pub steps: Vec<Step>,
    /// The planned rate of the last step that passed.
    pub highest_passing_rate: Option<f64>,
}

/// Step the rate from `scenario.rate` (or 100/s) up by half each time, each step
/// `scenario.duration` long, until a step fails or `max_steps` have passed. The agents are
/// spawned once, before the first step.
pub async fn find(
    target: &Target,
    scenario: &Scenario,
    p95_limit_ms: f64,
    max_steps: usize,
) -> anyhow::Result<Capacity> {
    scenario.validate()?;
    super::spawn_agents(
        target,
        &scenario.role,
        scenario.agents,
        &mut ByEndpoint::default(),
    )
    .await?;
    let mut rate = scenario.rate.unwrap_or(100.0);
    let mut capacity = Capacity {
        agents: scenario.agents,
        p95_limit_ms,
        step_s: scenario.duration.as_secs_f64(),
        steps: Vec::new(),
        highest_passing_rate: None,
    };
    for _ in 0..max_steps {
        let step = Scenario {
            rate: Some(rate),
            ramp: std::time::Duration::ZERO,
            ..scenario.clone()
        };
        let sent = driver::drive(target, &step, None, Arc::default()).await;
        let submit = sent.latencies.get(SUBMIT).map(|l| l.percentiles());
        let errors: u64 = sent.errors.values().sum();
        let achieved = sent.requests as f64 / sent.elapsed.as_secs_f64().max(1e-9);
        let p95 = submit.map_or(f64::INFINITY, |p| p.p95);
        let passed = p95 < p95_limit_ms
            && achieved >= rate * MIN_ACHIEVED
            && (errors as f64) <= sent.requests as f64 * MAX_ERROR_SHARE;
        capacity.steps.push(Step {
            rate,
            achieved_per_s: achieved,
            p95_ms: p95,
            p99_ms: submit.map_or(f64::INFINITY, |p| p.p99),
            errors,
            passed,
        });
        if !passed {
            break;
        }
        capacity.highest_passing_rate = Some(rate);
        rate *= GROWTH;
    }
    Ok(capacity)
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} agents, steps of {:.1} s, limit p95 < {} ms",
            self.agents, self.step_s, self.p95_limit_ms
        )?;
        writeln!(
            f,
            "{:>10} {:>10} {:>9} {:>9} {:>7}  result",
            "rate/s", "achieved", "p95 ms", "p99 ms", "errors"
        )?;
        for s in &self.steps {
            writeln!(
                f,
                "{:>10.0} {:>10.0} {:>9.2} {:>9.2} {:>7}  {}",
                s.rate,
                s.achieved_per_s,
                s.p95_ms,
                s.p99_ms,
                s.errors,
                if s.passed { "pass" } else { "fail" }
            )?;
        }
        match self.highest_passing_rate {
            Some(rate) => writeln!(f, "capacity: {rate:.0} tasks/s"),
            None => writeln!(f, "capacity: no step passed"),
        }
    }
}
