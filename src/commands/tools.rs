//! The tools' commands: each writes what scripts read on stdout. Built with the `tools` feature.

use std::io::Write as _;

use anyhow::Context as _;

use crate::cli::tools::{GateArgs, LoadtestArgs, ToolCommand};
use crate::evaluation;
use crate::gate::run_gate;
use crate::loadtest::capacity;
use crate::loadtest::target::Target;
use hive_stats::series::Series;
use hive_stats::{DetectorKind, ForecasterKind};

/// Run one tool command. The load tester, the gate and replay are clients: a multi-threaded
/// runtime of their own, so the load is not bound to one thread, and no actor system.
pub fn run(command: ToolCommand) -> anyhow::Result<()> {
    match command {
        ToolCommand::Loadtest(args) => client_runtime()?.block_on(loadtest(args)),
        ToolCommand::Replay {
            trace,
            trace_file,
            agents,
            sleep_ms,
            max_agents,
            json,
            timeline,
        } => client_runtime()?.block_on(replay(
            &trace,
            &trace_file,
            agents,
            sleep_ms,
            max_agents,
            json,
            timeline.as_deref(),
        )),
        ToolCommand::Gate(args) => client_runtime()?.block_on(gate(args)),
        ToolCommand::Detect { input, detector } => detect(&input, detector),
        ToolCommand::Forecast {
            input,
            horizon,
            forecaster,
        } => forecast(&input, horizon, forecaster),
        ToolCommand::Predict { input, limit } => predict(&input, limit),
        ToolCommand::Evaluate {
            nab,
            horizons,
            json,
        } => evaluate(&nab, &horizons, json),
    }
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `hive loadtest`: the report (or the capacity steps) on stdout, as text or one JSON object.
/// `hive replay`: the named traces and those read from `trace_files`, each with the plugins off,
/// reactive and predictive.
pub async fn replay(
    names: &[String],
    trace_files: &[std::path::PathBuf],
    agents: usize,
    sleep_ms: u64,
    max_agents: usize,
    json: bool,
    timeline: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use crate::loadtest::replay::{Settings, Trace};
    let builtin = Trace::builtin();
    let mut traces = names
        .iter()
        .filter(|name| !name.is_empty())
        .map(|name| {
            builtin
                .iter()
                .find(|t| t.name == name.as_str())
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<&str> = builtin.iter().map(|t| t.name.as_str()).collect();
                    anyhow::anyhow!("no trace named {name:?}; there are {}", known.join(", "))
                })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for path in trace_files {
        traces.push(Trace::from_csv(path).with_context(|| format!("reading {}", path.display()))?);
    }
    anyhow::ensure!(!traces.is_empty(), "no trace to replay");
    anyhow::ensure!(
        agents > 0 && sleep_ms > 0,
        "--agents and --sleep-ms must be positive"
    );
    let settings = Settings {
        agents,
        sleep_ms,
        max_agents: max_agents.max(agents),
    };
    let report = crate::loadtest::replay::replay(settings, traces, |step| {
        if !json {
            eprintln!("replaying {step}");
        }
    })
    .await?;
    if let Some(path) = timeline {
        let file = std::fs::File::create(path)
            .with_context(|| format!("creating the timeline {}", path.display()))?;
        report.write_timeline(std::io::BufWriter::new(file))?;
    }
    println!("{}", render(&report, json)?);
    Ok(())
}

pub async fn loadtest(args: LoadtestArgs) -> anyhow::Result<()> {
    let scenario = args.scenario()?;
    let target = match &args.url {
        Some(url) => Target::remote(url, args.token.as_deref())?,
        None => Target::start_own()?,
    };
    let text = if args.find_capacity {
        let capacity =
            capacity::find(&target, &scenario, args.p95_limit_ms, args.max_steps).await?;
        render(&capacity, args.json)?
    } else {
        let report = crate::loadtest::run(&target, &scenario, !args.json).await?;
        render(&report, args.json)?
    };
    drop(target);
    write!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}

/// `hive gate`: the checks on stdout; a miss is an error, so the exit code is non-zero.
pub async fn gate(args: GateArgs) -> anyhow::Result<()> {
    let gate = run_gate(args.quick, args.p95_limit_ms).await?;
    write!(std::io::stdout().lock(), "{}", render(&gate, args.json)?)?;
    let missed: Vec<&str> = gate
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    anyhow::ensure!(missed.is_empty(), "the gate failed: {}", missed.join("; "));
    Ok(())
}

fn render<T: serde::Serialize + std::fmt::Display>(
    value: &T,
    json: bool,
) -> anyhow::Result<String> {
    Ok(if json {
        format!("{}\n", serde_json::to_string_pretty(value)?)
    } else {
        value.to_string()
    })
}

/// `hive detect`: `timestamp,value,anomaly_score` for every input row.
pub fn detect(input: &std::path::Path, detector: DetectorKind) -> anyhow::Result<()> {
    let series = Series::read_path(input)?;
    let scores = evaluation::detect(&series.values, detector);
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record(["timestamp", "value", "anomaly_score"])?;
    for ((t, v), s) in series.timestamps.iter().zip(&series.values).zip(scores) {
        out.write_record([t.as_str(), &v.to_string(), &format!("{s:.6}")])?;
    }
    out.flush()?;
    Ok(())
}

/// `hive forecast`: `timestamp,value,forecast,lower,upper`; the last three are empty until the
/// forecaster has enough rows.
pub fn forecast(
    input: &std::path::Path,
    horizon: usize,
    forecaster: ForecasterKind,
) -> anyhow::Result<()> {
    anyhow::ensure!(horizon >= 1, "--horizon must be at least 1");
    let series = Series::read_path(input)?;
    let step = series.step_s().unwrap_or(0.0);
    let forecasts = evaluation::forecasts(&series.values, forecaster, horizon, step);
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record(["timestamp", "value", "forecast", "lower", "upper"])?;
    for ((t, v), f) in series.timestamps.iter().zip(&series.values).zip(forecasts) {
        let [value, lower, upper] = match f {
            Some(f) => [f.value, f.lower, f.upper].map(|x| format!("{x:.6}")),
            None => Default::default(),
        };
        out.write_record([t.as_str(), &v.to_string(), &value, &lower, &upper])?;
    }
    out.flush()?;
    Ok(())
}

/// `hive predict`: `timestamp,value,time_to_breach_s,confidence,warning` for every input row;
/// the time and confidence are empty where no breach is forecast within the look-ahead.
pub fn predict(input: &std::path::Path, limit: f64) -> anyhow::Result<()> {
    let series = Series::read_path(input)?;
    let rows = evaluation::predict::predict(&series, limit)
        .with_context(|| format!("predicting on {}", input.display()))?;
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record([
        "timestamp",
        "value",
        "time_to_breach_s",
        "confidence",
        "warning",
    ])?;
    let cell = |x: Option<f64>| x.map_or_else(String::new, |x| format!("{x:.3}"));
    for row in rows {
        out.write_record([
            row.timestamp.as_str(),
            &row.value.to_string(),
            &cell(row.time_to_breach_s),
            &cell(row.confidence),
            if row.warning { "1" } else { "0" },
        ])?;
    }
    out.flush()?;
    Ok(())
}

/// `hive evaluate`: NAB scores of every detector and MASE of every forecaster.
pub fn evaluate(nab: &std::path::Path, horizons: &[usize], json: bool) -> anyhow::Result<()> {
    let evaluation = evaluation::report::evaluate(nab, horizons)?;
    write!(std::io::stdout().lock(), "{}", render(&evaluation, json)?)?;
    Ok(())
}
