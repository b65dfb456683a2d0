//! `hive replay`: drives a server of its own through load traces (a ramp, a burst, a slow leak, and
//! a near miss that never overloads) and measures two things. How well the monitor foresaw the
//! overload: every second it reads the forecasts and notes, per bounded series, whether the series
//! was past its limit and whether the monitor warned of a breach (the series view's `warning`); the
//! server is overloaded when a class's queue wait is past its target or a mailbox is full, and
//! warned when the monitor warns of either or of demand at or about to pass what the agents can
//! finish. Warnings given at least 10 s ahead are scored (`evaluation::overload`), over
//! every overload and apart over those whose trace gave at least that much notice (the rise in
//! load began that long before them: [`Trace::rise_onset`]), which any warning in time needs. And
//! what the plugins buy: each trace runs twice, with the prediction-driven plugins off and on
//! (shedding, and an autoscaler sizing the pool), counting SLO violations: attempts that waited
//! past their class's target, and critical submissions refused.
//!
//! Load is a multiple of the pool's capacity: `agents` agents each running sleep tasks of
//! `sleep_ms`, so the traces overload any machine alike.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::target::{metric_sum, Target};
use crate::evaluation::overload::{episodes, score, score_by_series, Observation, PredictionScore};
use hive_stats::xorshift::XorShift;

const ROLE: &str = "replay";
/// Predictions must come this long before the breach to count.
pub const LEAD_S: f64 = 10.0;
/// How far before a breach an alarm may come and still be its prediction.
pub const WINDOW_S: f64 = 40.0;
/// Most submissions in flight; beyond it the trace falls behind rather than piling up sockets.
const IN_FLIGHT: usize = 512;
/// Longest wait for the queue to drain after a trace.
const DRAIN: Duration = Duration::from_secs(180);

/// A load trace: segments of (seconds, load at the start, load at the end), load as a multiple
/// of the pool's capacity, linear within a segment.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub name: String,
    pub segments: Vec<(f64, f64, f64)>,
}

/// Why a trace file cannot be replayed; lines are the file's (the header is line 1).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TraceError {
    #[error("cannot read {0}")]
    Read(String),
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("a trace needs at least two rows (t_s,load)")]
    TooShort,
}

impl Trace {
    pub fn builtin() -> Vec<Trace> {
        vec![
            // Calm, then demand climbs past capacity over a minute, then relief.
            Trace {
                name: "ramp".into(),
                segments: vec![(30.0, 0.5, 0.5), (60.0, 0.5, 1.6), (30.0, 0.4, 0.4)],
            },
            // Calm, a sudden burst at two and a half times capacity, calm.
            Trace {
                name: "burst".into(),
                segments: vec![(30.0, 0.5, 0.5), (15.0, 2.5, 2.5), (45.0, 0.4, 0.4)],
            },
            // Just over capacity for a long while: the queue, and its wait, grow slowly.
            Trace {
                name: "leak".into(),
                segments: vec![(20.0, 0.8, 0.8), (100.0, 1.12, 1.12), (30.0, 0.4, 0.4)],
            },
            // A near miss: demand climbs as the ramp's does, then levels off at nine tenths of
            // capacity and stays there. No overload follows, so any warning is a false alarm.
            Trace {
                name: "near".into(),
                segments: vec![
                    (30.0, 0.5, 0.5),
                    (30.0, 0.5, 0.9),
                    (60.0, 0.9, 0.9),
                    (30.0, 0.4, 0.4),
                ],
            },
            // Periodic load: three waves a minute long, each climbing from half of capacity to
            // 1.4 times it over 30 s and back.
            Trace {
                name: "periodic".into(),
                segments: std::iter::once((20.0, 0.5, 0.5))
                    .chain((0..3).flat_map(|_| [(30.0, 0.5, 1.4), (30.0, 1.4, 0.5)]))
                    .chain(std::iter::once((20.0, 0.4, 0.4)))
                    .collect(),
            },
            Trace::spikes(),
        ]
    }

    /// Heavy-tailed spikes: calm at 0.6 of capacity with a spike every 10 to 25 s, each 3 s long
    /// and as high as a Pareto draw (shape 1.5, from 1.0 times capacity): mostly small, now and
    /// then several times capacity. Fixed by its seed, so every run sends the same load.
    pub fn spikes() -> Trace {
        let mut rng = XorShift::new(0x5eed_0f5a_1ce5);
        let mut segments = vec![(20.0, 0.6, 0.6)];
        let mut t = 20.0;
        while t < 140.0 {
            let height = rng.pareto(1.5).min(6.0);
            let calm = rng.between(10.0, 25.0);
            segments.push((3.0, height, height));
            segments.push((calm, 0.6, 0.6));
            t += 3.0 + calm;
        }
        segments.push((20.0, 0.4, 0.4));
        Trace {
            name: "spikes".into(),
            segments,
        }
    }

