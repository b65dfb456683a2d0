//! Bad input on every route: the right 4xx, a problem+json body naming the field, never a 5xx,
//! and nothing already accepted is lost.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

struct Case {
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: String,
    status: StatusCode,
    field: Option<&'static str>,
}

fn case(
    method: &'static str,
    path: &'static str,
    body: &str,
    status: u16,
    field: Option<&'static str>,
) -> Case {
    Case {
        method,
        path,
        content_type: "application/json",
        body: body.to_owned(),
        status: StatusCode::from_u16(status).unwrap(),
        field,
    }
}

#[actix_rt::test]
async fn every_route_answers_bad_input_with_a_problem_naming_the_field() {
    let app = spawn_app().await;
    let kept = app
        .submit(json!({"role": "none", "input": {"op": "echo", "value": "kept"}}))
        .await;
    let huge = format!(
        r#"{{"role":"w","input":{{"op":"echo","value":"{}"}}}}"#,
        "x".repeat(300 * 1024)
    );
    let deep = format!(
        r#"{{"role":"w","input":{}{}}}"#,
        "{\"a\":".repeat(200),
        "1".to_owned() + &"}".repeat(200)
    );
    // 40 levels: past the default of 32, short of serde_json's own recursion limit.
    let nested = format!(
        r#"{{"role":"w","input":{}{}}}"#,
        "{\"a\":".repeat(39),
        "1".to_owned() + &"}".repeat(39)
    );
    let nested_field = format!("input{}", ".a".repeat(31));
    let nested_field: &'static str = Box::leak(nested_field.into_boxed_str());
    let long_string = format!(
        r#"{{"role":"w","input":{{"value":"{}"}}}}"#,
        "x".repeat(70 * 1024)
    );
    let long_array = format!(
        r#"{{"role":"w","input":{{"items":[{}0]}}}}"#,
        "0,".repeat(10_000)
    );
    let mut cases = vec![
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":"#,
            400,
            None,
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":{}} extra"#,
            400,
            None,
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"input":{}}"#,
            422,
            Some("role"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"","input":{}}"#,
            422,
            Some("role"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"a b","input":{}}"#,
            422,
            Some("role"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":7,"input":{}}"#,
            422,
            Some("role"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":5}"#,
            422,
            Some("input"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":{},"priority":"asap"}"#,
            422,
            Some("priority"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":{},"timeout_ms":-1}"#,
            422,
            Some("timeout_ms"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":{},"timeout_ms":1e30}"#,
            422,
            Some("timeout_ms"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":{},"max_retries":101}"#,
            422,
            Some("max_retries"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":{},"nope":1}"#,
            422,
            Some("nope"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":{},"idempotency_key":""}"#,
            422,
            Some("idempotency_key"),
        ),
        case("POST", "/api/v1/tasks", &huge, 413, None),
        case("POST", "/api/v1/tasks", &deep, 400, None),
        // Within the size limit but past the shape limits: 422 naming the part.
        case("POST", "/api/v1/tasks", &nested, 422, Some(nested_field)),
        case(
            "POST",
            "/api/v1/tasks",
            &long_string,
            422,
            Some("input.value"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            &long_array,
            422,
            Some("input.items"),
        ),
        case(
            "POST",
            "/api/v1/agents",
            r#"{"role":"w","executor":{"kind":"quantum"}}"#,
            422,
            Some("executor.kind"),
        ),
        case(
            "POST",
            "/api/v1/agents",
            r#"{"role":"w","capabilities":"gpu"}"#,
            422,
            Some("capabilities"),
        ),
        case(
            "POST",
            "/api/v1/agents",
            r#"{"role":"w","name":""}"#,
            422,
            Some("name"),
        ),
        case("POST", "/api/v1/agents", r#"[]"#, 422, Some("body")),
        case(
            "POST",
            "/api/v1/agents/batch",
            r#"{"count":0,"template":{"role":"w"}}"#,
            422,
            Some("count"),
        ),
        case(
            "POST",
            "/api/v1/agents/batch",
            r#"{"count":100001,"template":{"role":"w"}}"#,
            422,
            Some("count"),
        ),
        case(
            "POST",
            "/api/v1/agents/batch",
            r#"{"count":-3,"template":{"role":"w"}}"#,
            422,
            Some("count"),
        ),
        case(
            "POST",
            "/api/v1/agents/batch",
            r#"{"count":2}"#,
            422,
            Some("template"),
        ),
        case("GET", "/api/v1/agents?limit=0", "", 422, Some("limit")),
        case(
            "GET",
            "/api/v1/agents?status=asleep",
            "",
            422,
            Some("status"),
        ),
        case("GET", "/api/v1/tasks?limit=5000", "", 422, Some("limit")),
        case("GET", "/api/v1/tasks?status=done", "", 422, Some("status")),
        case("GET", "/api/v1/tasks?colour=red", "", 422, Some("colour")),
        case(
            "GET",
            "/api/v1/supervision?children=x",
            "",
            422,
            Some("children"),
        ),
        case("GET", "/api/v1/tasks/unknown-id", "", 404, None),
        case("GET", "/api/v1/agents/unknown-id", "", 404, None),
        case("DELETE", "/api/v1/agents/unknown-id", "", 404, None),
        case("POST", "/api/v1/tasks/unknown-id/cancel", "", 404, None),
        case("GET", "/api/v1/nothing-here", "", 404, None),
        case("PUT", "/api/v1/tasks", "", 405, None),
        // Agents with an identity: the addressed agent, the state, a process agent's spec.
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"agent":"no-such-agent","input":{}}"#,
            404,
            Some("agent"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"agent":"a b","input":{}}"#,
            422,
            Some("agent"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"agent":7,"input":{}}"#,
            422,
            Some("agent"),
        ),
        case("GET", "/api/v1/tasks?agent=a%20b", "", 422, Some("agent")),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":{},"depends_on":"x"}"#,
            422,
            Some("depends_on"),
        ),
        case(
            "POST",
            "/api/v1/tasks",
            r#"{"role":"w","input":{},"depends_on":["a b"]}"#,
            422,
            Some("depends_on"),
        ),
        case(
            "POST",
            "/api/v1/tasks/batch",
            r#"{"tasks":[]}"#,
            422,
            Some("tasks"),
        ),
        case(
            "POST",
            "/api/v1/tasks/batch",
            r#"{"tasks":[{"role":"w","input":{}}]}"#,
            422,
            Some("tasks[0].ref"),
        ),
        case(
            "POST",
            "/api/v1/tasks/batch",
            r#"{"tasks":[{"ref":"a","input":{}}]}"#,
            422,
            Some("tasks[0].role"),
        ),
        case("GET", "/api/v1/tasks/unknown-id/graph", "", 404, None),
        case(
            "POST",
            "/api/v1/topics/t/messages",
            r#"{"input":[]}"#,
            422,
            Some("input"),
        ),
        // A struct's fields in order, as an array: serde would read it; the document says object.
        case(
            "POST",
            "/api/v1/topics/t/messages",
            r#"[{"op":"echo"}]"#,
            422,
            Some("body"),
        ),
        case(
            "POST",
            "/api/v1/tasks/batch",
            r#"{"tasks":[["a","w",{}]]}"#,
            422,
            Some("tasks[0]"),
        ),
        case(
            "PATCH",
            "/api/v1/config",
            r#"{"slo":[1,2,3]}"#,
            422,
            Some("slo"),
        ),
        case(
            "POST",
            "/api/v1/topics/t/messages",
            r#"{"input":{},"priority":"urgent"}"#,
            422,
            Some("priority"),
        ),
        case(
            "PUT",
            "/api/v1/agents/unknown-id/topics",
            r#"{"topics":[]}"#,
            404,
            None,
        ),
        case(
            "PATCH",
            "/api/v1/config",
            r#"{"slo":{"high_ms":-1}}"#,
            422,
            Some("slo.high_ms"),
        ),
        case("PATCH", "/api/v1/config", r#"[1]"#, 422, Some("body")),
        case(
            "POST",
            "/api/v1/config/rollback",
            r#"{"version":"one"}"#,
            422,
            Some("version"),
        ),
        case(
            "POST",
            "/api/v1/agents",
            r#"{"role":"w","executor":{"kind":"process","program":"python3"}}"#,
            422,
            Some("executor.program"),
        ),
        case(
            "POST",
            "/api/v1/agents",
            r#"{"role":"w","executor":{"kind":"process","program":"/usr/bin/python3"}}"#,
            422,
            Some("executor.program"),
        ),
        case(
            "POST",
            "/api/v1/agents",
            r#"{"role":"w","executor":{"kind":"process","program":"/bin/x","args":"a"}}"#,
            422,
            Some("executor.args"),
        ),
        case(
            "POST",
            "/api/v1/agents",
            r#"{"role":"w","executor":{"kind":"process","program":"/bin/x","env":{"1X":"a"}}}"#,
            422,
            Some("executor.env"),
        ),
        case(
            "POST",
            "/api/v1/agents",
            r#"{"role":"w","executor":{"kind":"process","program":"/bin/x","env":{"LD_PRELOAD":"/tmp/x.so"}}}"#,
            422,
            Some("executor.env"),
        ),
        case(
            "POST",
            "/api/v1/agents",
            r#"{"role":"w","executor":{"kind":"process","program":"/bin/x","limits":{"cpu":1}}}"#,
            422,
            Some("executor.limits.cpu"),
        ),
        case(
            "POST",
            "/api/v1/agents",
            r#"{"role":"w","executor":{"kind":"process","program":"/bin/x","limits":{"open_files":-1}}}"#,
            422,
            Some("executor.limits.open_files"),
        ),
        case(
            "POST",
            "/api/v1/agents/batch",
            r#"{"count":1,"template":{"role":"w","state":TOO_BIG}}"#,
            422,
            Some("template.state"),
        ),
    ];
    let mut wrong_type = case(
        "POST",
        "/api/v1/tasks",
        r#"{"role":"w","input":{}}"#,
        415,
        None,
    );
    wrong_type.content_type = "text/plain";
    cases.push(wrong_type);
    // An initial state over max_agent_state_bytes (64 KiB), inside the body's limits.
    let too_big: serde_json::Map<String, Value> = (0..20)
        .map(|i| (format!("k{i}"), json!("x".repeat(4000))))
        .collect();
    let too_big = Value::Object(too_big).to_string();
    for c in &mut cases {
        c.body = c.body.replace("TOO_BIG", &too_big);
    }

    for c in cases {
        let request = app
            .client
            .request(c.method.parse().unwrap(), app.url(c.path));
        let request = if c.body.is_empty() {
            request
        } else {
            request
                .header("content-type", c.content_type)
                .body(c.body.clone())
        };
        let response = request.send().await.expect("request sent");
        let label = format!(
            "{} {} {}",
            c.method,
            c.path,
            &c.body[..c.body.len().min(80)]
        );
        assert_eq!(response.status(), c.status, "{label}");
        let content_type = response.headers().get("content-type").cloned();
        assert_eq!(
            content_type.as_ref().and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{label}"
        );
        let problem: Value = response.json().await.expect("problem body");
        assert_eq!(problem["status"], c.status.as_u16(), "{label}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:hive:problem:"),
            "{label}"
        );
        assert!(
            problem["title"].is_string() && problem["detail"].is_string(),
            "{label}"
        );
        assert_eq!(problem["field"].as_str(), c.field, "{label}: {problem}");
    }

    // The task accepted before the barrage is still there, unchanged.
    let task = app.task(kept["id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "queued");
    assert_eq!(task["input"]["value"], "kept");
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.stop().await;
}

/// Inputs the OpenAPI document allows are taken as it says; a repeated query parameter is named.
#[actix_rt::test]
async fn what_the_document_allows_the_server_takes() {
    let app = spawn_app().await;
    let task = app
        .submit(json!({"role": "none", "input": {}, "timeout_ms": 3665.0, "max_retries": 2.0}))
        .await;
    assert_eq!(
        (task["timeout_ms"].as_u64(), task["max_retries"].as_u64()),
        (Some(3665), Some(2))
    );
    let problem = app
        .invalid(
            "/api/v1/tasks",
            &json!({"role": "none", "input": {}, "timeout_ms": 3665.5}),
        )
        .await;
    assert_eq!(problem["field"], "timeout_ms");

    assert!(app.get("/api/v1/sla?window=").await.status().is_success());
    let early = app
        .json("/api/v1/tasks?created_until=0001-01-01T00:00:01Z")
        .await;
    assert_eq!(
        early["items"],
        json!([]),
        "nothing was created before year 2"
    );
    let all = app
        .json("/api/v1/tasks?created_since=1969-07-20T20:17:40Z")
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);

    let repeated = app.get("/api/v1/tasks?limit=1&limit=2").await;
    assert_eq!(repeated.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = repeated.json().await.unwrap();
    assert_eq!(problem["field"], "limit", "{problem}");
}
