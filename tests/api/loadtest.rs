//! `hive loadtest` as scripts use it: the real binary, its JSON report, against a server it starts
//! itself and against a running one that wants a token.

use std::process::Output;

use serde_json::{json, Value};

use crate::helpers::spawn_app;

async fn loadtest(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_hive"))
        .arg("loadtest")
        .args(args)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .expect("hive loadtest runs")
}

fn report(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "loadtest failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON object ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[actix_rt::test]
async fn a_run_on_its_own_server_reports_every_task_and_restart_in_json() {
    // 100 requests/s for 2 s: 200 planned requests, every fifth a read, so 160 tasks, of which
    // (echo, echo, echo, fail, panic) repeats: 96 echo, 32 fail, 32 panic, each fault task with
    // one retry.
    let output = loadtest(&[
        "--agents",
        "20",
        "--duration",
        "2s",
        "--rate",
        "100",
        "--reads",
        "0.2",
        "--mix",
        "echo=3,fail=1,panic=1",
        "--json",
    ])
    .await;
    let report = report(&output);
    for key in [
        "agents",
        "duration_s",
        "requests_per_s",
        "tasks_per_s",
        "errors",
        "latency_ms",
        "task_latency_ms",
        "rss_bytes",
        "restarts",
    ] {
        assert!(report.get(key).is_some(), "{key} missing from {report}");
    }
    assert_eq!(report["agents"], 20);
    assert_eq!(report["errors"], json!({}), "{report}");
    let tasks = &report["tasks"];
    assert_eq!(tasks["accepted"], 160, "{report}");
    assert_eq!(tasks["succeeded"], 96, "{report}");
    assert_eq!(tasks["failed"], 32, "{report}");
    assert_eq!(tasks["dead"], 32, "{report}");
    assert_eq!(tasks["unfinished"], 0, "{report}");
    // Each panic task crashes its agent on both attempts, and each crash is a restart.
    assert!(report["restarts"].as_u64().unwrap() >= 64, "{report}");
    let latency = &report["latency_ms"];
    for endpoint in [
        "POST /api/v1/tasks",
        "POST /api/v1/agents/batch",
        "GET /api/v1/tasks/{id}",
        "GET /api/v1/agents",
        "GET /api/v1/system/status",
        "GET /health",
    ] {
        let p = &latency[endpoint];
        let at = |k: &str| {
            p[k].as_f64()
                .unwrap_or_else(|| panic!("{endpoint} {k}: {p}"))
        };
        assert!(
            at("p50") <= at("p90") && at("p90") <= at("p95") && at("p95") <= at("p99"),
            "{endpoint}: {p}"
        );
        assert!(at("p99") <= at("max") && at("p50") > 0.0, "{endpoint}: {p}");
    }
    assert!(report["task_latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    // The server's own account: each of the 160 submissions went through every phase once,
    // and was committed in some batch.
    let submissions = &report["submissions"];
    for phase in [
        "to_orchestrator",
        "to_store",
        "batch_wait",
        "commit",
        "answer",
        "reply",
    ] {
        let p = &submissions["phases_ms"][phase];
        assert_eq!(p["count"], 160, "{phase}: {submissions}");
        assert!(
            p["p50"].as_f64().unwrap() <= p["p99"].as_f64().unwrap(),
            "{phase}: {p}"
        );
    }
    assert!(submissions["phases_ms"]["commit"]["mean"].as_f64().unwrap() > 0.0);
    // Retries and ends are written too, so the commits carried at least the 160 creations.
    let (batch, commits) = (&submissions["batch_writes"], &submissions["commit_ms"]);
    let writes = batch["mean"].as_f64().unwrap() * batch["count"].as_f64().unwrap();
    assert!(writes >= 160.0, "{submissions}");
    assert_eq!(batch["count"], commits["count"], "{submissions}");
    let rss = &report["rss_bytes"];
    assert!(rss["before"].as_u64().unwrap() > 0);
    assert!(rss["peak"].as_u64().unwrap() >= rss["after"].as_u64().unwrap());
}

#[actix_rt::test]
async fn a_running_server_is_loaded_with_its_token_and_refuses_a_run_without_one() {
    let app = spawn_app().await;
    let issued: Value = app
        .post("/api/v1/tokens", &json!({"role": "admin", "name": "load"}))
        .await
        .json()
        .await
        .unwrap();
    let secret = issued["secret"].as_str().unwrap();

    let refused = loadtest(&["--url", &app.base, "--agents", "2", "--duration", "1s"]).await;
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("401"), "names the refusal: {said}");

    let output = loadtest(&[
        "--url",
        &app.base,
        "--token",
        secret,
        "--agents",
        "4",
        "--duration",
        "1s",
        "--concurrency",
        "4",
        "--json",
    ])
    .await;
    let report = report(&output);
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(secret),
        "the token is never printed"
    );
    let accepted = report["tasks"]["accepted"].as_u64().unwrap();
    assert!(accepted > 0, "{report}");
    assert_eq!(report["tasks"]["succeeded"].as_u64(), Some(accepted));
    assert_eq!(report["concurrency"], 4);
    assert_eq!(report["target_rate"], Value::Null, "closed loop");
    let agents = app
        .with_token(secret)
        .json("/api/v1/agents?role=load&limit=100")
        .await;
    assert_eq!(agents["items"].as_array().unwrap().len(), 4);
}

#[actix_rt::test]
async fn the_gate_reports_every_check_and_exits_non_zero_on_a_miss() {
    // No server answers in a microsecond: every p95 check misses, the rest still pass.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(["gate", "--quick", "--p95-limit-ms", "0.001", "--json"])
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .expect("hive gate runs");
    assert!(!output.status.success(), "a miss fails the gate");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("the gate failed"), "{said}");
    let gate: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let checks = gate["checks"].as_array().unwrap();
    let missed: Vec<&str> = checks
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(!missed.is_empty());
    assert!(missed.iter().all(|name| name.contains("p95")), "{missed:?}");
    assert!(missed
        .iter()
        .any(|n| n.starts_with("POST /api/v1/tasks p95, 200 agents")));
    let rss = checks
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with("server RSS"))
        .unwrap();
    assert_eq!(rss["passed"], true, "{rss}");
    assert_eq!(gate["with_200_agents"]["agents"], 200);
    assert_eq!(gate["with_10_agents"]["tasks"]["unfinished"], 0);
}