    /// A trace from CSV rows `t_s,load` after a header, load a multiple of the pool's capacity,
    /// linear between rows; named after the file's stem.
    pub fn from_csv(path: &std::path::Path) -> Result<Trace, TraceError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TraceError::Read(format!("{}: {e}", path.display())))?;
        let name = path
            .file_stem()
            .map_or_else(|| "trace".to_owned(), |s| s.to_string_lossy().into_owned());
        Trace::parse(name, &text)
    }

    /// The rows of a trace file's `text`.
    pub fn parse(name: String, text: &str) -> Result<Trace, TraceError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let mut rows: Vec<(f64, f64)> = Vec::new();
        for (n, record) in reader.records().enumerate() {
            let line = n + 2;
            let bad = |reason: String| TraceError::Line { line, reason };
            let record = record.map_err(|e| bad(e.to_string()))?;
            let number = |i: usize, what: &str| -> Result<f64, TraceError> {
                let cell = record.get(i).unwrap_or("").trim();
                cell.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| bad(format!("{what} `{cell}` is not a number")))
            };
            let (t, load) = (number(0, "t_s")?, number(1, "load")?);
            if load < 0.0 {
                return Err(bad(format!("load {load} is negative")));
            }
            if let Some((before, _)) = rows.last() {
                if t <= *before {
                    return Err(bad(format!("t_s {t} does not come after {before}")));
                }
            }
            rows.push((t, load));
        }
        if rows.len() < 2 {
            return Err(TraceError::TooShort);
        }
        let mut segments = Vec::with_capacity(rows.len());
        if rows[0].0 > 0.0 {
            segments.push((rows[0].0, rows[0].1, rows[0].1));
        }
        segments.extend(rows.windows(2).map(|w| (w[1].0 - w[0].0, w[0].1, w[1].1)));
        Ok(Trace { name, segments })
    }

    pub fn duration(&self) -> f64 {
        self.segments.iter().map(|s| s.0).sum()
    }

    /// Load (× capacity) at `t` seconds.
    fn load_at(&self, t: f64) -> f64 {
        let mut start = 0.0;
        for &(secs, from, to) in &self.segments {
            if t < start + secs {
                return from + (to - from) * (t - start) / secs;
            }
            start += secs;
        }
        0.0
    }

    /// When the rise in load that `t` is in, or last followed, began: the start of the latest
    /// segment at or before `t` that steps up from the load before it or climbs, unless it
    /// carries on from a climb. No predictor can know of a rise before it begins, so for an
    /// overload at `t`, `t − rise_onset(t)` is the most notice any could give.
    pub fn rise_onset(&self, t: f64) -> Option<f64> {
        let (mut start, mut before, mut climbing, mut onset) = (0.0, 0.0, false, None);
        for &(secs, from, to) in &self.segments {
            if start > t {
                break;
            }
            let climbs = to > from;
            let carries_on = climbing && from >= before;
            if (climbs || from > before) && !carries_on {
                onset = Some(start);
            }
            (climbing, before) = (climbs, to);
            start += secs;
        }
        onset
    }

    /// When the load first passes the pool's capacity, to a tenth of a second.
    pub fn first_overload(&self) -> Option<f64> {
        (0..(self.duration() * 10.0) as usize)
            .map(|i| i as f64 / 10.0)
            .find(|&t| self.load_at(t) > 1.0)
    }

    /// Send times (seconds from the start) for a pool of `capacity` tasks a second.
    pub fn schedule(&self, capacity: f64) -> Vec<f64> {
        let (mut times, mut owed, step) = (Vec::new(), 0.0, 0.001);
        let mut t = 0.0;
        while t < self.duration() {
            owed += self.load_at(t) * capacity * step;
            while owed >= 1.0 {
                times.push(t);
                owed -= 1.0;
            }
            t += step;
        }
        times
    }
}

/// The replay's settings.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub agents: usize,
    pub sleep_ms: u64,
    /// Most agents the autoscaler may grow the pool to when the plugins are on.
    pub max_agents: usize,
}

impl Settings {
    pub fn capacity(&self) -> f64 {
        self.agents as f64 * 1000.0 / self.sleep_ms.max(1) as f64
    }

    fn config(&self, arm: Arm) -> String {
        let mut toml = String::from("agent_threads = 2\n");
        match arm {
            Arm::Off => toml.push_str("[plugins.shedding]\nenabled = false\n"),
            Arm::Reactive | Arm::Predictive => {
                let mode = if arm == Arm::Reactive {
                    "reactive"
                } else {
                    "predictive"
                };
                // The pool's bounds come once the pool exists ([`Settings::pool_bounds`]): named
                // at start, the autoscaler would find the pool empty and fill it to `min` before
                // the replay's own agents came, and the plugin arms would run with twice the
                // capacity the traces are drawn against.
                toml.push_str(&format!(
                    "[plugins]\nmode = \"{mode}\"\n[plugins.autoscaler]\ncooldown_ms = 2000\n"
                ));
            }
        }
        toml
    }

