//! The monitor's plugins against a real server: shedding ahead of a filling mailbox, alerts to a
//! real webhook, and the autoscaler sizing a pool under a real queue.

use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::connection::SimpleConnection;
use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::helpers::{spawn_with, TestApp, PATIENCE};

const STORE_BOUND: usize = 20;

async fn submit_status(app: &TestApp, priority: &str, value: usize) -> reqwest::Response {
    let body =
        json!({"role": "worker", "priority": priority, "input": {"op": "echo", "value": value}});
    app.post("/api/v1/tasks", &body).await
}

#[actix_rt::test]
async fn low_priority_work_is_shed_while_the_store_mailbox_fills_and_critical_work_still_flows() {
    let app = spawn_with(|c| {
        c.sample_interval_ms = 100;
        c.mailbox.store = STORE_BOUND;
        c.plugins.shedding.hold_ms = 300;
    })
    .await;
    let mut events = app.events().await;
    // Another writer holds the database: commits wait, and submissions pile up in the store's
    // mailbox until it is nearly full.
    let mut holder = app.hold_database();
    // Sent now, answered once the commit goes through.
    let waiting: FuturesUnordered<_> = (0..STORE_BOUND - 1)
        .map(|i| {
            let body = json!({"role": "worker", "input": {"op": "echo", "value": i}});
            actix_rt::spawn(app.client.post(app.url("/api/v1/tasks")).json(&body).send())
        })
        .collect();

    let (_, started) = events
        .until(|kind, data| kind == "plugin.shedding" && data["below"] == "high")
        .await;
    assert!(
        started["reason"]
            .as_str()
            .unwrap()
            .contains("mailbox.store"),
        "{started}"
    );
    let status = app.json("/api/v1/system/status").await;
    assert_eq!(status["shedding"]["below"], "high", "{status}");
    for priority in ["low", "normal"] {
        let refused = submit_status(&app, priority, 0).await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()["retry-after"], "1");
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(problem["type"], "urn:hive:problem:shed", "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{priority}-priority")),
            "{problem}"
        );
    }
    // Critical work is not shed: it takes the mailbox's last slot and waits for the commit.
    let critical = {
        let body = json!({"role": "worker", "priority": "critical", "input": {"op": "echo", "value": "c"}});
        actix_rt::spawn(app.client.post(app.url("/api/v1/tasks")).json(&body).send())
    };

    holder.batch_execute("COMMIT").unwrap();
    let critical = critical.await.unwrap().unwrap();
    assert_eq!(critical.status(), StatusCode::ACCEPTED);
    let accepted: Vec<StatusCode> = waiting
        .map(|r| r.unwrap().unwrap().status())
        .collect()
        .await;
    assert!(
        accepted.iter().all(|s| *s == StatusCode::ACCEPTED),
        "{accepted:?}"
    );
    // The mailbox drains; once the hold has passed without a new call, shedding ends.
    events
        .until(|kind, data| kind == "plugin.shedding" && data["below"].is_null())
        .await;
    assert_eq!(
        submit_status(&app, "low", 1).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.metric("hive_tasks_shed_total{priority=\"low\"}").await,
        1.0
    );
    assert_eq!(
        app.metric("hive_tasks_shed_total{priority=\"normal\"}")
            .await,
        1.0
    );
    assert_eq!(app.metric("hive_shedding_level").await, 0.0);
    // Nothing accepted was lost: every 202 is a stored task.
    let listed = app.json("/api/v1/tasks?limit=100").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), STORE_BOUND + 1);
    app.stop().await;
}

