//! Agents with an identity: tasks addressed to one agent, the state it keeps, and process
//! agents, whose program (`examples/worker.py`, run by python3) lives as long as the agent.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_with, TestApp};

pub(crate) const PYTHON: &str = "/usr/bin/python3";

/// The example worker the docs describe: the tests run it as a user would.
pub(crate) fn worker_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/worker.py")
}

pub(crate) fn process_agent(role: &str) -> Value {
    json!({
        "role": role,
        "executor": {"kind": "process", "program": PYTHON, "args": [worker_script()]},
    })
}

async fn python_server(adjust: impl FnOnce(&mut hive::config::Config)) -> TestApp {
    spawn_with(|c| {
        c.allow_exec = vec![PYTHON.into()];
        adjust(c);
    })
    .await
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

/// Submit `input` to `agent` and answer the finished task.
async fn on(app: &TestApp, agent: &str, input: Value) -> Value {
    let task = app.submit(json!({"agent": agent, "input": input})).await;
    app.finished(&id(&task)).await
}

#[actix_rt::test]
async fn addressed_tasks_run_on_their_agent_only_one_at_a_time_in_submission_order() {
    let app = python_server(|_| {}).await;
    let a = id(&app.create_agent(json!({"role": "counter"})).await);
    let _b = app.create_agent(json!({"role": "counter"})).await;
    let mut ids = Vec::new();
    for _ in 0..30 {
        // The role is the agent's when left out.
        ids.push(id(&app
            .submit(json!({"agent": a, "input": {"op": "count"}}))
            .await));
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let tasks = app.all_finished(&refs).await;
    for (n, task) in tasks.iter().enumerate() {
        assert_eq!(task["status"], "succeeded", "{task}");
        assert_eq!(task["agent_id"], a.as_str(), "ran elsewhere: {task}");
        assert_eq!(task["agent"], a.as_str());
        assert_eq!(task["role"], "counter");
        // Each saw the state the one before it left: none overlapped, none overtook.
        assert_eq!(task["result"], json!({"count": n + 1}), "{task}");
    }
    let agent = app.json(&format!("/api/v1/agents/{a}")).await;
    assert_eq!(agent["state"], json!({"count": 30}));
    assert_eq!(agent["state_bytes"], 12);
    assert_eq!(agent["queue"], json!({"unfinished": 0, "queued": []}));
    let listed = app
        .ids_of_all_pages(&format!("/api/v1/tasks?agent={a}&limit=7"))
        .await;
    assert_eq!(listed, ids);
    app.stop().await;
}

#[actix_rt::test]
async fn a_state_changes_only_with_a_successful_attempt_and_never_past_its_limit() {
    let app = python_server(|c| c.max_agent_state_bytes = 64).await;
    let agent = app
        .create_agent(json!({"role": "counter", "state": {"count": 41, "note": "kept"}}))
        .await;
    assert_eq!(agent["state"], json!({"count": 41, "note": "kept"}));
    let a = id(&agent);
    assert_eq!(
        on(&app, &a, json!({"op": "count"})).await["result"],
        json!({"count": 42})
    );
    let failed = app
        .submit(json!({"agent": a, "input": {"op": "fail", "error": "no"}, "max_retries": 0}))
        .await;
    assert_eq!(app.finished(&id(&failed)).await["status"], "failed");
    let state = app.json(&format!("/api/v1/agents/{a}")).await["state"].clone();
    assert_eq!(state, json!({"count": 42, "note": "kept"}));

    // A process agent's program returns a state over the limit: the attempt fails, saying so,
    // and the state stays as it was.
    let p = id(&app.create_agent(process_agent("py")).await);
    on(&app, &p, json!({"op": "set_state", "state": {"n": 1}})).await;
    let big = on(
        &app,
        &p,
        json!({"op": "set_state", "state": {"n": "x".repeat(100)}}),
    )
    .await;
    assert_eq!(big["status"], "failed", "{big}");
    assert!(
        big["error"]
            .as_str()
            .unwrap()
            .contains("max_agent_state_bytes"),
        "{big}"
    );
    let after = app.json(&format!("/api/v1/agents/{p}")).await;
    assert_eq!(after["state"], json!({"n": 1}));

    // An initial state over the limit is refused, naming the field.
    let problem = app
        .invalid(
            "/api/v1/agents",
            &json!({"role": "counter", "state": {"n": "x".repeat(100)}}),
        )
        .await;
    assert_eq!(problem["field"], "state");
    app.stop().await;
}

#[actix_rt::test]
async fn an_agents_queue_is_bounded_waits_through_restarts_and_is_cancelled_with_its_agent() {
    let app = python_server(|c| c.max_agent_queue = 3).await;
    let a = id(&app.create_agent(json!({"role": "slow"})).await);
    let long = json!({"agent": a, "input": {"op": "sleep", "ms": 600000}, "timeout_ms": 3600000});
    let running = id(&app.submit(long.clone()).await);
    let queued: Vec<String> = [
        app.submit(long.clone()).await,
        app.submit(long.clone()).await,
    ]
    .iter()
    .map(id)
    .collect();
    let refused = app.post("/api/v1/tasks", &long).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("max_agent_queue"),
        "{problem}"
    );
    let view = app.json(&format!("/api/v1/agents/{a}")).await;
    assert_eq!(view["queue"]["unfinished"], 3);
    assert_eq!(app.metric("hive_addressed_tasks_queued").await, 3.0);
    assert_eq!(view["queue"]["queued"], json!(queued));

    // Restarting the agent retries the running task on it, ahead of the queue, which waited.
    let mut events = app.events().await;
    let restart = app
        .post(&format!("/api/v1/agents/{a}/restart"), &json!({}))
        .await;
    assert_eq!(restart.status(), StatusCode::ACCEPTED);
    events
        .until(|kind, data| kind == "task.started" && data["id"] == running.as_str())
        .await;
    assert_eq!(app.task(&running).await["attempts"], 2);
    for q in &queued {
        assert_eq!(app.task(q).await["status"], "queued");
    }

    // Deleting the agent ends everything addressed to it, saying why.
    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/agents/{a}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for task in std::iter::once(&running).chain(&queued) {
        let task = app.finished(task).await;
        assert_eq!(task["status"], "cancelled", "{task}");
        assert!(
            task["error"].as_str().unwrap().contains("was deleted"),
            "{task}"
        );
    }
    app.stop().await;
}

#[actix_rt::test]
async fn a_process_agent_serves_many_tasks_from_one_program_and_streams_its_progress() {
    let app = python_server(|c| c.exec_env = vec!["PATH".into()]).await;
    let spec = json!({
        "role": "py",
        "executor": {"kind": "process", "program": PYTHON, "args": [worker_script()],
                     "env": {"WORKER_MODE": "test"}, "limits": {"open_files": 64}},
    });
    let p = id(&app.create_agent(spec).await);
    let mut pids = Vec::new();
    for _ in 0..5 {
        pids.push(on(&app, &p, json!({"op": "pid"})).await["result"]["pid"].clone());
    }
    assert!(pids.iter().all(|pid| *pid == pids[0]), "{pids:?}");
    let view = app.json(&format!("/api/v1/agents/{p}")).await;
    assert_eq!(view["process"]["pid"], pids[0]);
    assert!(
        view["process"]["stderr"]
            .as_str()
            .unwrap()
            .contains("ready"),
        "{view}"
    );

    // Its environment is exec_env and its own, nothing else of the server's; its directory is
    // its agent's; its limits are set.
    let env = on(&app, &p, json!({"op": "environment"})).await["result"].clone();
    // LC_CTYPE is Python's own: it sets it at start when the locale is C (PEP 538).
    let names: Vec<&Value> = env["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| *n != "LC_CTYPE")
        .collect();
    assert_eq!(names, [&json!("PATH"), &json!("WORKER_MODE")], "{env}");
    assert_eq!(env["open_files"], 64);
    assert!(env["cwd"]
        .as_str()
        .unwrap()
        .ends_with(&format!("agents/{p}")));

    let mut events = app.events().await;
    let text = "word ".repeat(2500);
    let task = app
        .submit(json!({"agent": p, "input": {"op": "count_words", "text": text}}))
        .await;
    let (_, progress) = events
        .until(|kind, data| kind == "task.progress" && data["id"] == task["id"])
        .await;
    assert_eq!(progress["agent_id"], p.as_str());
    assert_eq!(progress["progress"], json!({"counted": 1000, "of": 2500}));
    let done = app.finished(&id(&task)).await;
    assert_eq!(done["result"], json!({"words": 2500, "total": 2500}));
    app.stop().await;
}

/// Wait until process `pid` has exited; `false` if it still runs after the patience limit.
pub(crate) async fn gone(pid: i64) -> bool {
    let pid = libc::pid_t::try_from(pid).unwrap();
    tokio::task::spawn_blocking(move || crate::process::exits(pid))
        .await
        .unwrap()
}

#[actix_rt::test]
async fn a_crashed_program_is_replaced_and_the_state_and_the_retry_carry_on() {
    let app = python_server(|_| {}).await;
    let p = id(&app.create_agent(process_agent("py")).await);
    on(&app, &p, json!({"op": "count_words", "text": "a b c"})).await;
    let first = on(&app, &p, json!({"op": "pid"})).await["result"]["pid"].clone();
    let crashed = on(&app, &p, json!({"op": "exit", "code": 3})).await;
    // Every attempt crashed its program: the task is dead, the reason names the exit.
    assert_eq!(crashed["status"], "dead", "{crashed}");
    assert!(
        crashed["error"]
            .as_str()
            .unwrap()
            .contains("exited with status 3"),
        "{crashed}"
    );
    assert!(gone(first.as_i64().unwrap()).await);
    let second = on(&app, &p, json!({"op": "pid"})).await["result"]["pid"].clone();
    assert_ne!(first, second);
    let counted = on(&app, &p, json!({"op": "count_words", "text": "d e"})).await;
    assert_eq!(counted["result"], json!({"words": 2, "total": 5}));
    let view = app.json(&format!("/api/v1/agents/{p}")).await;
    assert!(view["restarts"].as_u64().unwrap() >= 1, "{view}");
    // Operators see the programs come and go.
    assert!(app.metric("hive_process_starts_total").await >= 2.0);
    assert!(
        app.metric(r#"hive_process_exits_total{reason="exited"}"#)
            .await
            >= 1.0
    );
    assert_eq!(app.metric("hive_addressed_tasks_queued").await, 0.0);
    // What the crashed programs wrote on stderr is still there to read.
    assert!(
        view["process"]["stderr"]
            .as_str()
            .unwrap()
            .contains("exiting with 3"),
        "{view}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_timeout_or_a_cancel_kills_the_programs_whole_group_and_the_agent_carries_on() {
    // Given-up tasks replace the program without counting as crashes: more of them in a row
    // than the crash-loop limit leave the agent running.
    let app = python_server(|c| c.agent_crash_loop_limit = 1).await;
    let p = id(&app.create_agent(process_agent("py")).await);
    let program = on(&app, &p, json!({"op": "pid"})).await["result"]["pid"].clone();
    let child = on(&app, &p, json!({"op": "spawn", "seconds": 600})).await["result"]["pid"].clone();
    let slow = app
        .submit(json!({"agent": p, "input": {"op": "sleep", "seconds": 600},
                       "timeout_ms": 300, "max_retries": 0}))
        .await;
    let slow = app.finished(&id(&slow)).await;
    assert_eq!(slow["status"], "dead", "{slow}");
    assert!(
        slow["error"].as_str().unwrap().contains("timed out"),
        "{slow}"
    );
    // The program and the process it started are gone: the whole group was killed.
    assert!(gone(program.as_i64().unwrap()).await);
    assert!(gone(child.as_i64().unwrap()).await);
    for _ in 0..2 {
        let slow = app
            .submit(json!({"agent": p, "input": {"op": "sleep", "seconds": 600},
                           "timeout_ms": 300, "max_retries": 0}))
            .await;
        assert_eq!(app.finished(&id(&slow)).await["status"], "dead");
    }

    let program = on(&app, &p, json!({"op": "pid"})).await["result"]["pid"].clone();
    let mut events = app.events().await;
    let slow = app
        .submit(json!({"agent": p, "input": {"op": "sleep", "seconds": 600}, "timeout_ms": 600000}))
        .await;
    events
        .until(|kind, data| kind == "task.started" && data["id"] == slow["id"])
        .await;
    let cancelled = app
        .post(&format!("/api/v1/tasks/{}/cancel", id(&slow)), &json!({}))
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    assert!(gone(program.as_i64().unwrap()).await);
    let view = app.json(&format!("/api/v1/agents/{p}")).await;
    assert_ne!(view["status"], "stopped", "{view}");
    assert_eq!(
        on(&app, &p, json!({"op": "count_words", "text": "x"})).await["status"],
        "succeeded"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_program_that_cannot_start_stops_its_own_agent_never_its_pool() {
    let app = python_server(|c| c.agent_crash_loop_limit = 3).await;
    let healthy = id(&app.create_agent(process_agent("py")).await);
    let mut events = app.events().await;
    let broken = id(&app
        .create_agent(json!({
            "role": "py",
            "executor": {"kind": "process", "program": PYTHON, "args": ["/nonexistent/worker.py"]},
        }))
        .await);
    let (_, stopped) = events
        .until(|kind, data| kind == "supervisor.child_stopped" && data["child"] == broken.as_str())
        .await;
    assert!(
        stopped["reason"]["detail"]
            .as_str()
            .unwrap()
            .contains("exited with status 2"),
        "{stopped}"
    );
    let view = app.json(&format!("/api/v1/agents/{broken}")).await;
    assert_eq!(view["status"], "stopped", "{view}");
    assert!(
        view["stopped_reason"]
            .as_str()
            .unwrap()
            .contains("in a row"),
        "{view}"
    );
    assert!(
        view["stderr"].as_str().unwrap().contains("No such file"),
        "{view}"
    );
    // Its siblings in the pool still work.
    assert_eq!(
        on(
            &app,
            &healthy,
            json!({"op": "count_words", "text": "still here"})
        )
        .await["status"],
        "succeeded"
    );
    let pool = app.json("/api/v1/supervision").await.to_string();
    assert!(pool.contains("pool:py"), "{pool}");
    app.stop().await;
}

#[actix_rt::test]
async fn the_dashboard_shows_an_agents_program_state_and_queue() {
    let app = python_server(|_| {}).await;
    let p = id(&app.create_agent(process_agent("py")).await);
    on(&app, &p, json!({"op": "count_words", "text": "a b c"})).await;
    let Some(browser) =
        crate::browser::Browser::start("the_dashboard_shows_an_agents_program_state_and_queue")
            .await
    else {
        return app.stop().await;
    };
    browser.open(&app.url("/dashboard")).await;
    browser
        .until(
            "the pool in the tree",
            r#"const d = document.querySelector('[data-supervisor="pool:py"]');
               if (!d) return null; d.open = true; return true"#,
        )
        .await;
    let (line, _) = browser
        .until(
            "the agent's program and state",
            r#"const li = document.querySelector('[data-supervisor="pool:py"] > ul > li');
               const p = li && li.querySelector('[data-process]');
               return p ? li.textContent : null"#,
        )
        .await;
    let line = line.as_str().unwrap().to_owned();
    assert!(line.contains("pid "), "{line}");
    assert!(line.contains("state 11 B"), "{line}");
    let (details, _) = browser
        .until(
            "the agent's details",
            r#"const li = document.querySelector('[data-supervisor="pool:py"] > ul > li');
               const shown = li.querySelector('[data-agent-details]');
               if (shown) return shown.textContent;
               li.querySelector('button[data-details]').click();
               return null"#,
        )
        .await;
    let details = details.as_str().unwrap().to_owned();
    assert!(
        details.contains("addressed tasks: 0 unfinished"),
        "{details}"
    );
    assert!(details.contains("ready"), "the program's stderr: {details}");
    browser.quit().await;
    app.stop().await;
}

#[actix_rt::test]
async fn a_program_that_breaks_the_protocol_crashes_its_agent_with_the_reason() {
    let app = python_server(|c| c.max_line_bytes = 1024).await;
    let p = id(&app.create_agent(process_agent("py")).await);
    let long = format!(r#"{{"task":"x","result":"{}"}}"#, "y".repeat(2000));
    for (line, reason) in [
        ("this is not JSON".to_owned(), "not JSON"),
        ("[1, 2]".to_owned(), "not a JSON object"),
        (
            r#"{"task":"someone-else","result":1}"#.to_owned(),
            "answered for task someone-else",
        ),
        (long, "over max_line_bytes (1024 bytes)"),
    ] {
        let before = on(&app, &p, json!({"op": "pid"})).await["result"]["pid"].clone();
        let task = app
            .submit(json!({"agent": p, "input": {"op": "say", "line": line}, "max_retries": 0}))
            .await;
        let task = app.finished(&id(&task)).await;
        assert_eq!(task["status"], "dead", "{task}");
        assert!(
            task["error"].as_str().unwrap().contains(reason),
            "{reason}: {task}"
        );
        assert!(gone(before.as_i64().unwrap()).await);
    }
    // The agent carries on with a new program each time.
    assert_eq!(
        on(&app, &p, json!({"op": "count_words", "text": "fine"})).await["status"],
        "succeeded"
    );
    app.stop().await;
}
