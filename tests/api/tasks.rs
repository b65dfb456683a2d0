//! Tasks through their whole life: each builtin op, retries, crashes, timeouts, cancellation,
//! idempotency, capability matching and paging.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with};

#[actix_rt::test]
async fn echo_sleep_and_spin_succeed_with_their_results() {
    let app = spawn_app().await;
    app.worker().await;
    let cases = [
        (json!({"op": "echo", "value": {"n": 7}}), json!({"n": 7})),
        (json!({"op": "sleep", "ms": 20}), json!({"slept_ms": 20})),
        (json!({"op": "spin", "us": 500}), json!({"spun_us": 500})),
    ];
    for (input, expected) in cases {
        let accepted = app.submit(json!({"role": "worker", "input": input})).await;
        assert_eq!(accepted["status"], "queued");
        let task = app.finished(accepted["id"].as_str().unwrap()).await;
        assert_eq!(task["status"], "succeeded", "{task}");
        assert_eq!(task["result"], expected);
        assert_eq!(task["attempts"], 1);
        assert!(task["started_at"].is_string() && task["finished_at"].is_string());
    }
    app.stop().await;
}

#[actix_rt::test]
async fn an_error_is_retried_then_the_task_fails_keeping_the_last_error() {
    let app = spawn_app().await;
    app.worker().await;
    let accepted = app
        .submit(json!({"role": "worker", "input": {"op": "fail", "error": "disk full"}, "max_retries": 2}))
        .await;
    let task = app.finished(accepted["id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "failed");
    assert_eq!(task["attempts"], 3, "first attempt plus two retries");
    assert_eq!(task["error"], "disk full");
    assert_eq!(app.metric("hive_task_retries_total").await, 2.0);
    app.stop().await;
}

#[actix_rt::test]
async fn invalid_builtin_input_fails_at_once_without_retries() {
    let app = spawn_app().await;
    app.worker().await;
    // Input no builtin agent of the role could run is refused at submission, naming the field.
    for (input, field) in [
        (json!({"op": "fly"}), "input.op"),
        (json!({"op": "sleep", "ms": -1}), "input"),
        (json!({"op": "sleep", "ms": "soon"}), "input"),
        (json!({"op": "spin", "us": 10_000_001}), "input.us"),
        (json!({"op": "echo", "value": 1, "extra": true}), "input"),
    ] {
        let problem = app
            .invalid("/api/v1/tasks", &json!({"role": "worker", "input": input}))
            .await;
        assert_eq!(problem["field"], field, "{input}: {problem}");
    }
    // A role with no agent yet takes any input; the agent that comes fails it at once.
    let accepted = app
        .submit(json!({"role": "later", "input": {"op": "fly"}}))
        .await;
    app.create_agent(json!({"role": "later"})).await;
    let task = app.finished(accepted["id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "failed");
    assert_eq!(task["attempts"], 1);
    assert!(
        task["error"]
            .as_str()
            .unwrap()
            .contains("invalid builtin input"),
        "{task}"
    );
    let tasks = app.json("/api/v1/tasks?role=worker").await;
    assert_eq!(tasks["items"], json!([]), "nothing refused was stored");
    app.stop().await;
}

#[actix_rt::test]
async fn a_panic_restarts_the_agent_and_the_task_ends_dead_after_its_retries() {
    let app = spawn_app().await;
    let agent = app.worker().await;
    let accepted = app
        .submit(json!({"role": "worker", "input": {"op": "panic"}, "max_retries": 2}))
        .await;
    let task = app.finished(accepted["id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "dead", "{task}");
    assert_eq!(task["attempts"], 3);
    let error = task["error"].as_str().unwrap();
    assert!(
        error.contains("crashed") && error.contains("panic"),
        "{error}"
    );

    // Each crash was a restart, visible on the agent, in the tree and in the metrics.
    let view = app.json(&format!("/api/v1/agents/{agent}")).await;
    assert_eq!(view["restarts"], 3);
    let tree = app.json("/api/v1/supervision").await;
    let pool = tree["supervisors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "pool:worker")
        .expect("pool listed");
    assert_eq!(pool["restarts"], 3);
    assert_eq!(pool["strategy"], "simple_one_for_one");
    assert_eq!(pool["parent"], "lifecycle");
    assert!(pool["recent_exits"][0]["reason"]["detail"]
        .as_str()
        .unwrap()
        .contains("panic"));
    let series = r#"hive_supervisor_restarts_total{reason="panic",supervisor="pool:worker"}"#;
    assert_eq!(app.metric(series).await, 3.0);

    // The restarted agent still works.
    assert_eq!(
        app.run(json!({"op": "echo", "value": 1})).await["status"],
        "succeeded"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_timed_out_attempt_is_cancelled_and_the_task_ends_dead() {
    let app = spawn_app().await;
    app.worker().await;
    let accepted = app
        .submit(json!({"role": "worker", "input": {"op": "sleep", "ms": 60000}, "timeout_ms": 50, "max_retries": 1}))
        .await;
    let task = app.finished(accepted["id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "dead");
    assert_eq!(task["attempts"], 2);
    assert_eq!(task["error"], "timed out after 50 ms");
    // The agent was freed and takes the next task.
    assert_eq!(
        app.run(json!({"op": "echo", "value": 2})).await["status"],
        "succeeded"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_task_no_agent_can_serve_stays_queued_until_one_can() {
    let app = spawn_app().await;
    app.worker().await;
    let accepted = app
        .submit(json!({"role": "worker", "input": {"op": "echo", "value": 3}, "required_capabilities": ["gpu"]}))
        .await;
    let id = accepted["id"].as_str().unwrap();
    // An ordinary task submitted after it runs on the ordinary agent; the gpu task waits.
    let plain = app
        .submit(json!({"role": "worker", "input": {"op": "echo", "value": 4}}))
        .await;
    app.finished(plain["id"].as_str().unwrap()).await;
    assert_eq!(app.task(id).await["status"], "queued");
    let queued = app.json("/api/v1/tasks?status=queued").await;
    assert_eq!(queued["items"][0]["id"], id);

    app.create_agent(json!({"role": "worker", "capabilities": ["gpu", "ssd"]}))
        .await;
    let task = app.finished(id).await;
    assert_eq!(task["status"], "succeeded");
    app.stop().await;
}

#[actix_rt::test]
async fn cancelling_a_queued_task_ends_it_and_a_second_cancel_conflicts() {
    let app = spawn_app().await;
    let accepted = app
        .submit(json!({"role": "nobody", "input": {"op": "echo", "value": 0}}))
        .await;
    let id = accepted["id"].as_str().unwrap();
    let response = app
        .post(&format!("/api/v1/tasks/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "cancelled"
    );
    assert_eq!(app.task(id).await["status"], "cancelled");
    let again = app
        .post(&format!("/api/v1/tasks/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let unknown = app.post("/api/v1/tasks/nope/cancel", &json!({})).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[actix_rt::test]
async fn cancelling_a_running_task_frees_its_agent() {
    let app = spawn_app().await;
    let agent = app.worker().await;
    let mut events = app.events().await;
    let long = app
        .submit(json!({"role": "worker", "input": {"op": "sleep", "ms": 60000}}))
        .await;
    let id = long["id"].as_str().unwrap().to_owned();
    events
        .until(|kind, data| kind == "task.started" && data["id"] == id.as_str())
        .await;
    assert_eq!(
        app.json(&format!("/api/v1/agents/{agent}")).await["current_task"],
        id.as_str()
    );
    let response = app
        .post(&format!("/api/v1/tasks/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.run(json!({"op": "echo", "value": 5})).await["status"],
        "succeeded"
    );
    assert_eq!(app.task(&id).await["status"], "cancelled");
    app.stop().await;
}

#[actix_rt::test]
async fn a_repeated_idempotency_key_returns_the_original_task() {
    let app = spawn_app().await;
    let body = json!({"role": "worker", "input": {"op": "echo", "value": 1}, "idempotency_key": "order-42"});
    let first = app.post("/api/v1/tasks", &body).await;
    assert_eq!(first.headers()["idempotent-replayed"], "false");
    let first: Value = first.json().await.unwrap();
    let second = app.post("/api/v1/tasks", &body).await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    let all = app.json("/api/v1/tasks").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[actix_rt::test]
async fn higher_priority_tasks_are_dispatched_first() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for priority in ["low", "normal", "critical", "high"] {
        let t = app.submit(json!({"role": "worker", "input": {"op": "echo", "value": priority}, "priority": priority})).await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    let mut events = app.events().await;
    app.worker().await;
    let mut order = Vec::new();
    while order.len() < 4 {
        let (_, data) = events.until(|kind, _| kind == "task.succeeded").await;
        order.push(data["priority"].as_str().unwrap().to_owned());
    }
    assert_eq!(order, ["critical", "high", "normal", "low"]);
    app.stop().await;
}

#[actix_rt::test]
async fn task_lists_page_with_a_stable_cursor_and_filter_by_role() {
    let app = spawn_app().await;
    let mut submitted = Vec::new();
    for i in 0..7 {
        let role = if i % 2 == 0 { "even" } else { "odd" };
        let t = app
            .submit(json!({"role": role, "input": {"op": "echo", "value": i}}))
            .await;
        submitted.push(t["id"].as_str().unwrap().to_owned());
    }
    let seen = app.ids_of_all_pages("/api/v1/tasks?limit=3").await;
    assert_eq!(seen, submitted);
    let odd = app.json("/api/v1/tasks?role=odd").await;
    assert_eq!(odd["items"].as_array().unwrap().len(), 3);
    app.stop().await;
}

#[actix_rt::test]
async fn a_low_priority_task_that_used_up_its_target_goes_before_older_high_ones() {
    // `low` may wait 1 ms, `high` an hour: once the low task has waited at all it has used more of
    // its target than any high task, though each of those is older. Strict priority would run
    // all eight high tasks first; a low task would starve behind a steady stream of them.
    let app = spawn_with(|c| {
        c.slo.low_ms = 1;
        c.slo.high_ms = 3_600_000;
    })
    .await;
    for _ in 0..8 {
        app.submit(
            json!({"role": "worker", "input": {"op": "echo", "value": "high"}, "priority": "high"}),
        )
        .await;
    }
    app.submit(
        json!({"role": "worker", "input": {"op": "echo", "value": "low"}, "priority": "low"}),
    )
    .await;
    let mut events = app.events().await;
    app.worker().await;
    let mut order = Vec::new();
    while order.len() < 9 {
        let (_, data) = events.until(|kind, _| kind == "task.started").await;
        order.push(data["priority"].as_str().unwrap().to_owned());
    }
    assert_eq!(order[0], "low", "{order:?}");
    app.stop().await;
}

#[actix_rt::test]
async fn a_result_over_the_limit_fails_its_task_unless_truncation_was_asked_for() {
    let app = spawn_with(|c| c.max_result_bytes = 64).await;
    app.worker().await;
    let long = "x".repeat(100);
    let refused = app.run(json!({"op": "echo", "value": long})).await;
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(
        refused["attempts"], 1,
        "the same result would come again: no retry"
    );
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("102 bytes") && error.contains("limit of 64"),
        "{error}"
    );
    assert!(refused["result"].is_null());

    let accepted = app
        .submit(json!({"role": "worker", "input": {"op": "echo", "value": long}, "truncate_result": true}))
        .await;
    assert_eq!(accepted["truncate_result"], true);
    let cut = app.finished(accepted["id"].as_str().unwrap()).await;
    assert_eq!(cut["status"], "succeeded", "{cut}");
    assert_eq!(cut["result"]["truncated"], true);
    assert_eq!(cut["result"]["original_bytes"], 102);
    assert_eq!(cut["result"]["preview"].as_str().unwrap().len(), 64);
    app.stop().await;
}

#[actix_rt::test]
async fn a_tasks_history_lists_every_attempt_and_the_sla_report_counts_it() {
    let app = spawn_app().await;
    app.worker().await;
    let failed = app
        .submit(json!({"role": "worker", "input": {"op": "fail", "error": "boom"}, "max_retries": 1, "priority": "high"}))
        .await;
    let id = failed["id"].as_str().unwrap();
    assert_eq!(app.finished(id).await["status"], "failed");
    let history = app.json(&format!("/api/v1/tasks/{id}/events")).await;
    let steps: Vec<(String, u64)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("queued", 0),
        ("started", 1),
        ("retrying", 1),
        ("started", 2),
        ("failed", 2),
    ];
    assert_eq!(steps, expected.map(|(k, a)| (k.to_owned(), a)));
    assert_eq!(history["items"][2]["error"], "boom");
    let missing = app.get("/api/v1/tasks/nope/events").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    for i in 0..3 {
        app.run(json!({"op": "echo", "value": i})).await;
    }
    let sla = app.json("/api/v1/sla?window=1m").await;
    assert_eq!(sla["window_s"], 60);
    let class = |p: &str| {
        sla["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["priority"] == p)
            .cloned()
            .unwrap()
    };
    assert_eq!(class("normal")["tasks"], 3);
    assert_eq!(class("high")["tasks"], 1);
    assert_eq!(class("normal")["target_ms"], 2000);
    let waits = &class("normal")["queue_wait_ms"];
    assert!(waits["p50"].as_u64().unwrap() <= waits["p99"].as_u64().unwrap());
    assert!(class("low")["queue_wait_ms"].is_null());
    let bad = app.get("/api/v1/sla?window=forever").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["field"], "window", "{problem}");
    app.stop().await;
}

#[actix_rt::test]
async fn task_lists_filter_by_priority_and_creation_time() {
    let app = spawn_app().await;
    let low = app
        .submit(json!({"role": "worker", "input": {"op": "echo", "value": 1}, "priority": "low"}))
        .await;
    let created = low["created_at"].as_str().unwrap().to_owned();
    app.submit(
        json!({"role": "worker", "input": {"op": "echo", "value": 2}, "priority": "critical"}),
    )
    .await;
    let lows = app.ids_of_all_pages("/api/v1/tasks?priority=low").await;
    assert_eq!(lows, [low["id"].as_str().unwrap()]);
    let since = app
        .ids_of_all_pages(&format!("/api/v1/tasks?created_since={created}"))
        .await;
    assert_eq!(since.len(), 2);
    let before = app
        .ids_of_all_pages(&format!("/api/v1/tasks?created_until={created}"))
        .await;
    assert!(before.is_empty(), "{before:?}");
    for (query, field) in [
        ("priority=urgent", "priority"),
        ("created_since=monday", "created_since"),
    ] {
        let bad = app.get(&format!("/api/v1/tasks?{query}")).await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let problem: Value = bad.json().await.unwrap();
        assert_eq!(problem["field"], field, "{problem}");
    }
    app.stop().await;
}
