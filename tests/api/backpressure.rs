//! A store that cannot keep up turns into 503 with Retry-After at the client, never into a queue
//! that grows without bound, and nothing it accepted is lost.

use std::future::Future;

use diesel::connection::SimpleConnection;
use diesel::SqliteConnection;
use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_with, TestApp};

const STORE_BOUND: usize = 4;
const REQUESTS: usize = 20;

/// A server whose store takes `STORE_BOUND` writes, with the database held by another writer:
/// no commit can finish until the returned connection lets go.
async fn stalled_store() -> (TestApp, SqliteConnection) {
    let app = spawn_with(|c| {
        c.mailbox.store = STORE_BOUND;
        // The hard bound alone: shedding ahead of it has its own test (plugins.rs).
        c.plugins.shedding.enabled = false;
    })
    .await;
    let holder = app.hold_database();
    (app, holder)
}

/// `REQUESTS` task submissions at once, answered as they come.
fn submissions(
    app: &TestApp,
) -> FuturesUnordered<impl Future<Output = reqwest::Result<reqwest::Response>> + use<>> {
    (0..REQUESTS)
        .map(|i| {
            let body = json!({"role": "worker", "input": {"op": "echo", "value": i}});
            app.client.post(app.url("/api/v1/tasks")).json(&body).send()
        })
        .collect()
}

#[actix_rt::test]
async fn a_stalled_store_refuses_with_503_and_keeps_what_it_accepted() {
    let (app, mut holder) = stalled_store().await;
    let mut requests = submissions(&app);
    let mut refused = 0;
    while refused < REQUESTS - STORE_BOUND {
        let response = requests
            .next()
            .await
            .expect("a response")
            .expect("answered");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "urn:hive:problem:overloaded");
        refused += 1;
    }

    holder.batch_execute("COMMIT").unwrap();
    let mut accepted = Vec::new();
    while let Some(response) = requests.next().await {
        let response = response.expect("answered");
        assert_eq!(
            response.status(),
            StatusCode::ACCEPTED,
            "only the bound was admitted"
        );
        accepted.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(accepted.len(), STORE_BOUND);
    for id in &accepted {
        assert_eq!(app.task(id).await["status"], "queued");
    }
    let listed = app.json("/api/v1/tasks").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), STORE_BOUND);
    // Every refusal is counted on the store's mailbox probe.
    let store = app.mailbox("store").await;
    assert_eq!(store["refusals"], (REQUESTS - STORE_BOUND) as u64);
    assert_eq!(store["capacity"], STORE_BOUND as u64);
    app.stop().await;
}

/// A token is written by the store's one writer and takes its turn in the same bounded queue:
/// while that queue is full the request is refused 503 with Retry-After, rather than holding a
/// readers' connection while it waits for the database; once the database lets go, a new token
/// is committed and works.
#[actix_rt::test]
async fn token_writes_take_their_turn_in_the_stores_queue() {
    let (app, mut holder) = stalled_store().await;
    // Tasks until one is refused: from then on the store's queue is full.
    let mut requests = submissions(&app);
    let first = requests.next().await.unwrap().unwrap();
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);

    let refused = app
        .post("/api/v1/tokens", &json!({"role": "admin", "name": "ops"}))
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:hive:problem:overloaded");
    assert!(
        problem["detail"].as_str().unwrap().contains("store"),
        "{problem}"
    );

    holder.batch_execute("COMMIT").unwrap();
    // The tasks that were taken are committed now (the test above checks them).
    while requests.next().await.is_some() {}
    let created = app
        .post("/api/v1/tokens", &json!({"role": "admin", "name": "ops"}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let secret = created.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // Tokens exist now: the new one is what lets a client in.
    let listed = app.with_token(&secret).json("/api/v1/tokens").await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ops"]);
    app.stop().await;
}

#[actix_rt::test]
async fn the_backlog_of_unfinished_tasks_is_bounded_and_refusals_lose_nothing() {
    const LIMIT: usize = 40;
    let app = spawn_with(|c| c.max_queued_tasks = LIMIT).await;
    // No agent serves the role: everything accepted waits.
    let mut accepted = Vec::new();
    for n in 0..LIMIT {
        let task = app
            .submit(json!({"role": "idle", "input": {"op": "echo", "value": n}}))
            .await;
        accepted.push(task["id"].as_str().unwrap().to_owned());
    }
    for priority in ["low", "critical"] {
        let refused = app
            .post(
                "/api/v1/tasks",
                &json!({"role": "idle", "input": {}, "priority": priority}),
            )
            .await;
        assert_eq!(
            refused.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{priority}"
        );
        assert!(refused.headers().contains_key("retry-after"));
        let problem: Value = refused.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains("task backlog"),
            "{problem}"
        );
    }
    assert_eq!(app.metric("hive_task_backlog").await, LIMIT as f64);
    // A task that ends makes room for one more.
    let cancel = app
        .client
        .post(app.url(&format!("/api/v1/tasks/{}/cancel", accepted[0])))
        .send()
        .await
        .unwrap();
    assert!(cancel.status().is_success());
    app.submit(json!({"role": "idle", "input": {}})).await;
    let listed = app.ids_of_all_pages("/api/v1/tasks?status=queued").await;
    assert_eq!(
        listed.len(),
        LIMIT,
        "every accepted task but the cancelled one waits"
    );
    assert!(accepted[1..].iter().all(|id| listed.contains(id)));
}