/// A real webhook receiver: every JSON body POSTed to `/alert` arrives on the channel.
async fn webhook() -> (
    String,
    mpsc::UnboundedReceiver<Value>,
    actix_web::dev::ServerHandle,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = HttpServer::new(move || {
        let tx = tx.clone();
        App::new().route(
            "/alert",
            web::post().to(move |body: web::Json<Value>| {
                let _ = tx.send(body.into_inner());
                async { HttpResponse::NoContent().finish() }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/alert", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (url, rx, handle)
}

#[actix_rt::test]
async fn an_anomaly_is_posted_to_the_webhook_once_per_cooldown() {
    let (url, mut received, hook) = webhook().await;
    let app = spawn_with(|c| {
        c.sample_interval_ms = 100;
        c.plugins.alerts.webhooks = vec![url];
        c.plugins.alerts.cooldown_ms = 600_000;
    })
    .await;
    // Past the detector's warm-up on an empty queue, then a sudden queue: a role no agent has.
    let started = Instant::now();
    while app.json("/api/v1/monitor/forecasts").await["series"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "queue.low").cloned())
        .and_then(|s| s["samples"].as_u64())
        < Some(160)
    {
        assert!(started.elapsed() < PATIENCE, "queue.low never sampled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut events = app.events().await;
    for i in 0..200 {
        app.submit(
            json!({"role": "nobody", "priority": "low", "input": {"op": "echo", "value": i}}),
        )
        .await;
    }
    let (_, event) = events
        .until(|kind, data| kind == "alert" && data["series"] == "queue.low")
        .await;
    assert_eq!(event["kind"], "anomaly");
    let alert = loop {
        let alert = tokio::time::timeout(PATIENCE, received.recv())
            .await
            .expect("a webhook call")
            .expect("receiver open");
        if alert["series"] == "queue.low" {
            break alert;
        }
    };
    assert_eq!(alert["kind"], "anomaly");
    assert!(alert["score"].as_f64().unwrap() >= 0.5, "{alert}");
    assert!(alert["summary"].as_str().unwrap().contains("queue.low"));
    // More of the same within the cooldown is counted by the detector, not posted again.
    for i in 0..400 {
        app.submit(
            json!({"role": "nobody", "priority": "low", "input": {"op": "echo", "value": i}}),
        )
        .await;
    }
    let flagged = app
        .metric("hive_forecast_anomalies_total{series=\"queue.low\"}")
        .await;
    assert!(flagged >= 1.0);
    assert!(app.metric("hive_alerts_total{kind=\"anomaly\"}").await >= 1.0);
    assert!(
        app.metric("hive_alert_deliveries_total{outcome=\"delivered\"}")
            .await
            >= 1.0
    );
    while let Ok(more) = received.try_recv() {
        assert_ne!(
            more["series"], "queue.low",
            "posted twice within the cooldown: {more}"
        );
    }
    app.stop().await;
    hook.stop(true).await;
}

async fn pool_size(app: &TestApp, role: &str) -> usize {
    app.json(&format!("/api/v1/agents?role={role}&limit=1000"))
        .await["items"]
        .as_array()
        .unwrap()
        .len()
}

#[actix_rt::test]
async fn the_autoscaler_grows_a_pool_under_a_queue_and_shrinks_it_after() {
    let app = spawn_with(|c| {
        c.sample_interval_ms = 100;
        c.slo.normal_ms = 200;
        c.plugins.autoscaler.idle_ms = 500;
        c.plugins.autoscaler.cooldown_ms = 200;
        c.plugins.autoscaler.pools.insert(
            "auto".to_owned().try_into().unwrap(),
            hive::config::PoolBounds {
                min: 1,
                max: 6,
                executor: Default::default(),
                capabilities: Default::default(),
            },
        );
    })
    .await;
    let mut events = app.events().await;
    // An operator's agent fills the minimum; it is never the autoscaler's to remove.
    let manual = app
        .create_agent(json!({"role": "auto", "name": "manual"}))
        .await;
    // One agent, a hundred tasks of 50 ms: the queue's wait climbs past the 200 ms target.
    let mut ids = Vec::new();
    for _ in 0..100 {
        let task = app
            .submit(json!({"role": "auto", "input": {"op": "sleep", "ms": 50}}))
            .await;
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    let (_, up) = events
        .until(|kind, data| {
            kind == "plugin.autoscaler" && data["change"] == "up" && data["queued"] != 0
        })
        .await;
    assert!(up["count"].as_u64().unwrap() >= 1, "{up}");
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let done = app.all_finished(&refs).await;
    assert!(done.iter().all(|t| t["status"] == "succeeded"));
    let grown = app
        .metric("hive_autoscaler_changes_total{direction=\"up\",pool=\"auto\"}")
        .await;
    assert!(
        (1.0..=5.0).contains(&grown),
        "added {grown}, at most max - 1"
    );
    // Calm: the added agents go again, the operator's stays.
    events
        .until(|kind, data| kind == "plugin.autoscaler" && data["change"] == "down")
        .await;
    let started = Instant::now();
    while pool_size(&app, "auto").await > 1 {
        assert!(started.elapsed() < PATIENCE, "the pool never shrank back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = app.json("/api/v1/agents?role=auto").await;
    assert_eq!(left["items"][0]["id"], manual["id"], "{left}");
    app.stop().await;
}
