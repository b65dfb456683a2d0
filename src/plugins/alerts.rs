//! Alerts: a forecast breach or an anomaly becomes a JSON POST to each configured webhook, at most
//! once per cooldown for one kind of alert about one series. Every alert is also an `alert` event
//! on the bus and counted in `hive_alerts_total{kind}`; deliveries in
//! `hive_alert_deliveries_total{outcome}`.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use hive_actors::Shutdown;

use super::plugin::Plugin;
use crate::bus::event::{Alert, Event};
use crate::context::Hive;
use crate::domain::time::now_ms;
use crate::snapshots::monitor::Insight;

/// Most webhook calls in flight: a webhook that hangs must not pile up requests.
const MAX_IN_FLIGHT: usize = 32;

/// The alerts one sample raises, before cooldowns: every new anomaly, and every series the
/// monitor warns about (a breach forecast within the horizon, held, and not the one just over)
/// whose forecast has at least `min_confidence`.
pub fn alerts_of(insight: &Insight, min_confidence: f64) -> Vec<Alert> {
    let view = &insight.view;
    let at_ms = now_ms();
    let mut alerts: Vec<Alert> = insight
        .anomalies
        .iter()
        .map(|a| Alert {
            kind: "anomaly",
            series: a.series.clone(),
            at_ms: a.at_ms,
            summary: format!(
                "{} is anomalous at {} (score {:.2})",
                a.series, a.value, a.score
            ),
            value: a.value,
            limit: None,
            time_to_breach_s: None,
            confidence: None,
            score: Some(a.score),
        })
        .collect();
    for s in &view.series {
        let (Some(t), Some(confidence), Some(limit)) = (s.time_to_breach_s, s.confidence, s.limit)
        else {
            continue;
        };
        if s.warning && confidence >= min_confidence {
            alerts.push(Alert {
                kind: "breach_forecast",
                series: s.name.clone(),
                at_ms,
                summary: format!(
                    "{} is forecast to reach its limit of {limit} {} in {t:.0} s (confidence {confidence:.2})",
                    s.name, s.unit
                ),
                value: s.last,
                limit: Some(limit),
                time_to_breach_s: Some(t),
                confidence: Some(confidence),
                score: None,
            });
        }
    }
    alerts
}

/// When each kind of alert about each series was last raised.
pub struct Cooldowns {
    raised: HashMap<(&'static str, String), Instant>,
    period: Duration,
}

impl Cooldowns {
    pub fn new(period: Duration) -> Self {
        Self {
            raised: HashMap::new(),
            period,
        }
    }

    /// A new period (a change of the live settings), for the alerts raised from now on.
    pub fn set_period(&mut self, period: Duration) {
        self.period = period;
    }

    /// Whether `alert` may be raised at `now`; if so, its cooldown starts.
    pub fn admit(&mut self, alert: &Alert, now: Instant) -> bool {
        let key = (alert.kind, alert.series.clone());
        if self
            .raised
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < self.period)
        {
            return false;
        }
        self.raised.insert(key, now);
        true
    }
}

pub struct Alerter {
    hive: Hive,
    cooldowns: Cooldowns,
    in_flight: Rc<Cell<usize>>,
}

impl Alerter {
    pub fn new(hive: Hive) -> Self {
        let cooldown = Duration::from_millis(hive.settings.load().plugins.alerts.cooldown_ms);
        Self {
            hive,
            cooldowns: Cooldowns::new(cooldown),
            in_flight: Rc::default(),
        }
    }

    fn raise(&self, alert: Alert) {
        let m = &self.hive.metrics;
        m.alerts.with_label_values(&[alert.kind]).inc();
        tracing::warn!(kind = alert.kind, series = %alert.series, summary = %alert.summary, "alert");
        let body = serde_json::to_value(&alert).unwrap_or_default();
        self.hive.bus.publish(Event::Alert(alert));
        let settings = self.hive.settings.load();
        let timeout = Duration::from_millis(settings.plugins.alerts.timeout_ms);
        for url in &settings.plugins.alerts.webhooks {
            if self.in_flight.get() >= MAX_IN_FLIGHT {
                m.alert_deliveries.with_label_values(&["dropped"]).inc();
                continue;
            }
            self.in_flight.set(self.in_flight.get() + 1);
            let request = self.hive.http.post(url).timeout(timeout).json(&body).send();
            let (hive, in_flight) = (self.hive.clone(), self.in_flight.clone());
            actix_rt::spawn(async move {
                let outcome = match request.await.and_then(|r| r.error_for_status()) {
                    Ok(_) => "delivered",
                    Err(e) => {
                        // The error names the host, never the URL's path or query, which may
                        // carry the webhook's secret.
                        let host = e.url().and_then(|u| u.host_str().map(str::to_owned));
                        tracing::warn!(error = %e.without_url(), host = ?host, "alert delivery failed");
                        "failed"
                    }
                };
                hive.metrics
                    .alert_deliveries
                    .with_label_values(&[outcome])
                    .inc();
                in_flight.set(in_flight.get() - 1);
            });
        }
    }
}

