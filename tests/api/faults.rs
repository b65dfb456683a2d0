//! Fault injection against the real server: many agents, a stream of tasks of which a fraction
//! make their agent panic. Nothing accepted is lost, every crash is a counted restart, and the
//! pool and the queues come back to where they started.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::spawn_with;

const AGENTS: usize = 200;
const TASKS: usize = 400;
/// One task in this many panics on every attempt.
const PANIC_EVERY: usize = 5;
/// Attempts of a panicking task: the first and one retry.
const PANIC_ATTEMPTS: usize = 2;

/// The server runs in this process: its resident memory, read now rather than from the
/// monitor's last sample.
fn resident_bytes() -> u64 {
    memory_stats::memory_stats().map_or(0, |m| m.physical_mem as u64)
}

#[actix_rt::test]
async fn panics_under_load_lose_nothing_and_the_pool_recovers() {
    let app = spawn_with(|c| c.retry_backoff_ms = 1).await;
    let created = app
        .post(
            "/api/v1/agents/batch",
            &json!({"count": AGENTS, "template": {"role": "worker"}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    // One panic before the baseline: with RUST_BACKTRACE set, the first panic loads the test
    // binary's debug symbols, which is the harness's memory, not the server's.
    let warm_up = app
        .submit(json!({"role": "worker", "input": {"op": "panic"}, "max_retries": 0}))
        .await;
    app.finished(warm_up["id"].as_str().unwrap()).await;
    let rss_before = resident_bytes();

    let mut events = app.events().await;
    let mut ids = Vec::new();
    for i in 0..TASKS {
        let input = if i % PANIC_EVERY == 0 {
            json!({"op": "panic"})
        } else if i % 2 == 0 {
            json!({"op": "sleep", "ms": 2})
        } else {
            json!({"op": "echo", "value": i})
        };
        let task = app
            .submit(json!({"role": "worker", "input": input, "max_retries": PANIC_ATTEMPTS - 1}))
            .await;
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    let mut finished = HashSet::new();
    while finished.len() < TASKS {
        let (kind, data) = events
            .until(|kind, _| {
                matches!(
                    kind,
                    "task.succeeded" | "task.dead" | "task.failed" | "lagged"
                )
            })
            .await;
        if kind == "lagged" {
            // A reader this far behind (a busy machine) missed events: read what ended instead.
            for id in &ids {
                if crate::helpers::is_final(&app.task(id).await) {
                    finished.insert(id.clone());
                }
            }
            continue;
        }
        finished.insert(data["id"].as_str().unwrap().to_owned());
    }

    let mut dead = 0;
    for (i, id) in ids.iter().enumerate() {
        let task = app.task(id).await;
        if i % PANIC_EVERY == 0 {
            assert_eq!(task["status"], "dead", "{task}");
            assert_eq!(task["attempts"], PANIC_ATTEMPTS as u64);
            dead += 1;
        } else {
            assert_eq!(task["status"], "succeeded", "{task}");
        }
    }
    // The warm-up task crashed its agent once too.
    let crashes = dead * PANIC_ATTEMPTS + 1;

    // Agents that crashed repeatedly wait out their backoff: the pool refills as they restart.
    let pool = loop {
        let tree = app
            .json(&format!("/api/v1/supervision?children={AGENTS}"))
            .await;
        let pool = tree["supervisors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "pool:worker")
            .unwrap()
            .clone();
        if pool["child_counts"]["running"] == AGENTS as u64 {
            break pool;
        }
        events
            .until(|kind, data| {
                kind == "supervisor.child_started" && data["supervisor"] == "pool:worker"
            })
            .await;
    };
    let series = r#"hive_supervisor_restarts_total{reason="panic",supervisor="pool:worker"}"#;
    assert_eq!(app.metric(series).await, crashes as f64);
    assert_eq!(pool["restarts"], crashes as u64);
    assert_eq!(pool["status"], "running");
    assert_eq!(
        pool["child_counts"]["running"], AGENTS as u64,
        "the pool is back at full size"
    );
    let restarts: u64 = pool["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["restarts"].as_u64().unwrap())
        .sum();
    assert_eq!(restarts, crashes as u64);

    let status = app.json("/api/v1/system/status").await;
    assert_eq!(status["agents"]["idle"], AGENTS as u64, "{status}");
    assert_eq!(status["tasks"]["queued"], 0);
    assert_eq!(status["tasks"]["running"], 0);
    let agents_restarts: u64 = {
        let page = app.json(&format!("/api/v1/agents?limit={AGENTS}")).await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a: &Value| a["restarts"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(agents_restarts, crashes as u64);
    for mailbox in status["mailboxes"].as_array().unwrap() {
        assert_eq!(mailbox["depth"], 0, "{mailbox}");
    }
    // No gross growth: the steady-state figure is measured by the soak benchmark, not here.
    let rss_after = resident_bytes();
    assert!(
        rss_after < rss_before + 64 * 1024 * 1024,
        "RSS {rss_before} -> {rss_after}"
    );
    app.stop().await;
}
