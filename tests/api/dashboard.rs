//! The operator's view: the dashboard in a real headless browser against a real server whose
//! agents restart, the restart action, and the Grafana dashboard against `/metrics`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::{spawn_app, TestApp, PATIENCE};

async fn pool_of(app: &TestApp, count: usize) {
    let body = json!({"count": count, "template": {"role": "worker"}});
    let response = app.post("/api/v1/agents/batch", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// The number in "restarts N" of a supervisor's line.
const SHOWN_RESTARTS: &str = r#"
    const n = document.querySelector('[data-restarts="pool:worker"]');
    return n ? Number(n.textContent.replace(/\D+/g, '')) : null"#;

#[actix_rt::test]
async fn the_dashboard_draws_the_tree_and_shows_a_restart_live() {
    let app = spawn_app().await;
    pool_of(&app, 200).await;
    let Some(browser) =
        Browser::start("the_dashboard_draws_the_tree_and_shows_a_restart_live").await
    else {
        return app.stop().await;
    };
    browser.open(&app.url("/dashboard")).await;

    // The tree: the root's managers as children, the pool summarised by counts, not drawn whole.
    let (pool, _) = browser
        .until(
            "the pool in the tree",
            r#"const s = document.querySelector('[data-supervisor="pool:worker"] > summary');
               return s && s.textContent"#,
        )
        .await;
    let pool = pool.as_str().unwrap().to_owned();
    assert!(pool.contains("simple_one_for_one"), "{pool}");
    assert!(pool.contains("200 running"), "{pool}");
    assert!(pool.contains("intensity 1000 / 10 s"), "{pool}");
    let managers = browser
        .eval(
            r#"return [...document.querySelectorAll('[data-supervisor="root"] > ul > li[data-child]')]
                 .map(li => li.dataset.child)"#,
            json!([]),
        )
        .await;
    for manager in ["store", "orchestrator", "performance"] {
        assert!(
            managers.as_array().unwrap().contains(&json!(manager)),
            "{managers}"
        );
    }
    let listed = browser
        .eval(
            "return document.querySelectorAll('li[data-child]').length",
            json!([]),
        )
        .await;
    assert!(
        listed.as_u64().unwrap() < 50,
        "a closed pool lists none of its agents: {listed} children drawn"
    );

    // A restart reaches the page through the event stream, well before the next snapshot.
    browser
        .until(
            "the live event stream",
            "return document.querySelector('#live').textContent === 'live'",
        )
        .await;
    let (before, _) = browser.until("the restart count", SHOWN_RESTARTS).await;
    app.submit(json!({"role": "worker", "input": {"op": "panic"}, "max_retries": 0}))
        .await;
    let (line, took) = browser
        .until(
            "the restart in the exit log",
            r#"const li = [...document.querySelectorAll('#exits li')]
                 .find(l => l.textContent.includes('pool:worker restarted'));
               return li ? li.textContent : null"#,
        )
        .await;
    eprintln!("restart shown {took:?} after the task was accepted: {line}");
    assert!(
        line.as_str()
            .unwrap()
            .contains("task asked its agent to panic"),
        "{line}"
    );
    assert!(
        took < Duration::from_secs(2),
        "the restart took {took:?} to show"
    );
    let after = browser.eval(SHOWN_RESTARTS, json!([])).await;
    assert_eq!(after.as_u64(), before.as_u64().map(|n| n + 1));
    // The summary card counts it in the same moment.
    let card = browser
        .eval(
            r#"return Number(document.querySelector('[data-card="restarts"] b').textContent)"#,
            json!([]),
        )
        .await;
    assert!(card.as_u64() >= after.as_u64(), "card {card}, tree {after}");

    // The actor table times each kind's messages: the orchestrator has handled some by now.
    let (p99, _) = browser
        .until(
            "the orchestrator's processing time",
            r#"const c = document.querySelector('#actors tr[data-kind="orchestrator"] td:nth-child(9)');
               return c && c.textContent !== '—' ? c.textContent : null"#,
        )
        .await;
    assert!(p99.as_str().unwrap().parse::<f64>().is_ok(), "{p99}");

    // Opened, the pool shows one page of its agents with their status chips.
    browser
        .eval(
            r#"document.querySelector('[data-supervisor="pool:worker"]').open = true; return true"#,
            json!([]),
        )
        .await;
    let (pager, _) = browser
        .until(
            "the first page of the pool",
            r#"const p = document.querySelector('[data-supervisor="pool:worker"] > .pager');
               return p && p.textContent"#,
        )
        .await;
    assert!(
        pager.as_str().unwrap().contains("agents 1–25 of 200"),
        "{pager}"
    );
    let page = browser
        .eval(
            r#"return [...document.querySelectorAll('[data-supervisor="pool:worker"] > ul > li')]
                 .map(li => [li.dataset.child, li.querySelector('.chip').textContent])"#,
            json!([]),
        )
        .await;
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 25);
    assert!(page
        .iter()
        .all(|row| ["idle", "busy", "restarting"].contains(&row[1].as_str().unwrap())));

    let png = browser.screenshot().await;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let artefact = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&artefact, &png).unwrap();
    eprintln!("screenshot saved as {}", artefact.display());

    // The restart button restarts that agent (the API is open on loopback without tokens).
    let mut events = app.events().await;
    let first = page[0][0].as_str().unwrap().to_owned();
    browser
        .eval(
            r#"document.querySelector('[data-supervisor="pool:worker"] > ul > li button').click();
               return true"#,
            json!([]),
        )
        .await;
    let (_, restarted) = events
        .until(|kind, data| kind == "supervisor.child_restarted" && data["child"] == first)
        .await;
    assert_eq!(restarted["reason"]["detail"], "restarted by an operator");
    browser.quit().await;
    app.stop().await;
}

