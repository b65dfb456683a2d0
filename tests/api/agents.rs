//! Agents: creation, batches, listing, deletion, and the status views that show them.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with};

#[actix_rt::test]
async fn a_created_agent_is_idle_and_readable() {
    let app = spawn_app().await;
    let mut events = app.events().await;
    let agent = app
        .create_agent(json!({"role": "worker", "name": "ada", "capabilities": ["b", "a", "a"], "executor": {"kind": "builtin"}}))
        .await;
    assert_eq!(agent["name"], "ada");
    assert_eq!(agent["capabilities"], json!(["a", "b"]));
    let id = agent["id"].as_str().unwrap();
    events
        .until(|kind, data| kind == "agent.created" && data["id"] == id)
        .await;
    let view = app.json(&format!("/api/v1/agents/{id}")).await;
    for field in [
        "id",
        "name",
        "role",
        "capabilities",
        "status",
        "restarts",
        "current_task",
        "created_at",
    ] {
        assert!(view.get(field).is_some(), "{field} missing from {view}");
    }
    assert_eq!(view["status"], "idle");
    assert_eq!(view["restarts"], 0);
    app.stop().await;
}

#[actix_rt::test]
async fn a_batch_creates_every_agent_and_lists_page_through_them() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/v1/agents/batch",
            &json!({"count": 120, "template": {"role": "bulk"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let ids: Vec<String> = response.json::<Value>().await.unwrap()["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 120);
    app.create_agent(json!({"role": "other"})).await;

    let listed = app
        .ids_of_all_pages("/api/v1/agents?role=bulk&limit=50")
        .await;
    assert_eq!(listed, ids);
    let status = app.json("/api/v1/system/status").await;
    assert_eq!(
        status["agents"]["idle"], 121,
        "created agents answer once they run"
    );
    assert!(status["memory"]["rss_bytes"].as_u64().unwrap() > 0);
    let tree = app.json("/api/v1/supervision?children=10").await;
    let pool = tree["supervisors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "pool:bulk")
        .unwrap();
    assert_eq!(pool["children_total"], 120);
    assert_eq!(pool["children"].as_array().unwrap().len(), 10);
    app.stop().await;
}

#[actix_rt::test]
async fn creation_past_the_agent_limit_is_refused_and_deleting_makes_room() {
    let app = spawn_with(|config| config.max_agents = 5).await;
    let batch = |count: usize| json!({"count": count, "template": {"role": "capped"}});
    let response = app.post("/api/v1/agents/batch", &batch(4)).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let refused = app.post("/api/v1/agents/batch", &batch(2)).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:hive:problem:agent-limit");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("hosts 4 agents")
            && detail.contains("at most 5")
            && detail.contains("1 more"),
        "{detail}"
    );
    assert_eq!(
        app.ids_of_all_pages("/api/v1/agents?role=capped")
            .await
            .len(),
        4,
        "a refused batch creates none of its agents"
    );

    let last = app.create_agent(json!({"role": "capped"})).await;
    let full = app.post("/api/v1/agents", &json!({"role": "capped"})).await;
    assert_eq!(full.status(), StatusCode::CONFLICT);

    let response = app
        .client
        .delete(app.url(&format!("/api/v1/agents/{}", last["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.post("/api/v1/agents", &json!({"role": "capped"})).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "a deletion frees its place"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn deleting_a_busy_agent_hands_its_task_to_another() {
    let app = spawn_app().await;
    let first = app.worker().await;
    let mut events = app.events().await;
    let task = app
        .submit(json!({"role": "worker", "input": {"op": "sleep", "ms": 600000}}))
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    events
        .until(|kind, data| kind == "task.started" && data["id"] == id.as_str())
        .await;
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/agents/{first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/agents/{first}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let handed_back = app.task(&id).await;
    assert_eq!(handed_back["status"], "queued");
    assert_eq!(
        handed_back["attempts"], 0,
        "handing a task back does not use a retry"
    );

    let second = app.worker().await;
    let (_, started) = events
        .until(|kind, data| kind == "task.started" && data["id"] == id.as_str())
        .await;
    assert_eq!(started["agent_id"], second.as_str());
    assert_eq!(started["attempts"], 1);
    let cancelled = app
        .post(&format!("/api/v1/tasks/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    app.stop().await;
}

#[actix_rt::test]
async fn the_supervision_tree_shows_the_root_and_its_managers() {
    let app = spawn_app().await;
    let tree = app.json("/api/v1/supervision").await;
    let root = tree["supervisors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "root")
        .unwrap();
    let children: Vec<&str> = root["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        children,
        [
            "store",
            "configuration",
            "security",
            "communication",
            "orchestrator",
            "lifecycle",
            "performance",
            "plugins"
        ]
    );
    assert_eq!(root["intensity"]["max_restarts"], 5);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for name in [
        "hive_http_requests_total",
        "hive_mailbox_capacity_messages",
        "hive_process_resident_memory_bytes",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/livez").await.status(), StatusCode::OK);
    app.stop().await;
}

#[actix_rt::test]
async fn restart_requests_to_a_busy_agent_queue_one_restart_not_one_each() {
    let app = spawn_app().await;
    let id = app.worker().await;
    let mut events = app.events().await;
    // A spin holds the agent's thread, so its mailbox is not read while the requests come in.
    let task = app
        .submit(json!({"role": "worker", "input": {"op": "spin", "us": 1_500_000}}))
        .await;
    let task_id = task["id"].as_str().unwrap().to_owned();
    events
        .until(|kind, data| kind == "task.started" && data["id"] == task_id)
        .await;
    for _ in 0..20 {
        let response = app
            .post(&format!("/api/v1/agents/{id}/restart"), &json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let agent_mailboxes = app.mailbox("agent").await;
    assert!(
        agent_mailboxes["depth"].as_u64().unwrap() <= 1,
        "twenty requests, one restart message: {agent_mailboxes}"
    );
    // The agent ends its spin, restarts once, and works again.
    events
        .until(|kind, data| kind == "supervisor.child_restarted" && data["child"] == id)
        .await;
    let echo = app.run(json!({"op": "echo", "value": 1})).await;
    assert_eq!(echo["status"], "succeeded");
    app.stop().await;
}
