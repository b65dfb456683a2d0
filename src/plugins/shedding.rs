//! Load shedding ahead of a full mailbox. A full orchestrator or store mailbox refuses every
//! submission alike, critical ones included; shedding low-priority work while the monitor
//! forecasts that fill keeps room for the work that matters. The plugin decides, the tasks API
//! reads the decision ([`ShedState`]) on every submission.

use std::time::{Duration, Instant};

use actix::prelude::*;
use hive_actors::Shutdown;

use super::plugin::Plugin;
use crate::bus::Event;
use crate::config::PluginMode;
use crate::context::Hive;
use crate::domain::task::Priority;
use crate::domain::time::now_ms;
use crate::snapshots::monitor::Insight;
use crate::snapshots::monitor::{MonitorView, HORIZON};
use crate::snapshots::shedding::ShedState;

/// What every submission fills: the mailboxes it passes through, the backlog of unfinished
/// tasks, and the memory they take.
const WATCHED: [&str; 4] = [
    "mailbox.orchestrator",
    "mailbox.store",
    "tasks.backlog",
    MEMORY,
];
/// Memory is shared with what is not work (agents, caches): nearing the budget sheds low
/// priority only, so that a node whose agents alone fill its budget still takes normal work.
const MEMORY: &str = "memory.rss";
/// Share of its capacity at which a mailbox is about to fill whatever the trend says.
const NEARLY_FULL: f64 = 0.9;

/// What one sample's forecasts call for.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub below: Priority,
    pub series: String,
    pub reason: String,
}

/// Shed low priority when a watched mailbox is forecast to fill within the horizon; low and
/// normal when within a third of it or when it is nearly full already. High and critical work
/// is never shed: only a really full mailbox refuses it. Without `forecasts` (the reactive
/// policy) only a mailbox nearly full sheds.
pub fn assess(view: &MonitorView, min_confidence: f64, forecasts: bool) -> Option<Call> {
    let horizon_s = HORIZON as f64 * view.interval_ms as f64 / 1000.0;
    let mut worst: Option<Call> = None;
    for s in view
        .series
        .iter()
        .filter(|s| WATCHED.contains(&s.name.as_str()))
    {
        let Some(limit) = s.limit.filter(|l| *l > 0.0) else {
            continue;
        };
        let fill = s.last / limit;
        let breach = s
            .time_to_breach_s
            .filter(|_| forecasts && s.confidence.unwrap_or(0.0) >= min_confidence);
        let call = if fill >= NEARLY_FULL {
            Some((
                Priority::High,
                format!("{} is {:.0} % full", s.name, fill * 100.0),
            ))
        } else {
            breach.and_then(|t| {
                let below = if t <= horizon_s / 3.0 {
                    Priority::High
                } else if t <= horizon_s {
                    Priority::Normal
                } else {
                    return None;
                };
                let confidence = s.confidence.unwrap_or(0.0);
                let why = format!(
                    "{} is forecast to fill in {t:.0} s (confidence {confidence:.2})",
                    s.name
                );
                Some((below, why))
            })
        };
        let call = call.map(|(below, reason)| match s.name.as_str() {
            MEMORY => (below.min(Priority::Normal), reason),
            _ => (below, reason),
        });
        if let Some((below, reason)) = call {
            if worst.as_ref().is_none_or(|w| below > w.below) {
                worst = Some(Call {
                    below,
                    series: s.name.clone(),
                    reason,
                });
            }
        }
    }
    worst
}

pub struct Shedder {
    hive: Hive,
    /// Until when the current decision stands without a new call for it.
    held_until: Option<Instant>,
    hold: Duration,
}

impl Shedder {
    pub fn new(hive: Hive) -> Self {
        let hold = Duration::from_millis(hive.settings.load().plugins.shedding.hold_ms);
        Self {
            hive,
            held_until: None,
            hold,
        }
    }

    fn publish(&self, state: ShedState) {
        let m = &self.hive.metrics;
        m.shedding_level.set(state.level());
        match &state.reason {
            Some(reason) => {
                tracing::warn!(below = ?state.below, %reason, "shedding low-priority submissions")
            }
            None => tracing::info!("shedding ended"),
        }
        self.hive.bus.publish(Event::Shedding(state.clone()));
        self.hive.shedding.store(std::sync::Arc::new(state));
    }

    fn decide(&mut self, call: Option<Call>, now: Instant) {
        let current = self.hive.shedding.load_full();
        let held = self.held_until.is_some_and(|until| now < until);
        match call {
            // A weaker call does not lift a stronger decision before its hold runs out.
            Some(call) if !held || current.below.is_none_or(|b| call.below >= b) => {
                self.held_until = Some(now + self.hold);
                if current.below != Some(call.below) {
                    self.publish(ShedState {
                        below: Some(call.below),
                        series: Some(call.series),
                        reason: Some(call.reason),
                        since_ms: Some(now_ms()),
                        retry_after_s: self.hold.as_secs().max(1),
                    });
                }
            }
            Some(_) => {}
            None if !held && current.below.is_some() => {
                self.held_until = None;
                self.publish(ShedState::default());
            }
            None => {}
        }
    }
}

impl Actor for Shedder {
    type Context = Context<Self>;