    /// The live settings patch that hands the pool, once created, to the autoscaler.
    fn pool_bounds(&self) -> Value {
        json!({"plugins": {"autoscaler": {"pools": {ROLE: {"min": self.agents, "max": self.max_agents}}}}})
    }
}

/// The three ways a trace is run: the plugins off; on, acting on current readings only; on,
/// acting on the monitor's forecasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    Off,
    Reactive,
    Predictive,
}

impl Arm {
    /// As the timeline's `plugins` column writes it (`on` is the predictive arm, as before the
    /// reactive one existed).
    pub fn label(self) -> &'static str {
        match self {
            Arm::Off => "off",
            Arm::Reactive => "reactive",
            Arm::Predictive => "on",
        }
    }
}

/// The priority of the `n`-th submission: one in ten critical, two low, the rest normal.
fn priority(n: usize) -> &'static str {
    match n % 10 {
        0 => "critical",
        1 | 2 => "low",
        _ => "normal",
    }
}

/// One trace, run once.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Run {
    pub submitted: usize,
    pub accepted: usize,
    /// 503s by priority: shed or refused.
    pub refused_low: usize,
    pub refused_normal: usize,
    pub refused_critical: usize,
    /// Attempts dispatched after waiting past their class's target.
    pub slo_missed: u64,
    /// Of those, critical ones: what shedding and scaling must protect above all.
    pub slo_missed_critical: u64,
    /// `slo_missed` plus critical submissions refused.
    pub violations: u64,
    /// Seconds from the first sign of overload once the load passed capacity (a class's wait
    /// past its target, a mailbox full, demand past what the agents finish) to the plugins'
    /// first act since the rise that led there began (agents added, shedding begun); negative
    /// when they acted first, on a forecast. `None` without either.
    pub reaction_s: Option<f64>,
    pub agents_at_end: u64,
    pub prediction: PredictionScore,
    /// Each overload episode, with the notice the trace gave of it.
    pub episodes: Vec<OverloadEpisode>,
    /// The same, per series with any breach or alarm.
    pub by_series: std::collections::BTreeMap<String, PredictionScore>,
    /// Every bounded series as read each second: what is scored, and what `--timeline` writes.
    #[serde(skip)]
    pub timeline: Vec<TimelineRow>,
}

/// One overload episode of a run (the server as one, [`system_level`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverloadEpisode {
    /// Seconds since the start of the run at which it began.
    pub start_s: f64,
    /// Seconds between the start of the rise in load that led to it and its start: the most
    /// notice any predictor could give.
    pub notice_s: Option<f64>,
    /// How far ahead the monitor warned, if at least [`LEAD_S`].
    pub lead_s: Option<f64>,
}

impl OverloadEpisode {
    /// Whether the trace gave at least [`LEAD_S`] of notice: a warning in time was possible.
    pub fn foreseeable(&self) -> bool {
        self.notice_s.is_some_and(|n| n >= LEAD_S)
    }
}

/// One bounded series as the monitor showed it at one second of a run.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    pub trace: std::sync::Arc<str>,
    /// Which arm: `off`, `reactive`, or `on` (predictive).
    pub plugins: &'static str,
    pub t: f64,
    pub series: String,
    pub last: f64,
    pub limit: f64,
    pub time_to_breach_s: Option<f64>,
    pub confidence: Option<f64>,
    /// The monitor's warning: what the replay scores as its prediction.
    pub predicted: bool,
}

impl TimelineRow {
    fn observation(&self) -> Observation {
        Observation {
            t: self.t,
            series: self.series.clone(),
            breached: self.last >= self.limit,
            predicted: self.predicted,
        }
    }
}

fn observations(timeline: &[TimelineRow]) -> Vec<Observation> {
    timeline.iter().map(TimelineRow::observation).collect()
}

/// Which run a timeline row belongs to.
#[derive(Clone)]
struct RunId {
    trace: std::sync::Arc<str>,
    plugins: &'static str,
}

/// Read every bounded series' state at `t`.
async fn observe(target: &Target, run: &RunId, t: f64) -> anyhow::Result<Vec<TimelineRow>> {
    let view = target.get_json("/api/v1/monitor/forecasts").await?;
    Ok(view["series"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let time_to_breach_s = s["time_to_breach_s"].as_f64();
            let confidence = s["confidence"].as_f64();
            Some(TimelineRow {
                trace: run.trace.clone(),
                plugins: run.plugins,
                t,
                series: s["name"].as_str()?.to_owned(),
                last: s["last"].as_f64()?,
                limit: s["limit"].as_f64()?,
                time_to_breach_s,
                confidence,
                predicted: s["warning"].as_bool().unwrap_or(false),
            })
        })
        .collect())
}