#[actix_rt::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/dashboard", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/style.css", "text/css"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        assert!(header("content-security-policy").contains("default-src 'none'"));
        assert!(header("content-security-policy").contains("connect-src 'self'"));
    }
    let page = app.get("/dashboard").await.text().await.unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let missing = app.get("/dashboard/nothing.js").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn an_operator_restart_counts_as_a_restart_with_its_reason() {
    let app = spawn_app().await;
    let id = app.worker().await;
    let mut events = app.events().await;
    let response = app
        .post(&format!("/api/v1/agents/{id}/restart"), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let (_, exited) = events
        .until(|kind, data| kind == "supervisor.child_restarted" && data["child"] == id)
        .await;
    assert_eq!(exited["reason"]["detail"], "restarted by an operator");
    assert_eq!(exited["supervisor"], "pool:worker");
    // Back at work: the fresh incarnation runs a task.
    let task = app.run(json!({"op": "echo", "value": 7})).await;
    assert_eq!(task["status"], "succeeded");
    let agent = app.json(&format!("/api/v1/agents/{id}")).await;
    assert_eq!(agent["restarts"], 1);

    let unknown = app
        .post("/api/v1/agents/no-such-agent/restart", &json!({}))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let wrong_method = app.get(&format!("/api/v1/agents/{id}/restart")).await;
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.stop().await;
}

/// Every `hive_*` name a Grafana panel queries, histogram suffixes removed.
fn queried_metrics(dashboard: &Value, found: &mut BTreeSet<String>) {
    match dashboard {
        Value::Object(map) => {
            for (key, value) in map {
                if let (true, Value::String(expr)) = (key == "expr", value) {
                    let mut rest = expr.as_str();
                    while let Some(at) = rest.find("hive_") {
                        let name: String = rest[at..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        rest = &rest[at + name.len()..];
                        let base = ["_bucket", "_sum", "_count"]
                            .iter()
                            .find_map(|s| name.strip_suffix(s))
                            .unwrap_or(&name);
                        found.insert(base.to_owned());
                    }
                } else {
                    queried_metrics(value, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queried_metrics(v, found)),
        _ => {}
    }
}

#[actix_rt::test]
async fn the_grafana_dashboard_queries_only_metrics_the_server_exports() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/hive.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the Grafana dashboard is JSON");
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() >= 6));
    let mut queried = BTreeSet::new();
    queried_metrics(&dashboard, &mut queried);
    for wanted in [
        "hive_supervisor_restarts_total",
        "hive_mailbox_depth_messages",
        "hive_http_request_duration_seconds",
        "hive_process_resident_memory_bytes",
    ] {
        assert!(queried.contains(wanted), "no panel shows {wanted}");
    }

    // A server that has done a little of everything, so every labelled series exists.
    let app = spawn_app().await;
    app.worker().await;
    app.run(json!({"op": "echo", "value": 1})).await;
    app.run(json!({"op": "panic"})).await;
    let started = std::time::Instant::now();
    let missing = loop {
        let text = app.get("/metrics").await.text().await.unwrap();
        let exported: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let missing: Vec<&String> = queried
            .iter()
            .filter(|m| !exported.contains(m.as_str()))
            .collect();
        // Sampled gauges appear with the monitor's next sample.
        if missing.is_empty() || started.elapsed() > PATIENCE {
            break missing.into_iter().cloned().collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        missing.is_empty(),
        "Grafana queries {missing:?}, which /metrics lacks"
    );
    app.stop().await;
}
