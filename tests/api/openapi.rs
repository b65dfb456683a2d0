//! The OpenAPI document is generated from the code and lists every route the server serves.

use std::collections::BTreeSet;

use crate::helpers::spawn_app;

#[actix_rt::test]
async fn the_openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let doc = app.json("/api/v1/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            listed.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let served: BTreeSet<String> = [
        "GET /livez",
        "GET /readyz",
        "GET /health",
        "GET /metrics",
        "GET /api/v1/openapi.json",
        "GET /api/v1/system/status",
        "GET /api/v1/supervision",
        "GET /api/v1/supervision/events",
        "GET /api/v1/sla",
        "GET /api/v1/cluster",
        "GET /api/v1/events",
        "POST /api/v1/agents",
        "GET /api/v1/agents",
        "POST /api/v1/agents/batch",
        "GET /api/v1/agents/{id}",
        "DELETE /api/v1/agents/{id}",
        "POST /api/v1/agents/{id}/restart",
        "GET /api/v1/monitor/forecasts",
        "GET /api/v1/monitor/anomalies",
        "POST /api/v1/tasks",
        "GET /api/v1/tasks",
        "GET /api/v1/tasks/{id}",
        "POST /api/v1/tasks/{id}/cancel",
        "GET /api/v1/tasks/{id}/events",
        "POST /api/v1/tasks/batch",
        "GET /api/v1/tasks/{id}/graph",
        "GET /api/v1/topics",
        "POST /api/v1/topics/{name}/messages",
        "GET /api/v1/agents/{id}/topics",
        "PUT /api/v1/agents/{id}/topics",
        "GET /api/v1/config",
        "PATCH /api/v1/config",
        "GET /api/v1/config/history",
        "POST /api/v1/config/rollback",
        "POST /api/v1/tokens",
        "GET /api/v1/tokens",
        "DELETE /api/v1/tokens/{id}",
        "GET /api/v1/audit",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(listed, served);
    // Every route that is served also answers something other than 404 for its method.
    for route in &served {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{id}", "x");
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let known_id_miss = path.contains("/x") && status == 404;
        assert!(status != 404 || known_id_miss, "{route} answered 404");
        assert!(status != 405, "{route} answered 405");
        if path.ends_with("/events") {
            drop(response);
        }
    }
    app.stop().await;
}

#[actix_rt::test]
async fn an_executors_fields_are_closed_in_the_document_as_on_the_wire() {
    let app = spawn_app().await;
    let doc = app.json("/api/v1/openapi.json").await;
    let variants = doc["components"]["schemas"]["ExecutorSpec"]["oneOf"]
        .as_array()
        .expect("the executor is one of its kinds");
    assert_eq!(variants.len(), 4);
    for variant in variants {
        assert_eq!(variant["additionalProperties"], false, "{variant}");
    }
    // What the document says is what the server does: a field no kind has is refused, and
    // nothing is created.
    let body =
        serde_json::json!({"role": "w", "executor": {"kind": "builtin", "program": "/bin/true"}});
    let response = app.post("/api/v1/agents", &body).await;
    assert_eq!(response.status().as_u16(), 422);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["field"], "executor.program", "{problem}");
    let agents = app.json("/api/v1/agents").await;
    assert_eq!(
        agents["items"],
        serde_json::json!([]),
        "nothing was created: {agents}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn an_agents_state_is_any_json_in_the_document_as_on_the_wire() {
    let app = spawn_app().await;
    let doc = app.json("/api/v1/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    // A worker program may leave any JSON as its agent's state, so the document may not narrow
    // it to objects: a client generated from it would reject a state the server hands out.
    // Likewise a task's result.
    for (schema, field) in [
        ("AgentSpec", "state"),
        ("AgentView", "state"),
        ("TaskView", "result"),
    ] {
        let value = &schemas[schema]["properties"][field];
        assert!(value.is_object(), "{schema} documents its {field}: {value}");
        assert!(
            value.get("type").is_none(),
            "{schema}.{field} is any JSON: {value}"
        );
    }
    for state in [
        serde_json::json!(false),
        serde_json::json!([1, "two"]),
        serde_json::json!({"n": 1}),
    ] {
        let body = serde_json::json!({"role": "w", "state": state});
        let response = app.post("/api/v1/agents", &body).await;
        assert_eq!(response.status().as_u16(), 201);
        let agent: serde_json::Value = response.json().await.unwrap();
        assert_eq!(agent["state"], state, "{agent}");
    }
    app.stop().await;
}