/// Whether a series' breach is an overload a client feels: a class's queue wait past its target,
/// or a mailbox full.
fn is_overload(series: &str) -> bool {
    series.starts_with("wait.") || series.starts_with("mailbox.")
}

/// The server as one: at each second, an overload if any series was in one, and an alarm if the
/// monitor warned of one on any of those series or of demand passing what the agents can finish.
pub fn system_level(observations: &[Observation]) -> Vec<Observation> {
    let mut by_second: std::collections::BTreeMap<u64, Observation> = Default::default();
    for o in observations {
        let entry = by_second
            .entry(o.t.to_bits())
            .or_insert_with(|| Observation {
                t: o.t,
                series: "overload".into(),
                breached: false,
                predicted: false,
            });
        entry.breached |= o.breached && is_overload(&o.series);
        entry.predicted |= o.predicted && (is_overload(&o.series) || o.series == "demand");
    }
    let mut seconds: Vec<Observation> = by_second.into_values().collect();
    seconds.sort_by(|a, b| a.t.total_cmp(&b.t));
    seconds
}

/// When the run first showed overload from `from` on: a class's wait past its target, a mailbox
/// full, or demand past what the agents finish.
fn first_signal(timeline: &[TimelineRow], from: f64) -> Option<f64> {
    timeline
        .iter()
        .filter(|r| r.t >= from)
        .filter(|r| (is_overload(&r.series) || r.series == "demand") && r.last >= r.limit)
        .map(|r| r.t)
        .min_by(f64::total_cmp)
}

/// Seconds since `start` at which the plugins acted (agents added, shedding begun), as their
/// events arrive; subscribed before any load is sent.
async fn plugin_acts(target: &Target, start: Instant) -> anyhow::Result<Arc<Mutex<Vec<f64>>>> {
    let acts = Arc::new(Mutex::new(Vec::new()));
    let seen = acts.clone();
    target
        .events("?kinds=plugin.", move |kind, data| {
            let Ok(body) = serde_json::from_str::<Value>(data) else {
                return;
            };
            let data = &body["data"];
            let acted = match kind {
                "plugin.autoscaler" => data["change"] == "up",
                "plugin.shedding" => !data["below"].is_null(),
                _ => false,
            };
            if acted {
                seen.lock().push(start.elapsed().as_secs_f64());
            }
        })
        .await
        .context("opening the event stream")?;
    Ok(acts)
}

