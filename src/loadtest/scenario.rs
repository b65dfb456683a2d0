//! What a load run does: how many agents, which tasks in which proportions, how fast and for how
//! long. Read from a TOML file for repeatable runs; flags override single settings.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

/// A load run. Every field has a default, so a scenario file names only what it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Agents spawned (through `POST /api/v1/agents/batch`) before the load starts.
    pub agents: usize,
    /// The role of those agents and of every task submitted.
    pub role: String,
    /// How long tasks are submitted, ramp included.
    #[serde(with = "human")]
    pub duration: Duration,
    /// The submission rate climbs linearly from nothing to `rate` over this time (open loop
    /// only).
    #[serde(with = "human")]
    pub ramp: Duration,
    /// Requests per second, sent on a fixed schedule (open loop). Without it, `concurrency`
    /// clients send back to back (closed loop).
    pub rate: Option<f64>,
    /// Closed loop: the number of clients. Open loop: the most requests in flight at once; a
    /// request that waits for a free slot is late, and its latency counts from its planned time.
    pub concurrency: usize,
    /// Of all requests, the share that reads (a task, the agent list, the system status)
    /// instead of submitting a task.
    pub reads: f64,
    pub mix: Mix,
    /// How long a `sleep` task sleeps.
    pub sleep_ms: u64,
    /// How long a `spin` task keeps a CPU busy.
    pub spin_us: u64,
    /// Retries a `fail` or `panic` task is given: few, so that they reach `dead` or `failed`
    /// within the run.
    pub fault_retries: u32,
    /// After the load, how long to wait for submitted tasks to end before reporting.
    #[serde(with = "human")]
    pub drain: Duration,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            agents: 200,
            role: "load".to_owned(),
            duration: Duration::from_secs(10),
            ramp: Duration::ZERO,
            rate: None,
            concurrency: 32,
            reads: 0.0,
            mix: Mix::default(),
            sleep_ms: 10,
            spin_us: 200,
            fault_retries: 1,
            drain: Duration::from_secs(30),
        }
    }
}

/// Relative weights of the built-in task kinds; `echo=8,panic=1` makes one task in nine panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mix {
    pub echo: u32,
    pub sleep: u32,
    pub spin: u32,
    pub fail: u32,
    pub panic: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            echo: 1,
            sleep: 0,
            spin: 0,
            fail: 0,
            panic: 0,
        }
    }
}

/// One built-in task kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Echo,
    Sleep,
    Spin,
    Fail,
    Panic,
}

impl Mix {
    fn weights(&self) -> [(TaskKind, u32); 5] {
        [
            (TaskKind::Echo, self.echo),
            (TaskKind::Sleep, self.sleep),
            (TaskKind::Spin, self.spin),
            (TaskKind::Fail, self.fail),
            (TaskKind::Panic, self.panic),
        ]
    }

    fn total(&self) -> u64 {
        self.weights().iter().map(|(_, w)| u64::from(*w)).sum()
    }

    /// The kind of the `n`-th task: a fixed interleaving rather than a random draw, so that two
    /// runs of one scenario submit exactly the same tasks.
    pub fn kind_of(&self, n: u64) -> TaskKind {
        let total = self.total().max(1);
        let mut slot = n % total;
        for (kind, weight) in self.weights() {
            if slot < u64::from(weight) {
                return kind;
            }
            slot -= u64::from(weight);
        }
        TaskKind::Echo
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// `echo=80,sleep=10,panic=1`: kinds not named weigh nothing.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut mix = Mix {
            echo: 0,
            ..Mix::default()
        };
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not kind=weight"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("the weight of `{}` is not a whole number", name.trim()))?;
            let slot = match name.trim() {
                "echo" => &mut mix.echo,
                "sleep" => &mut mix.sleep,
                "spin" => &mut mix.spin,
                "fail" => &mut mix.fail,
                "panic" => &mut mix.panic,
                other => {
                    return Err(format!(
                        "unknown task kind `{other}` (echo, sleep, spin, fail, panic)"
                    ))
                }
            };
            *slot = weight;
        }
        if mix.total() == 0 {
            return Err("the mix gives every kind a weight of 0".to_owned());
        }
        Ok(mix)
    }
}

