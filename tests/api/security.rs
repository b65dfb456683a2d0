//! Who may do what: tokens and roles on every route, revocation, the audit log, rate limits.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with, TestApp};

/// Create a token with `app`'s rights; answers (id, secret).
async fn token(app: &TestApp, role: &str) -> (String, String) {
    let response = app
        .post(
            "/api/v1/tokens",
            &json!({"role": role, "name": format!("{role}-test")}),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "create a {role} token"
    );
    let issued: Value = response.json().await.unwrap();
    assert_eq!(issued["role"], role);
    (
        issued["id"].as_str().unwrap().to_owned(),
        issued["secret"].as_str().unwrap().to_owned(),
    )
}

/// Who calls, in increasing rights; `None` for no token at all.
const CALLERS: [&str; 5] = ["none", "bogus", "viewer", "operator", "admin"];

fn rank(caller: &str) -> usize {
    CALLERS.iter().position(|c| *c == caller).unwrap()
}

/// Method, path, body, the least caller that may use it, and the one caller it is for if any.
type Route = (
    Method,
    String,
    Option<Value>,
    &'static str,
    Option<&'static str>,
);

#[actix_rt::test]
async fn every_role_gets_exactly_the_routes_it_may_use() {
    let open = spawn_app().await;
    // With no token yet the API is open to loopback clients: the first admin token is made so.
    let (_, admin_secret) = token(&open, "admin").await;
    let admin = open.with_token(&admin_secret);
    let (_, operator_secret) = token(&admin, "operator").await;
    let (_, viewer_secret) = token(&admin, "viewer").await;
    let callers = [
        ("none", open.client.clone()),
        ("bogus", open.with_token("hive_0000").client.clone()),
        ("viewer", open.with_token(&viewer_secret).client.clone()),
        ("operator", open.with_token(&operator_secret).client.clone()),
        ("admin", admin.client.clone()),
    ];
    admin.create_agent(json!({"role": "worker"})).await;

    // (method, path, body, least role that may call it, the one caller it is for)
    let mut routes: Vec<Route> = vec![
        (Method::GET, "/livez".into(), None, "none", None),
        (Method::GET, "/readyz".into(), None, "none", None),
        (Method::GET, "/metrics".into(), None, "viewer", None),
        (Method::GET, "/api/v1/tasks".into(), None, "viewer", None),
        (Method::GET, "/api/v1/agents".into(), None, "viewer", None),
        (
            Method::GET,
            "/api/v1/supervision".into(),
            None,
            "viewer",
            None,
        ),
        (
            Method::GET,
            "/api/v1/system/status".into(),
            None,
            "viewer",
            None,
        ),
        (
            Method::GET,
            "/api/v1/openapi.json".into(),
            None,
            "viewer",
            None,
        ),
        (
            Method::POST,
            "/api/v1/tasks".into(),
            Some(json!({"role": "worker", "input": {"op": "echo", "value": 1}})),
            "operator",
            None,
        ),
        (
            Method::POST,
            "/api/v1/agents".into(),
            Some(json!({"role": "extra"})),
            "admin",
            None,
        ),
        (Method::GET, "/api/v1/tokens".into(), None, "admin", None),
        (Method::GET, "/api/v1/audit".into(), None, "admin", None),
        (
            Method::POST,
            "/api/v1/tokens".into(),
            Some(json!({"role": "viewer"})),
            "admin",
            None,
        ),
    ];
    // Routes that consume what they act on get a fresh one per call: a queued task to cancel
    // (its role has no agent, so it waits) and an agent to delete.
    for caller in CALLERS {
        let task = admin
            .submit(json!({"role": "nobody", "input": {"op": "echo", "value": caller}}))
            .await;
        let path = format!("/api/v1/tasks/{}/cancel", task["id"].as_str().unwrap());
        routes.push((Method::POST, path, None, "operator", Some(caller)));
        let agent = admin.create_agent(json!({"role": "doomed"})).await;
        let path = format!("/api/v1/agents/{}", agent["id"].as_str().unwrap());
        routes.push((Method::DELETE, path, None, "admin", Some(caller)));
    }

    let mut checked = 0;
    for (method, path, body, least, only) in &routes {
        for (caller, client) in &callers {
            if only.is_some_and(|only| only != *caller) {
                continue;
            }
            let mut request = client.request(method.clone(), open.url(path));
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let expected = if rank(caller) >= rank(least) {
                "2xx"
            } else if rank(caller) < rank("viewer") {
                "401"
            } else {
                "403"
            };
            let ok = match expected {
                "2xx" => status.is_success(),
                "401" => status == StatusCode::UNAUTHORIZED,
                _ => status == StatusCode::FORBIDDEN,
            };
            assert!(
                ok,
                "{caller} {method} {path}: expected {expected}, got {status}"
            );
            if status == StatusCode::UNAUTHORIZED {
                assert!(response.headers().contains_key("www-authenticate"));
            }
            if !status.is_success() {
                assert_eq!(
                    response.headers()["content-type"],
                    "application/problem+json"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        13 * CALLERS.len() + 2 * CALLERS.len(),
        "every check ran"
    );
    let listed = admin.json("/api/v1/tokens").await;
    let items = listed["items"].as_array().unwrap();
    assert!(items
        .iter()
        .all(|t| t.get("secret").is_none() && t.get("digest").is_none()));
}

#[actix_rt::test]
async fn a_revoked_token_is_refused_and_the_audit_log_names_every_mutating_call() {
    let open = spawn_app().await;
    let (admin_id, admin_secret) = token(&open, "admin").await;
    let admin = open.with_token(&admin_secret);
    let (operator_id, operator_secret) = token(&admin, "operator").await;
    let operator = open.with_token(&operator_secret);
    let mut events = admin.events().await;

    let submitted = operator
        .post("/api/v1/tasks", &json!({"role": "nobody", "input": {}}))
        .await;
    assert_eq!(submitted.status(), StatusCode::ACCEPTED);
    let denied = operator.post("/api/v1/agents", &json!({"role": "x"})).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let revoke = admin
        .client
        .delete(admin.url(&format!("/api/v1/tokens/{operator_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    let after = operator
        .post("/api/v1/tasks", &json!({"role": "nobody", "input": {}}))
        .await;
    assert_eq!(
        after.status(),
        StatusCode::UNAUTHORIZED,
        "refused from the revocation on"
    );
    let again = admin
        .client
        .delete(admin.url(&format!("/api/v1/tokens/{operator_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::NOT_FOUND,
        "a token is revoked once"
    );

    // The last of these calls is the second revocation; entries are committed in order, so
    // once its entry is announced every earlier one is stored.
    events
        .until(|kind, data| kind == "audit" && data["method"] == "DELETE" && data["status"] == 404)
        .await;
    let log = admin.json("/api/v1/audit").await;
    let entries: Vec<(String, String, String, i64, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["method"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
                e["status"].as_i64().unwrap(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let revoke_path = format!("/api/v1/tokens/{operator_id}");
    let expected = [
        ("anonymous", "POST", "/api/v1/tokens", 201, "ok"),
        (admin_id.as_str(), "POST", "/api/v1/tokens", 201, "ok"),
        (operator_id.as_str(), "POST", "/api/v1/tasks", 202, "ok"),
        (
            operator_id.as_str(),
            "POST",
            "/api/v1/agents",
            403,
            "denied",
        ),
        (admin_id.as_str(), "DELETE", revoke_path.as_str(), 204, "ok"),
        ("unauthenticated", "POST", "/api/v1/tasks", 401, "denied"),
        (
            admin_id.as_str(),
            "DELETE",
            revoke_path.as_str(),
            404,
            "rejected",
        ),
    ];
    for want in expected {
        assert!(
            entries.iter().any(|(a, m, p, s, o)| (
                a.as_str(),
                m.as_str(),
                p.as_str(),
                *s,
                o.as_str()
            ) == want),
            "{want:?} in {entries:?}"
        );
    }
    assert!(
        entries.iter().all(|(_, m, ..)| m != "GET"),
        "reads are not audited"
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&operator_secret) && !text.contains(&admin_secret));
}

#[actix_rt::test]
async fn a_caller_past_its_rate_is_told_when_to_come_back() {
    let app = spawn_with(|c| c.rate_limit = 1).await;
    let mut statuses = Vec::new();
    let mut refusal = None;
    // A rate of 1/s with a burst of 2: the third quick call is refused unless a whole second
    // passed, and 20 calls on loopback take far less than the 18 s that would need.
    for _ in 0..20 {
        let response = app.get("/api/v1/tasks").await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refusal = Some(response);
            break;
        }
    }
    assert!(statuses[..2].iter().all(|s| s.is_success()), "{statuses:?}");
    let refusal = refusal.expect("a 429 within 20 calls");
    let retry_after: u64 = refusal.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let problem: Value = refusal.json().await.unwrap();
    assert_eq!(problem["type"], "urn:hive:problem:rate-limited");
}