/// Run `trace` against a fresh server in one `arm`.
pub async fn run_trace(settings: &Settings, trace: &Trace, arm: Arm) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir().context("a directory for the replay's config")?;
    let config = dir.path().join("hive.toml");
    std::fs::write(&config, settings.config(arm)).context("writing the replay's config")?;
    let exe = std::env::current_exe().context("finding the hive binary")?;
    let config = config.to_string_lossy().into_owned();
    let target = Target::start_server(&exe, &["--config", &config])?;
    let created = target
        .client
        .post(target.url("/api/v1/agents/batch"))
        .json(&json!({"count": settings.agents, "template": {"role": ROLE}}))
        .send()
        .await
        .context("creating the pool")?;
    anyhow::ensure!(
        created.status().as_u16() == 201,
        "creating the pool answered {}",
        created.status()
    );
    if arm != Arm::Off {
        let patched = target
            .client
            .patch(target.url("/api/v1/config"))
            .json(&settings.pool_bounds())
            .send()
            .await
            .context("handing the pool to the autoscaler")?;
        anyhow::ensure!(
            patched.status().is_success(),
            "handing the pool to the autoscaler answered {}",
            patched.status()
        );
    }

    let id = RunId {
        trace: trace.name.as_str().into(),
        plugins: arm.label(),
    };
    let run = Arc::new(Mutex::new(Run::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let watcher = {
        let (target_base, client, stop, run) = (
            target.base.clone(),
            target.client.clone(),
            stop.clone(),
            run.clone(),
        );
        tokio::spawn(async move {
            let target = Target::with_client(target_base, client);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Ok(seen) = observe(&target, &id, start.elapsed().as_secs_f64()).await {
                    run.lock().timeline.extend(seen);
                }
            }
        })
    };

    let acts = plugin_acts(&target, start).await?;
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut sending = JoinSet::new();
    let sleep_ms = settings.sleep_ms;
    for (n, at) in trace.schedule(settings.capacity()).into_iter().enumerate() {
        tokio::time::sleep_until((start + Duration::from_secs_f64(at)).into()).await;
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (client, url, run) = (
            target.client.clone(),
            target.url("/api/v1/tasks"),
            run.clone(),
        );
        let body = json!({"role": ROLE, "priority": priority(n), "input": {"op": "sleep", "ms": sleep_ms}});
        sending.spawn(async move {
            let _slot = slot;
            let status = client
                .post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16());
            let mut run = run.lock();
            run.submitted += 1;
            match status {
                Ok(202) => run.accepted += 1,
                Ok(503) => match priority(n) {
                    "critical" => run.refused_critical += 1,
                    "low" => run.refused_low += 1,
                    _ => run.refused_normal += 1,
                },
                _ => {}
            }
        });
        while sending.try_join_next().is_some() {}
    }
    while sending.join_next().await.is_some() {}
    // Keep watching while the queue drains: a breach may still begin.
    let drained = Instant::now();
    loop {
        let status = target.get_json("/api/v1/system/status").await?;
        let queued: u64 = status["queue"]
            .as_object()
            .map(|q| q.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        let running = status["tasks"]["running"].as_u64().unwrap_or(0);
        if (queued == 0 && running == 0) || drained.elapsed() > DRAIN {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.await;
    let metrics = target.metrics().await?;
    let slo_missed = metric_sum(&metrics, "hive_task_slo_missed_total") as u64;
    run.lock().slo_missed_critical = metric_sum(
        &metrics,
        "hive_task_slo_missed_total{priority=\"critical\"}",
    ) as u64;
    let agents = metric_sum(&metrics, "hive_agents") as u64;
    let mut run = std::mem::take(&mut *run.lock());
    run.slo_missed = slo_missed;
    run.violations = slo_missed + run.refused_critical as u64;
    run.agents_at_end = agents;
    run.reaction_s = trace.first_overload().and_then(|over| {
        let rise = trace.rise_onset(over).unwrap_or(over);
        let act = acts.lock().iter().copied().find(|&t| t >= rise)?;
        Some(act - first_signal(&run.timeline, over)?)
    });
    let observed = observations(&run.timeline);
    let server = system_level(&observed);
    run.prediction = score(&server, LEAD_S, WINDOW_S);
    run.episodes = episodes(&server, LEAD_S, WINDOW_S)
        .into_iter()
        .map(|e| OverloadEpisode {
            start_s: e.start_s,
            notice_s: trace.rise_onset(e.start_s).map(|onset| e.start_s - onset),
            lead_s: e.lead_s,
        })
        .collect();
    run.by_series = score_by_series(&observed, LEAD_S, WINDOW_S);
    Ok(run)
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceReport {
    pub trace: Trace,
    pub off: Run,
    /// The plugins acting on current readings only.
    pub reactive: Run,
    /// The plugins acting on the monitor's forecasts.
    pub on: Run,
}

/// The overload episodes a warning [`LEAD_S`] ahead was possible for, and how many got one.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Foreseeable {
    pub breaches: usize,
    pub breaches_predicted: usize,
    pub recall: Option<f64>,
    /// The notice, in seconds, of each episode left out: the load rose too late before it.
    pub too_sudden_notice_s: Vec<f64>,
}

impl Foreseeable {
    pub fn of<'a>(episodes: impl IntoIterator<Item = &'a OverloadEpisode>) -> Self {
        let mut f = Foreseeable::default();
        for e in episodes {
            if e.foreseeable() {
                f.breaches += 1;
                f.breaches_predicted += usize::from(e.lead_s.is_some());
            } else {
                f.too_sudden_notice_s.extend(e.notice_s);
            }
        }
        f.recall = (f.breaches > 0).then(|| f.breaches_predicted as f64 / f.breaches as f64);
        f
    }
}

/// What `hive replay --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub settings: Settings,
    pub capacity_per_s: f64,
    pub lead_s: f64,
    pub window_s: f64,
    pub traces: Vec<TraceReport>,
    /// Predictions over every trace, plugins off (the load the monitor saw was the trace's own).
    pub prediction: PredictionScore,
    /// Recall over the overload episodes (plugins off) whose trace gave at least [`LEAD_S`] of
    /// notice: what a warning in time was possible for.
    pub foreseeable: Foreseeable,
    pub violations_off: u64,
    pub violations_on: u64,
    /// The same traces with the plugins acting on current readings only.
    pub violations_reactive: u64,
    /// 1 − on/off: the share of SLO violations the plugins avoided.
    pub violation_reduction: Option<f64>,
    /// 1 − reactive/off.
    pub violation_reduction_reactive: Option<f64>,
}

