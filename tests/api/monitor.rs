//! The monitoring actor through the API: forecasts of every watched series against its limit,
//! and anomalies announced as events and listed.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{spawn_with, TestApp, PATIENCE};

async fn series(app: &TestApp, name: &str) -> Option<Value> {
    let view = app.json("/api/v1/monitor/forecasts").await;
    view["series"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
}

/// Poll the forecasts until `name` has at least `samples` samples.
async fn sampled(app: &TestApp, name: &str, samples: u64) -> Value {
    let started = Instant::now();
    loop {
        if let Some(s) = series(app, name).await {
            if s["samples"].as_u64() >= Some(samples) {
                return s;
            }
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{name} never reached {samples} samples"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn every_bounded_series_is_forecast_against_its_limit() {
    let app = spawn_with(|c| {
        c.sample_interval_ms = 100;
        c.memory_budget_bytes = 80_000_000;
        c.max_queued_tasks = 5_000;
    })
    .await;
    let rss = sampled(&app, "memory.rss", 20).await;
    assert_eq!(rss["unit"], "bytes");
    assert_eq!(rss["limit"], 80_000_000.0);
    let backlog = sampled(&app, "tasks.backlog", 2).await;
    assert_eq!(backlog["limit"], 5_000.0);
    let f = &rss["forecast"];
    assert!(
        f["lower"].as_f64() <= f["value"].as_f64() && f["value"].as_f64() <= f["upper"].as_f64(),
        "{rss}"
    );
    assert!(
        (f["horizon_s"].as_f64().unwrap() - 3.0).abs() < 1e-9,
        "30 samples of 100 ms: {rss}"
    );
    // The test process's memory moves with every other test in it, so only the shape is
    // certain: a time to breach comes with its confidence.
    if let Some(seconds) = rss["time_to_breach_s"].as_f64() {
        let confidence = rss["confidence"].as_f64().unwrap();
        assert!(seconds >= 0.0 && (0.0..=1.0).contains(&confidence), "{rss}");
    }
    let store = series(&app, "mailbox.store")
        .await
        .expect("the store's mailbox is watched");
    assert_eq!(store["limit"], 8192.0);
    assert!(series(&app, "queue.critical").await.is_some());
    // Queue wait is forecast against each class's target.
    let wait = series(&app, "wait.normal")
        .await
        .expect("the normal class's queue wait is watched");
    assert_eq!(
        (wait["unit"].as_str(), wait["limit"].as_f64()),
        (Some("ms"), Some(2000.0))
    );
    let view = app.json("/api/v1/monitor/forecasts").await;
    assert_eq!(view["forecaster"], "select");
    let bytes = view["history_bytes"].as_u64().unwrap();
    assert!(
        bytes > 0 && bytes < 1 << 20,
        "the monitor's history is bounded: {bytes} B"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("hive_forecast_value{bound=\"upper\",series=\"memory.rss\"}"));
    app.stop().await;
}

#[actix_rt::test]
async fn a_sudden_queue_is_an_anomaly_announced_and_listed() {
    let app = spawn_with(|c| c.sample_interval_ms = 100).await;
    // Past the detector's warm-up on an empty queue.
    sampled(&app, "queue.low", 160).await;
    let mut events = app.events().await;
    // A role with no agents: everything waits in the queue.
    for i in 0..200 {
        app.submit(
            json!({"role": "nobody", "priority": "low", "input": {"op": "echo", "value": i}}),
        )
        .await;
    }
    let (_, anomaly) = events
        .until(|kind, data| kind == "monitor.anomaly" && data["series"] == "queue.low")
        .await;
    assert!(anomaly["score"].as_f64().unwrap() >= 0.5, "{anomaly}");
    assert!(anomaly["value"].as_f64().unwrap() > 0.0);
    let listed = app.json("/api/v1/monitor/anomalies?series=queue.low").await;
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["at_ms"] == anomaly["at_ms"]));
    assert_eq!(listed["detector"], "novelty");
    let none = app
        .json("/api/v1/monitor/anomalies?series=no.such.series")
        .await;
    assert_eq!(none["items"], json!([]));
    let bad = app.get("/api/v1/monitor/anomalies?sieries=x").await;
    assert_eq!(bad.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        app.metric("hive_forecast_anomalies_total{series=\"queue.low\"}")
            .await
            >= 1.0
    );
    app.stop().await;
}