    /// A plugin that stops (or crashes) must not leave submissions refused behind it.
    fn stopped(&mut self, _: &mut Context<Self>) {
        if self.hive.shedding.load().below.is_some() {
            self.publish(ShedState::default());
        }
    }
}

impl Plugin for Shedder {
    const NAME: &'static str = "shedding";
}

impl Handler<Insight> for Shedder {
    type Result = ();

    fn handle(&mut self, insight: Insight, _: &mut Context<Self>) {
        let settings = self.hive.settings.load();
        let plugins = &settings.plugins;
        self.hold = Duration::from_millis(plugins.shedding.hold_ms);
        if !plugins.shedding.enabled {
            // Turned off while it ran: nothing stays refused behind it.
            self.held_until = None;
            return self.decide(None, Instant::now());
        }
        let forecasts = plugins.mode == PluginMode::Predictive;
        let call = assess(&insight.view, plugins.shedding.min_confidence, forecasts);
        self.decide(call, Instant::now());
    }
}

impl Handler<Shutdown> for Shedder {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshots::monitor::SeriesView;

    fn series(name: &str, last: f64, ttb: Option<f64>, confidence: f64) -> SeriesView {
        SeriesView {
            name: name.into(),
            unit: "messages",
            last,
            samples: 60,
            limit: Some(1000.0),
            forecast: None,
            time_to_breach_s: ttb,
            confidence: ttb.map(|_| confidence),
            warning: false,
        }
    }

    fn view(series: Vec<SeriesView>) -> MonitorView {
        MonitorView {
            interval_ms: 1000,
            series,
            ..MonitorView::default()
        }
    }

    #[test]
    fn the_nearer_the_forecast_fill_the_more_is_shed() {
        let calm = view(vec![series("mailbox.store", 10.0, None, 0.0)]);
        assert_eq!(assess(&calm, 0.5, true), None);
        let coming = view(vec![series("mailbox.store", 100.0, Some(25.0), 0.8)]);
        let call = assess(&coming, 0.5, true).expect("a call");
        assert_eq!(call.below, Priority::Normal);
        assert!(call.reason.contains("25 s"), "{}", call.reason);
        let close = view(vec![series("mailbox.orchestrator", 100.0, Some(5.0), 0.8)]);
        assert_eq!(
            assess(&close, 0.5, true).map(|c| c.below),
            Some(Priority::High)
        );
        let full = view(vec![series("mailbox.store", 950.0, None, 0.0)]);
        assert_eq!(
            assess(&full, 0.5, true).map(|c| c.below),
            Some(Priority::High)
        );
    }

    #[test]
    fn a_backlog_or_memory_nearing_its_limit_sheds_but_memory_spares_normal_work() {
        let backlog = view(vec![series("tasks.backlog", 950.0, None, 0.0)]);
        assert_eq!(
            assess(&backlog, 0.5, true).map(|c| c.below),
            Some(Priority::High)
        );
        let coming = view(vec![series("memory.rss", 300.0, Some(4.0), 0.9)]);
        let call = assess(&coming, 0.5, true).expect("a call");
        assert_eq!(
            (call.below, call.series.as_str()),
            (Priority::Normal, "memory.rss")
        );
        let over = view(vec![series("memory.rss", 1200.0, None, 0.0)]);
        assert_eq!(
            assess(&over, 0.5, true).map(|c| c.below),
            Some(Priority::Normal)
        );
    }

    #[test]
    fn the_reactive_policy_sheds_on_a_nearly_full_mailbox_only() {
        let coming = view(vec![series("mailbox.store", 100.0, Some(10.0), 0.9)]);
        assert!(assess(&coming, 0.5, true).is_some());
        assert_eq!(assess(&coming, 0.5, false), None);
        let full = view(vec![series("mailbox.store", 950.0, None, 0.0)]);
        assert_eq!(
            assess(&full, 0.5, false).map(|c| c.below),
            Some(Priority::High)
        );
    }

    #[test]
    fn unsure_far_or_unwatched_forecasts_shed_nothing() {
        let unsure = view(vec![series("mailbox.store", 100.0, Some(5.0), 0.3)]);
        assert_eq!(assess(&unsure, 0.5, true), None);
        let far = view(vec![series("mailbox.store", 100.0, Some(120.0), 0.9)]);
        assert_eq!(assess(&far, 0.5, true), None);
        let agents = view(vec![series("mailbox.agent", 999.0, Some(1.0), 0.9)]);
        assert_eq!(assess(&agents, 0.5, true), None);
    }

    #[test]
    fn the_worst_watched_mailbox_decides() {
        let both = view(vec![
            series("mailbox.orchestrator", 100.0, Some(25.0), 0.9),
            series("mailbox.store", 100.0, Some(4.0), 0.9),
        ]);
        let call = assess(&both, 0.5, true).expect("a call");
        assert_eq!(
            (call.below, call.series.as_str()),
            (Priority::High, "mailbox.store")
        );
    }

    #[test]
    fn only_priorities_below_the_floor_are_refused() {
        let state = ShedState {
            below: Some(Priority::High),
            ..ShedState::default()
        };
        assert!(state.refuses(Priority::Low) && state.refuses(Priority::Normal));
        assert!(!state.refuses(Priority::High) && !state.refuses(Priority::Critical));
        assert!(!ShedState::default().refuses(Priority::Low));
    }
}