pub async fn replay(
    settings: Settings,
    traces: Vec<Trace>,
    progress: impl Fn(&str),
) -> anyhow::Result<Report> {
    let mut reports = Vec::new();
    let mut all = Vec::new();
    let (mut off_total, mut on_total, mut reactive_total) = (0, 0, 0);
    for trace in traces {
        let mut runs = Vec::with_capacity(3);
        for arm in [Arm::Off, Arm::Reactive, Arm::Predictive] {
            progress(&format!(
                "{} ({:.0} s), plugins {}",
                trace.name,
                trace.duration(),
                arm.label()
            ));
            runs.push(run_trace(&settings, &trace, arm).await?);
        }
        let (on, reactive, off) = (
            runs.pop().unwrap_or_default(),
            runs.pop().unwrap_or_default(),
            runs.pop().unwrap_or_default(),
        );
        // Runs are kept apart in time, so that one's breach is never another's alarm.
        let offset = 100_000.0 * reports.len() as f64;
        all.extend(
            system_level(&observations(&off.timeline))
                .into_iter()
                .map(|mut o| {
                    o.t += offset;
                    o
                }),
        );
        off_total += off.violations;
        on_total += on.violations;
        reactive_total += reactive.violations;
        reports.push(TraceReport {
            trace,
            off,
            reactive,
            on,
        });
    }
    let foreseeable = Foreseeable::of(reports.iter().flat_map(|t| &t.off.episodes));
    Ok(Report {
        capacity_per_s: settings.capacity(),
        settings,
        lead_s: LEAD_S,
        window_s: WINDOW_S,
        traces: reports,
        prediction: score(&all, LEAD_S, WINDOW_S),
        foreseeable,
        violations_off: off_total,
        violations_on: on_total,
        violations_reactive: reactive_total,
        violation_reduction: (off_total > 0).then(|| 1.0 - on_total as f64 / off_total as f64),
        violation_reduction_reactive: (off_total > 0)
            .then(|| 1.0 - reactive_total as f64 / off_total as f64),
    })
}