impl Actor for Alerter {
    type Context = Context<Self>;
}

impl Plugin for Alerter {
    const NAME: &'static str = "alerts";
}

impl Handler<Insight> for Alerter {
    type Result = ();

    fn handle(&mut self, insight: Insight, _: &mut Context<Self>) {
        let now = Instant::now();
        let alerts = &self.hive.settings.load().plugins.alerts;
        if alerts.webhooks.is_empty() {
            return;
        }
        self.cooldowns
            .set_period(Duration::from_millis(alerts.cooldown_ms));
        let min_confidence = alerts.min_confidence;
        for alert in alerts_of(&insight, min_confidence) {
            if self.cooldowns.admit(&alert, now) {
                self.raise(alert);
            }
        }
    }
}

impl Handler<Shutdown> for Alerter {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshots::monitor::{AnomalyView, MonitorView, SeriesView};
    use std::sync::Arc;

    fn insight(series: Vec<SeriesView>, anomalies: Vec<AnomalyView>) -> Insight {
        Insight {
            view: Arc::new(MonitorView {
                interval_ms: 1000,
                series,
                ..MonitorView::default()
            }),
            anomalies: anomalies.into(),
        }
    }

    fn series(name: &str, ttb: Option<f64>, confidence: f64, warning: bool) -> SeriesView {
        SeriesView {
            name: name.into(),
            unit: "bytes",
            last: 70e6,
            samples: 60,
            limit: Some(80e6),
            forecast: None,
            time_to_breach_s: ttb,
            confidence: ttb.map(|_| confidence),
            warning,
        }
    }

    #[test]
    fn near_confident_breaches_and_new_anomalies_raise_alerts() {
        let anomaly = AnomalyView {
            series: "queue.low".into(),
            at_ms: 5,
            value: 200.0,
            score: 0.9,
        };
        let alerts = alerts_of(
            &insight(
                vec![
                    series("memory.rss", Some(12.0), 0.9, true),
                    series("memory.allocated", Some(12.0), 0.2, true),
                    // Forecast near, but not held long enough (or just back from a breach).
                    series("wait.low", Some(12.0), 0.9, false),
                    series("mailbox.store", Some(200.0), 0.9, false),
                    series("queue.low", None, 0.0, false),
                ],
                vec![anomaly],
            ),
            0.5,
        );
        let kinds: Vec<(&str, &str)> = alerts.iter().map(|a| (a.kind, a.series.as_str())).collect();
        assert_eq!(
            kinds,
            vec![("anomaly", "queue.low"), ("breach_forecast", "memory.rss")]
        );
        assert_eq!(alerts[1].time_to_breach_s, Some(12.0));
        assert!(
            alerts[1].summary.contains("in 12 s"),
            "{}",
            alerts[1].summary
        );
        assert_eq!(alerts[0].score, Some(0.9));
    }

    #[test]
    fn one_kind_of_alert_about_one_series_waits_out_its_cooldown() {
        let mut cooldowns = Cooldowns::new(Duration::from_secs(60));
        let alert = |kind, series: &str| Alert {
            kind,
            series: series.into(),
            at_ms: 0,
            summary: String::new(),
            value: 0.0,
            limit: None,
            time_to_breach_s: None,
            confidence: None,
            score: None,
        };
        let t0 = Instant::now();
        assert!(cooldowns.admit(&alert("anomaly", "queue.low"), t0));
        assert!(!cooldowns.admit(&alert("anomaly", "queue.low"), t0 + Duration::from_secs(59)));
        assert!(cooldowns.admit(&alert("breach_forecast", "queue.low"), t0));
        assert!(cooldowns.admit(&alert("anomaly", "memory.rss"), t0));
        assert!(cooldowns.admit(&alert("anomaly", "queue.low"), t0 + Duration::from_secs(60)));
    }
}