impl Scenario {
    /// A scenario file; settings it leaves out keep their defaults.
    pub fn from_file(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the scenario {}", path.display()))?;
        let scenario: Scenario = toml::from_str(&text)
            .with_context(|| format!("parsing the scenario {}", path.display()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Settings that would make a run meaningless or endless are refused up front.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.duration > Duration::ZERO, "duration must be above 0");
        anyhow::ensure!(self.ramp <= self.duration, "ramp must not exceed duration");
        anyhow::ensure!(self.concurrency > 0, "concurrency must be at least 1");
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.reads),
            "reads is a share between 0 and 1"
        );
        if let Some(rate) = self.rate {
            anyhow::ensure!(
                rate.is_finite() && rate > 0.0,
                "rate must be above 0 requests per second"
            );
        }
        anyhow::ensure!(
            self.mix.total() > 0,
            "the mix gives every kind a weight of 0"
        );
        Ok(())
    }

    /// The body of the `n`-th task submitted.
    pub fn task_body(&self, n: u64) -> Value {
        let (input, retries) = match self.mix.kind_of(n) {
            TaskKind::Echo => (json!({"op": "echo", "value": n}), None),
            TaskKind::Sleep => (json!({"op": "sleep", "ms": self.sleep_ms}), None),
            TaskKind::Spin => (json!({"op": "spin", "us": self.spin_us}), None),
            TaskKind::Fail => (
                json!({"op": "fail", "error": "asked to fail"}),
                Some(self.fault_retries),
            ),
            TaskKind::Panic => (json!({"op": "panic"}), Some(self.fault_retries)),
        };
        let mut body = json!({"role": self.role, "input": input});
        if let Some(retries) = retries {
            body["max_retries"] = retries.into();
        }
        body
    }

    /// Planned requests per second at `elapsed` into the run (open loop): linear up the ramp,
    /// then flat.
    pub fn rate_at(&self, elapsed: Duration) -> Option<f64> {
        let rate = self.rate?;
        if self.ramp.is_zero() || elapsed >= self.ramp {
            return Some(rate);
        }
        Some(rate * elapsed.as_secs_f64() / self.ramp.as_secs_f64())
    }

    /// The planned send time of each request, as offsets from the start, up to `duration`: the
    /// integral of [`Scenario::rate_at`], so a ramp is followed exactly.
    pub fn schedule(&self) -> impl Iterator<Item = Duration> + '_ {
        let rate = self.rate.unwrap_or(0.0);
        let ramp = self.ramp.as_secs_f64();
        let duration = self.duration.as_secs_f64();
        (0u64..)
            .map(move |n| {
                // Requests sent by time t: rate·t²/(2·ramp) on the ramp, then linear.
                let n = n as f64;
                let ramp_requests = rate * ramp / 2.0;
                if n < ramp_requests {
                    (2.0 * n * ramp / rate).sqrt()
                } else {
                    ramp + (n - ramp_requests) / rate
                }
            })
            .take_while(move |t| *t < duration)
            .map(Duration::from_secs_f64)
    }
}

/// Durations in scenario files are written as people write them: `"10s"`, `"1h"`, `"250ms"`.
mod human {
    use super::*;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_interleaves_kinds_by_weight() {
        let mix: Mix = "echo=3,panic=1".parse().unwrap();
        let kinds: Vec<_> = (0..8).map(|n| mix.kind_of(n)).collect();
        let panics = kinds.iter().filter(|k| **k == TaskKind::Panic).count();
        assert_eq!(panics, 2);
        assert_eq!(kinds[3], TaskKind::Panic);
        assert!("echo=0".parse::<Mix>().is_err());
        assert!("boil=1".parse::<Mix>().unwrap_err().contains("boil"));
    }

    #[test]
    fn a_scenario_file_names_only_what_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "agents = 50\nduration = \"2s\"\nrate = 100.0\n[mix]\necho = 9\npanic = 1\n",
        )
        .unwrap();
        let scenario = Scenario::from_file(&path).unwrap();
        assert_eq!(scenario.agents, 50);
        assert_eq!(scenario.duration, Duration::from_secs(2));
        assert_eq!(scenario.mix.panic, 1);
        assert_eq!(scenario.concurrency, Scenario::default().concurrency);

        std::fs::write(&path, "agnets = 5\n").unwrap();
        let err = Scenario::from_file(&path).unwrap_err();
        assert!(format!("{err:#}").contains("agnets"), "{err:#}");
    }

    #[test]
    fn the_schedule_follows_the_ramp_then_the_rate() {
        let scenario = Scenario {
            rate: Some(100.0),
            ramp: Duration::from_secs(2),
            duration: Duration::from_secs(4),
            ..Scenario::default()
        };
        let planned: Vec<Duration> = scenario.schedule().collect();
        // 100 requests on the ramp (half the flat rate for 2 s), 200 in the flat 2 s.
        assert_eq!(planned.len(), 300);
        assert!(planned.windows(2).all(|w| w[0] <= w[1]));
        let on_ramp = planned.iter().filter(|t| t.as_secs_f64() < 2.0).count();
        assert_eq!(on_ramp, 100);
        assert_eq!(scenario.rate_at(Duration::from_secs(1)), Some(50.0));
    }

    #[test]
    fn fault_tasks_get_few_retries() {
        let scenario = Scenario {
            mix: "fail=1".parse().unwrap(),
            fault_retries: 0,
            ..Scenario::default()
        };
        let body = scenario.task_body(0);
        assert_eq!(body["input"]["op"], "fail");
        assert_eq!(body["max_retries"], 0);
    }
}
