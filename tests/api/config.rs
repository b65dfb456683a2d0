//! Live configuration: settings changed by a JSON merge patch, checked as a whole, applied to
//! the running server at once, kept as versions with their authors, and rolled back.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

pub(crate) async fn patch(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .patch(app.url("/api/v1/config"))
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string())
        .send()
        .await
        .expect("request sent")
}

#[actix_rt::test]
async fn settings_change_live_are_refused_whole_when_wrong_and_roll_back() {
    let app = spawn_app().await;
    let start = app.json("/api/v1/config").await;
    assert_eq!(start["version"], 0);
    assert_eq!(start["settings"]["slo"]["normal_ms"], 2000);
    for _ in 0..2 {
        app.create_agent(json!({"role": "r", "topics": ["t"]}))
            .await;
    }

    let changed = patch(
        &app,
        &json!({"max_topic_fanout": 1, "slo": {"normal_ms": 900}}),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["version"], 1);
    assert_eq!(changed["settings"]["slo"]["normal_ms"], 900);
    assert_eq!(
        changed["settings"]["slo"]["high_ms"],
        start["settings"]["slo"]["high_ms"]
    );
    // Applied to the running server at once: a message to two subscribers is now too many.
    let refused = app
        .post(
            "/api/v1/topics/t/messages",
            &json!({"input": {"op": "echo", "value": 1}}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);

    // Wrong anywhere: 422 naming the field, and nothing of the patch is applied.
    for (body, field) in [
        (
            json!({"max_topic_fanout": 5, "slo": {"normal_ms": 0}}),
            "slo.normal_ms",
        ),
        (json!({"max_topic_fanout": 5, "colour": "blue"}), "colour"),
        (
            json!({"plugins": {"shedding": {"hold_mss": 1}}}),
            "plugins.shedding.hold_mss",
        ),
        (json!({"log_level": "info,[[["}), "log_level"),
    ] {
        let response = patch(&app, &body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"], field, "{problem}");
    }
    let now = app.json("/api/v1/config").await;
    assert_eq!(now["version"], 1);
    assert_eq!(now["settings"]["max_topic_fanout"], 1);

    let history = app.json("/api/v1/config/history").await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{history}");
    assert_eq!(items[0]["version"], 1);
    assert_eq!(items[0]["author"], "anonymous");
    assert_eq!(
        items[0]["patch"],
        json!({"max_topic_fanout": 1, "slo": {"normal_ms": 900}})
    );
    assert_eq!(items[1]["version"], 0, "the settings as started");

    let back = app
        .post("/api/v1/config/rollback", &json!({"version": 0}))
        .await;
    assert_eq!(back.status(), StatusCode::OK);
    let back: Value = back.json().await.unwrap();
    assert_eq!(back["version"], 2);
    assert_eq!(back["settings"], start["settings"]);
    let history = app.json("/api/v1/config/history?limit=1").await;
    assert_eq!(
        history["items"][0]["patch"],
        json!({"max_topic_fanout": 10000, "slo": {"normal_ms": 2000}})
    );
    let delivered = app
        .post(
            "/api/v1/topics/t/messages",
            &json!({"input": {"op": "echo", "value": 1}}),
        )
        .await;
    assert_eq!(delivered.status(), StatusCode::ACCEPTED);
    let unknown = app
        .invalid("/api/v1/config/rollback", &json!({"version": 99}))
        .await;
    assert_eq!(unknown["field"], "version");

    // The rate limit, too, is the running server's at once.
    assert_eq!(
        patch(&app, &json!({"rate_limit": 1})).await.status(),
        StatusCode::OK
    );
    let mut limited = false;
    for _ in 0..10 {
        limited |= app.get("/api/v1/config").await.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "a rate of 1/s lets 10 calls in a row through");
    app.stop().await;
}
