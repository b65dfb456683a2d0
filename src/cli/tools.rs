//! The tools' commands: load from outside a server, the performance gate, overload replay, and
//! the monitor's statistics on any `timestamp,value` CSV. Built with the `tools` feature.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use hive_stats::{DetectorKind, ForecasterKind};

use crate::loadtest::scenario::{Mix, Scenario};

#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// Load a server (a running one, or one started for the run) and report what it did.
    Loadtest(LoadtestArgs),
    /// The performance quality gate: the standard scenario with 10 and 200 agents on a server of
    /// its own; exits non-zero on a miss.
    Gate(GateArgs),
    /// Drive a server of its own through load traces (ramp, burst, leak, near, periodic, spikes,
    /// and any `--trace-file`): score the monitor's predictions made at least 10 s ahead, and
    /// count SLO violations with the plugins off, reactive and predictive.
    Replay {
        /// Built-in traces to run, comma-separated (ramp, burst, leak, near, periodic, spikes);
        /// empty for none.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "ramp,burst,leak,near,periodic,spikes"
        )]
        trace: Vec<String>,
        /// A trace of your own: CSV `t_s,load` after a header, load a multiple of the pool's
        /// capacity, linear between rows; named after the file's stem. Repeatable.
        #[arg(long = "trace-file")]
        trace_file: Vec<PathBuf>,
        /// Agents in the pool under load.
        #[arg(long, default_value_t = 8)]
        agents: usize,
        /// Milliseconds each task sleeps: with `agents`, the pool's capacity.
        #[arg(long, default_value_t = 100)]
        sleep_ms: u64,
        /// Most agents the autoscaler may grow the pool to when the plugins are on.
        #[arg(long, default_value_t = 32)]
        max_agents: usize,
        /// Print one JSON object instead of the text report.
        #[arg(long)]
        json: bool,
        /// Also write every bounded series, second by second, as CSV to this file.
        #[arg(long)]
        timeline: Option<PathBuf>,
    },
    /// Score each row of a `timestamp,value` CSV with the monitor's anomaly detector; writes
    /// `timestamp,value,anomaly_score`, each score from that row and earlier ones only.
    Detect {
        #[arg(long)]
        input: PathBuf,
        /// novelty (the monitor's), robust_z, ewma, cusum, or baseline (the predecessor's rule).
        #[arg(long, default_value_t = DetectorKind::MONITOR_DEFAULT)]
        detector: DetectorKind,
    },
    /// Forecast each row of a `timestamp,value` CSV `--horizon` rows ahead with the monitor's
    /// forecaster; writes `timestamp,value,forecast,lower,upper` (80 % interval).
    Forecast {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        horizon: usize,
        /// select (the monitor's), damped, holt, or linear.
        #[arg(long, default_value_t = ForecasterKind::MONITOR_DEFAULT)]
        forecaster: ForecasterKind,
    },
    /// The monitor's breach warnings on one bounded series: reads `timestamp,value` rows at a
    /// fixed interval and writes `timestamp,value,time_to_breach_s,confidence,warning`, each row
    /// what the monitor with its defaults computes from that row and earlier ones.
    Predict {
        #[arg(long)]
        input: PathBuf,
        /// The bound the series must stay under.
        #[arg(long)]
        limit: f64,
    },
    /// Score every detector by NAB's rules beside the published ones, and the forecasters'
    /// accuracy per horizon, on a NAB corpus folder.
    Evaluate {
        /// The corpus: `data/<category>/<file>.csv` and `combined_windows.json`; the NAB subset
        /// kept in the repository by default.
        #[arg(long, default_value = "corpus/nab")]
        nab: PathBuf,
        /// Forecast horizons in rows, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,5,20")]
        horizons: Vec<usize>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct LoadtestArgs {
    /// A running server's base URL; without it a server is started for the run (SQLite in a
    /// temporary directory) and stopped after it.
    #[arg(long)]
    pub url: Option<String>,
    /// Bearer token for the running server (never printed).
    #[arg(long, env = "HIVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A TOML scenario file; the flags below override its settings.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Agents to spawn before the load [default: 200].
    #[arg(long)]
    pub agents: Option<usize>,
    /// Role of the agents and tasks [default: load].
    #[arg(long)]
    pub role: Option<String>,
    /// How long to send, such as 10s or 1h [default: 10s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Climb to --rate over this long (open loop only) [default: 0s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub ramp: Option<Duration>,
    /// Requests per second on a fixed schedule (open loop); without it, --concurrency clients
    /// send back to back.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Clients (closed loop) or the most requests in flight (open loop) [default: 32].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Share of requests that read instead of submitting, 0 to 1 [default: 0].
    #[arg(long)]
    pub reads: Option<f64>,
    /// Task kinds by weight, such as echo=90,sleep=5,panic=1 (echo, sleep, spin, fail, panic)
    /// [default: echo=1].
    #[arg(long)]
    pub mix: Option<Mix>,
    /// Milliseconds a sleep task sleeps [default: 10].
    #[arg(long)]
    pub sleep_ms: Option<u64>,
    /// Microseconds a spin task spins [default: 200].
    #[arg(long)]
    pub spin_us: Option<u64>,
    /// After the load, how long to wait for tasks to end [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub drain: Option<Duration>,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Step the rate up (from --rate, or 100/s, by half each step of --duration) until the
    /// submission p95 crosses --p95-limit-ms; report the highest passing step.
    #[arg(long)]
    pub find_capacity: bool,
    /// The p95 limit of --find-capacity, in milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub p95_limit_ms: f64,
    /// The most steps --find-capacity takes.
    #[arg(long, default_value_t = 12)]
    pub max_steps: usize,
}

impl LoadtestArgs {
    /// The scenario: defaults < file < flags.
    pub fn scenario(&self) -> anyhow::Result<Scenario> {
        let mut s = match &self.scenario {
            Some(path) => Scenario::from_file(path)?,
            None => Scenario::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(value) = self.$field.clone() {
                    s.$field = value;
                }
            )*};
        }
        set!(
            agents,
            role,
            duration,
            ramp,
            concurrency,
            reads,
            mix,
            sleep_ms,
            spin_us,
            drain
        );
        if self.rate.is_some() {
            s.rate = self.rate;
        }
        s.validate()?;
        Ok(s)
    }
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The short run CI makes, with limits a slow machine meets.
    #[arg(long)]
    pub quick: bool,
    /// Hold every endpoint's p95 to this many milliseconds instead of the gate's limit.
    #[arg(long)]
    pub p95_limit_ms: Option<f64>,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn loadtest_flags_override_the_scenario_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scenario.toml");
        std::fs::write(&file, "agents = 7\nrate = 50.0\nreads = 0.5\n").unwrap();
        let path = file.to_str().unwrap();
        let cli = Cli::try_parse_from([
            "hive",
            "loadtest",
            "--scenario",
            path,
            "--agents",
            "9",
            "--duration",
            "2s",
            "--mix",
            "echo=1,panic=1",
        ])
        .unwrap();
        let Command::Tool(ToolCommand::Loadtest(args)) = cli.command else {
            panic!("not loadtest")
        };
        let scenario = args.scenario().unwrap();
        assert_eq!(scenario.agents, 9, "the flag wins");
        assert_eq!(scenario.rate, Some(50.0), "the file wins over the default");
        assert_eq!(scenario.reads, 0.5);
        assert_eq!(scenario.duration, Duration::from_secs(2));
        assert_eq!(scenario.mix.panic, 1);
        let bad = Cli::try_parse_from(["hive", "loadtest", "--reads", "2"]).unwrap();
        let Command::Tool(ToolCommand::Loadtest(args)) = bad.command else {
            panic!("not loadtest")
        };
        assert!(args.scenario().unwrap_err().to_string().contains("reads"));
    }
}