impl Report {
    /// Every run's timeline as CSV: `trace,plugins,t,series,last,limit,time_to_breach_s,
    /// confidence,predicted`, for looking at what the monitor saw second by second.
    pub fn write_timeline(&self, out: impl std::io::Write) -> anyhow::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        for t in &self.traces {
            for row in t
                .off
                .timeline
                .iter()
                .chain(&t.reactive.timeline)
                .chain(&t.on.timeline)
            {
                csv.serialize(row)?;
            }
        }
        csv.flush()?;
        Ok(())
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |x: Option<f64>| x.map_or("n/a".to_owned(), |x| format!("{:.0} %", x * 100.0));
        writeln!(
            f,
            "pool: {} agents × {} ms sleep tasks = {:.0} tasks/s",
            self.settings.agents, self.settings.sleep_ms, self.capacity_per_s
        )?;
        for t in &self.traces {
            for (label, run) in [("off", &t.off), ("reactive", &t.reactive), ("on", &t.on)] {
                writeln!(
                    f,
                    "{:>8} plugins {label:>8}: {} sent, {} accepted, refused low/normal/critical {}/{}/{}, SLO missed {} (critical {}), violations {}, agents at end {}, acted {} after the first overload; breaches {} (predicted ≥ {:.0} s ahead: {}), alarms {} (confirmed {})",
                    t.trace.name, run.submitted, run.accepted, run.refused_low, run.refused_normal,
                    run.refused_critical, run.slo_missed, run.slo_missed_critical, run.violations, run.agents_at_end,
                    run.reaction_s.map_or("n/a".to_owned(), |s| format!("{s:.1} s")),
                    run.prediction.breaches, self.lead_s, run.prediction.breaches_predicted,
                    run.prediction.alarms, run.prediction.alarms_confirmed
                )?;
            }
        }
        writeln!(
            f,
            "prediction ≥ {:.0} s ahead (plugins off): precision {}, recall {}, median lead {}",
            self.lead_s,
            pct(self.prediction.precision),
            pct(self.prediction.recall),
            self.prediction
                .median_lead_s
                .map_or("n/a".to_owned(), |s| format!("{s:.0} s"))
        )?;
        let sudden: Vec<String> = self
            .foreseeable
            .too_sudden_notice_s
            .iter()
            .map(|n| format!("{n:.0} s"))
            .collect();
        writeln!(
            f,
            "overloads the load gave ≥ {:.0} s notice of: {}, predicted {} (recall {}); too sudden: {} (notice {})",
            self.lead_s,
            self.foreseeable.breaches,
            self.foreseeable.breaches_predicted,
            pct(self.foreseeable.recall),
            sudden.len(),
            if sudden.is_empty() { "n/a".to_owned() } else { sudden.join(", ") }
        )?;
        write!(
            f,
            "SLO violations: {} with the plugins off, {} reactive ({} fewer), {} predictive ({} fewer)",
            self.violations_off,
            self.violations_reactive,
            pct(self.violation_reduction_reactive),
            self.violations_on,
            pct(self.violation_reduction)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(t: f64, series: &str, breached: bool, predicted: bool) -> Observation {
        Observation {
            t,
            series: series.into(),
            breached,
            predicted,
        }
    }

    #[test]
    fn the_server_is_overloaded_when_a_wait_or_a_mailbox_is_and_warned_by_demand_too() {
        let seconds = system_level(&[
            obs(1.0, "demand", false, true),
            obs(1.0, "memory.rss", true, true),
            obs(2.0, "wait.normal", true, false),
            obs(2.0, "demand", true, false),
            obs(3.0, "memory.rss", false, true),
        ]);
        let flags: Vec<(bool, bool)> = seconds.iter().map(|o| (o.breached, o.predicted)).collect();
        // Memory is neither an overload a client feels nor its warning; demand past capacity is
        // a warning, not an overload.
        assert_eq!(flags, vec![(false, true), (true, false), (false, false)]);
    }

    #[test]
    fn the_timeline_has_one_line_per_series_and_second_of_every_run() {
        let row = |plugins, t, series: &str, ttb: Option<f64>| TimelineRow {
            trace: "ramp".into(),
            plugins,
            t,
            series: series.into(),
            last: 3.0,
            limit: 10.0,
            time_to_breach_s: ttb,
            confidence: ttb.map(|_| 0.75),
            predicted: ttb.is_some(),
        };
        let run = |plugins| Run {
            timeline: vec![
                row(plugins, 1.0, "wait.low", Some(12.5)),
                row(plugins, 1.0, "demand", None),
                row(plugins, 2.0, "wait.low", None),
            ],
            ..Run::default()
        };
        let trace = Trace::builtin().remove(0);
        let report = Report {
            settings: Settings {
                agents: 1,
                sleep_ms: 1,
                max_agents: 1,
            },
            capacity_per_s: 1.0,
            lead_s: LEAD_S,
            window_s: WINDOW_S,
            traces: vec![TraceReport {
                trace,
                off: run("off"),
                reactive: run("reactive"),
                on: run("on"),
            }],
            prediction: PredictionScore::default(),
            foreseeable: Foreseeable::default(),
            violations_off: 0,
            violations_on: 0,
            violations_reactive: 0,
            violation_reduction: None,
            violation_reduction_reactive: None,
        };
        let mut out = Vec::new();
        report.write_timeline(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "trace,plugins,t,series,last,limit,time_to_breach_s,confidence,predicted"
        );
        assert_eq!(lines.len(), 1 + 9, "{text}");
        assert_eq!(lines[1], "ramp,off,1.0,wait.low,3.0,10.0,12.5,0.75,true");
        // Nothing forecast: the cells are empty, not zero.
        assert_eq!(lines[2], "ramp,off,1.0,demand,3.0,10.0,,,false");
        assert!(
            lines[4].starts_with("ramp,reactive,1.0,wait.low,"),
            "{text}"
        );
        assert!(lines[7].starts_with("ramp,on,1.0,wait.low,"), "{text}");
    }

    #[test]
    fn the_notice_of_an_overload_runs_from_the_start_of_the_rise_that_led_to_it() {
        let onsets = |name: &str, at: &[f64]| {
            let trace = Trace::builtin()
                .into_iter()
                .find(|t| t.name == name)
                .unwrap();
            at.iter().map(|&t| trace.rise_onset(t)).collect::<Vec<_>>()
        };
        // The ramp's climb starts at 30 s; its relief is no rise, so a breach during it still
        // dates from the climb.
        assert_eq!(
            onsets("ramp", &[10.0, 70.0, 100.0]),
            [Some(0.0), Some(30.0), Some(30.0)]
        );
        assert_eq!(onsets("burst", &[34.0]), [Some(30.0)]);
        assert_eq!(onsets("leak", &[60.0]), [Some(20.0)]);
        // A step up that carries on climbing is one rise; a climb after a level stretch another.
        let trace = Trace {
            name: "t".into(),
            segments: vec![
                (10.0, 0.5, 0.5),
                (10.0, 0.6, 1.0),
                (10.0, 1.0, 1.4),
                (10.0, 1.4, 1.4),
                (10.0, 1.4, 1.8),
            ],
        };
        let at = |t| trace.rise_onset(t);
        assert_eq!(
            (at(25.0), at(35.0), at(45.0)),
            (Some(10.0), Some(10.0), Some(40.0))
        );
        let empty = Trace {
            name: "t".into(),
            segments: vec![],
        };
        assert_eq!(empty.rise_onset(5.0), None);
    }

    #[test]
    fn only_overloads_with_notice_enough_count_as_foreseeable() {
        let episode = |notice_s: Option<f64>, lead_s: Option<f64>| OverloadEpisode {
            start_s: 60.0,
            notice_s,
            lead_s,
        };
        let f = Foreseeable::of(&[
            episode(Some(40.0), Some(21.0)),
            episode(Some(4.0), None),
            episode(Some(LEAD_S), None),
            episode(None, None),
        ]);
        assert_eq!((f.breaches, f.breaches_predicted), (2, 1));
        assert_eq!(f.recall, Some(0.5));
        assert_eq!(f.too_sudden_notice_s, vec![4.0]);
    }

    #[test]
    fn a_trace_file_is_linear_between_its_rows_and_a_bad_row_names_its_line() {
        let trace = Trace::parse("mine".into(), "t_s,load\n0,0.5\n30,1.5\n40,1.5\n").unwrap();
        assert_eq!(trace.segments, vec![(30.0, 0.5, 1.5), (10.0, 1.5, 1.5)]);
        assert_eq!(trace.duration(), 40.0);
        assert!((trace.load_at(15.0) - 1.0).abs() < 1e-9);
        let late = Trace::parse("late".into(), "t_s,load\n10,1\n20,2\n").unwrap();
        assert_eq!(late.segments[0], (10.0, 1.0, 1.0));
        let err = |text: &str| Trace::parse("x".into(), text).unwrap_err();
        assert!(matches!(
            err("t_s,load\n0,1\n5,lots\n"),
            TraceError::Line { line: 3, .. }
        ));
        assert!(matches!(
            err("t_s,load\n0,1\n0,2\n"),
            TraceError::Line { line: 3, .. }
        ));
        assert!(matches!(
            err("t_s,load\n0,1\n5,-1\n"),
            TraceError::Line { line: 3, .. }
        ));
        assert_eq!(err("t_s,load\n0,1\n"), TraceError::TooShort);
    }

    #[test]
    fn the_autoscaler_gets_the_pool_only_once_it_exists_and_with_its_size_as_least() {
        let settings = Settings {
            agents: 8,
            sleep_ms: 100,
            max_agents: 32,
        };
        use crate::config::{settings::Settings as Live, Config};
        for arm in [Arm::Off, Arm::Reactive, Arm::Predictive] {
            let config: Config = toml::from_str(&settings.config(arm)).unwrap();
            assert!(config.plugins.autoscaler.pools.is_empty(), "{arm:?}");
        }
        let live = Live::from_config(&Config::default(), "info")
            .patched(&settings.pool_bounds())
            .unwrap();
        let (role, pool) = live.plugins.autoscaler.pools.iter().next().unwrap();
        assert_eq!((role.as_str(), pool.min, pool.max), (ROLE, 8, 32));
    }

    #[test]
    fn the_builtin_traces_include_periodic_load_and_heavy_tailed_spikes() {
        let traces = Trace::builtin();
        let periodic = traces.iter().find(|t| t.name == "periodic").unwrap();
        let peaks = periodic.segments.iter().filter(|s| s.2 > 1.0).count();
        assert_eq!(peaks, 3);
        let spikes = Trace::spikes();
        assert_eq!(
            spikes.segments,
            Trace::spikes().segments,
            "fixed by its seed"
        );
        let heights: Vec<f64> = spikes
            .segments
            .iter()
            .filter(|s| s.0 == 3.0)
            .map(|s| s.1)
            .collect();
        assert!(heights.len() >= 5, "{heights:?}");
        assert!(heights.iter().all(|h| *h >= 1.0));
        assert!(heights.iter().any(|h| *h >= 2.0), "a tail: {heights:?}");
    }

    #[test]
    fn a_trace_passes_capacity_where_its_load_first_exceeds_one() {
        let burst = &Trace::builtin()[1];
        assert_eq!(burst.first_overload(), Some(30.0));
        assert_eq!(burst.rise_onset(30.0), Some(30.0));
        let near = Trace::builtin()
            .into_iter()
            .find(|t| t.name == "near")
            .unwrap();
        assert_eq!(near.first_overload(), None);
    }

    #[test]
    fn a_schedule_follows_its_trace() {
        let trace = Trace {
            name: "t".into(),
            segments: vec![(10.0, 1.0, 1.0), (10.0, 0.0, 2.0)],
        };
        let times = trace.schedule(50.0);
        // 10 s at 50/s, then a ramp from 0 to 100/s over 10 s: 500 + 500.
        assert!((times.len() as i64 - 1000).abs() <= 1, "{}", times.len());
        let first_half = times.iter().filter(|t| **t < 10.0).count();
        assert!((first_half as i64 - 500).abs() <= 1);
        let late = times.iter().filter(|t| **t >= 15.0).count();
        assert!(late > 600 / 2, "the ramp sends more at its end: {late}");
    }
}
