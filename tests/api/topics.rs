//! Topics: agents subscribe at creation or later, and a message on a topic becomes one task for
//! each subscriber, committed together.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with, TestApp};

fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

pub(crate) async fn publish(app: &TestApp, topic: &str, input: Value) -> Vec<String> {
    let response = app
        .post(
            &format!("/api/v1/topics/{topic}/messages"),
            &json!({ "input": input }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["topic"], topic);
    body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

#[actix_rt::test]
async fn a_message_reaches_each_subscriber_once_and_only_subscribers() {
    let app = spawn_app().await;
    let a = id(&app
        .create_agent(json!({"role": "ops", "topics": ["alerts", "deploys"]}))
        .await);
    let b = id(&app
        .create_agent(json!({"role": "audit", "topics": ["alerts"]}))
        .await);
    let c = id(&app.create_agent(json!({"role": "ops"})).await);
    // Later: c subscribes, b changes its set.
    let set = app
        .put(
            &format!("/api/v1/agents/{c}/topics"),
            &json!({"topics": ["alerts"]}),
        )
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let set = app
        .put(
            &format!("/api/v1/agents/{b}/topics"),
            &json!({"topics": ["deploys"]}),
        )
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let mine = app.json(&format!("/api/v1/agents/{a}/topics")).await;
    assert_eq!(mine["topics"], json!(["alerts", "deploys"]));

    let mut stream = app.events_with("?topic=alerts").await;
    let tasks = publish(&app, "alerts", json!({"op": "echo", "value": "disk full"})).await;
    assert_eq!(tasks.len(), 2);
    let refs: Vec<&str> = tasks.iter().map(String::as_str).collect();
    let done = app.all_finished(&refs).await;
    let mut ran_on: Vec<&str> = done
        .iter()
        .map(|t| t["agent_id"].as_str().unwrap())
        .collect();
    ran_on.sort();
    let mut expected = vec![a.as_str(), c.as_str()];
    expected.sort();
    assert_eq!(ran_on, expected, "each subscriber once, no one else");
    for task in &done {
        assert_eq!(task["status"], "succeeded");
        assert_eq!(task["topic"], "alerts");
        assert_eq!(task["result"], "disk full");
    }
    // The filtered stream carries that topic's tasks only.
    let (kind, data) = stream.next().await;
    assert!(kind.starts_with("task."), "{kind}");
    assert_eq!(data["topic"], "alerts");

    let listed = app.json("/api/v1/topics").await;
    assert_eq!(
        listed["items"],
        json!([{"topic": "alerts", "subscribers": 2}, {"topic": "deploys", "subscribers": 2}])
    );
    // No subscriber: accepted, nothing created.
    assert!(
        publish(&app, "nobody-listens", json!({"op": "echo", "value": 1}))
            .await
            .is_empty()
    );
    // A deleted agent receives nothing more.
    let deleted = app.delete(&format!("/api/v1/agents/{c}")).await;
    assert!(deleted.status().is_success());
    let tasks = publish(&app, "alerts", json!({"op": "echo", "value": 2})).await;
    assert_eq!(tasks.len(), 1);
    app.stop().await;
}

#[actix_rt::test]
async fn topics_are_bounded_with_clear_errors() {
    let app = spawn_with(|c| {
        c.max_topic_subscribers = 2;
        c.max_topic_fanout = 1;
    })
    .await;
    let a = id(&app
        .create_agent(json!({"role": "r", "topics": ["t"]}))
        .await);
    app.create_agent(json!({"role": "r", "topics": ["t"]}))
        .await;
    let full = app
        .post("/api/v1/agents", &json!({"role": "r", "topics": ["t"]}))
        .await;
    assert_eq!(full.status(), StatusCode::CONFLICT);
    let problem: Value = full.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("max_topic_subscribers"),
        "{problem}"
    );
    let fanout = app
        .post(
            "/api/v1/topics/t/messages",
            &json!({"input": {"op": "echo", "value": 1}}),
        )
        .await;
    assert_eq!(fanout.status(), StatusCode::CONFLICT);
    let problem: Value = fanout.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("max_topic_fanout"),
        "{problem}"
    );
    let bad = app
        .put(
            &format!("/api/v1/agents/{a}/topics"),
            &json!({"topics": ["no spaces"]}),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad: Value = bad.json().await.unwrap();
    assert!(
        bad["field"].as_str().unwrap().starts_with("topics"),
        "{bad}"
    );
    let bad_name = app
        .invalid("/api/v1/topics/a%20b/messages", &json!({"input": {}}))
        .await;
    assert_eq!(bad_name["field"], "topic");
    let unknown = app
        .put(
            "/api/v1/agents/no-such-agent/topics",
            &json!({"topics": []}),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
