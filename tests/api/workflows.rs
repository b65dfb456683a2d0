//! Agents that cooperate: tasks that wait for others (one at a time or a whole graph at once),
//! and tasks a process agent's answer hands over to other agents.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with, TestApp};
use crate::identity::{process_agent, PYTHON};

fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

async fn batch(app: &TestApp, tasks: Value) -> Value {
    let response = app
        .post("/api/v1/tasks/batch", &json!({ "tasks": tasks }))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json().await.expect("batch JSON")
}

async fn task_count(app: &TestApp) -> usize {
    app.ids_of_all_pages("/api/v1/tasks?limit=500").await.len()
}

#[actix_rt::test]
async fn a_diamond_runs_in_order_and_passes_each_task_its_dependencies_results() {
    let app = spawn_app().await;
    app.worker().await;
    app.worker().await;
    let accepted = batch(
        &app,
        json!([
            {"ref": "top", "role": "worker", "input": {"op": "echo", "value": "top"}},
            {"ref": "left", "role": "worker", "input": {"op": "collect"}, "depends_on": ["top"]},
            {"ref": "right", "role": "worker", "input": {"op": "echo", "value": 2}, "depends_on": ["top"]},
            {"ref": "bottom", "role": "worker", "input": {"op": "collect"}, "depends_on": ["left", "right"]},
        ]),
    )
    .await;
    let ids = &accepted["ids"];
    let [top, left, right, bottom] =
        ["top", "left", "right", "bottom"].map(|r| ids[r].as_str().expect("id by ref").to_owned());
    // Answered as stored: only the top is queued, the rest wait.
    let statuses: Vec<&str> = accepted["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses[1..], ["waiting", "waiting", "waiting"]);
    assert_eq!(accepted["tasks"][3]["depends_on"], json!([left, right]));

    let done = app.finished(&bottom).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let left_result = json!({ top.clone(): "top" });
    assert_eq!(
        done["result"],
        json!({ left.clone(): left_result, right.clone(): 2 })
    );
    // Each started only after what it waited for had ended.
    let tasks = app.all_finished(&[&top, &left, &right]).await;
    let finished_top = tasks[0]["finished_at"].as_str().unwrap().to_owned();
    for waiter in &tasks[1..] {
        assert!(
            waiter["started_at"].as_str().unwrap() >= finished_top.as_str(),
            "{waiter}"
        );
    }
    let history = app.json(&format!("/api/v1/tasks/{bottom}/events")).await;
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["waiting", "queued", "started", "succeeded"]);

    let graph = app.json(&format!("/api/v1/tasks/{top}/graph")).await;
    assert_eq!(graph["task"]["status"], "succeeded");
    let dependants: Vec<&str> = graph["dependants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    let mut expected = vec![left.as_str(), right.as_str()];
    expected.sort();
    assert_eq!(dependants, expected);
    let graph = app.json(&format!("/api/v1/tasks/{bottom}/graph")).await;
    assert_eq!(graph["dependencies"].as_array().unwrap().len(), 2);
    assert!(graph["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["status"] == "succeeded"));
    app.stop().await;
}

#[actix_rt::test]
async fn a_failure_cancels_everything_that_waits_on_it_transitively() {
    let app = spawn_app().await;
    app.worker().await;
    let failing = app
        .submit(json!({"role": "worker", "input": {"op": "fail", "error": "no"}, "max_retries": 0}))
        .await;
    let failing = id(&failing);
    let child = app
        .submit(json!({"role": "worker", "input": {"op": "collect"}, "depends_on": [failing]}))
        .await;
    let grandchild = app
        .submit(json!({"role": "worker", "input": {"op": "collect"}, "depends_on": [id(&child)]}))
        .await;
    let ended = app
        .all_finished(&[&failing, &id(&child), &id(&grandchild)])
        .await;
    assert_eq!(ended[0]["status"], "failed");
    assert_eq!(ended[1]["status"], "cancelled");
    assert_eq!(
        ended[1]["error"],
        format!("dependency {failing} ended failed")
    );
    assert_eq!(ended[2]["status"], "cancelled");
    assert_eq!(
        ended[2]["error"],
        format!("dependency {} ended cancelled", id(&child))
    );
    // Neither ever ran.
    assert_eq!(ended[1]["attempts"], 0);
    assert_eq!(ended[2]["attempts"], 0);

    // A dependency that already failed cancels a new task at once.
    let late = app
        .submit(json!({"role": "worker", "input": {"op": "collect"}, "depends_on": [failing]}))
        .await;
    assert_eq!(late["status"], "cancelled", "{late}");
    app.stop().await;
}

#[actix_rt::test]
async fn cancelling_a_waiting_task_cancels_what_waits_on_it_and_leaves_its_dependency_alone() {
    let app = spawn_app().await;
    // No agent of role `later` yet: its task stays queued, and the others wait behind it.
    let first = id(&app
        .submit(json!({"role": "later", "input": {"op": "echo", "value": 1}}))
        .await);
    let second = app
        .submit(json!({"role": "later", "input": {"op": "collect"}, "depends_on": [first]}))
        .await;
    assert_eq!(second["status"], "waiting");
    let second = id(&second);
    let third = id(&app
        .submit(json!({"role": "later", "input": {"op": "collect"}, "depends_on": [second]}))
        .await);
    let cancelled = app
        .post(&format!("/api/v1/tasks/{second}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let cancelled: Value = cancelled.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(app.task(&third).await["status"], "cancelled");
    assert_eq!(app.task(&first).await["status"], "queued");
    // Ended: a second cancel is a conflict.
    let again = app
        .post(&format!("/api/v1/tasks/{second}/cancel"), &json!({}))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    app.create_agent(json!({"role": "later"})).await;
    assert_eq!(app.finished(&first).await["status"], "succeeded");
    app.stop().await;
}

#[actix_rt::test]
async fn a_graph_with_a_cycle_or_an_unknown_dependency_is_refused_whole() {
    let app = spawn_app().await;
    app.worker().await;
    let before = task_count(&app).await;
    let cycle = app
        .invalid(
            "/api/v1/tasks/batch",
            &json!({"tasks": [
                {"ref": "free", "role": "worker", "input": {"op": "echo", "value": 0}},
                {"ref": "a", "role": "worker", "input": {"op": "collect"}, "depends_on": ["b"]},
                {"ref": "b", "role": "worker", "input": {"op": "collect"}, "depends_on": ["a"]},
            ]}),
        )
        .await;
    assert_eq!(cycle["field"], "tasks[1].depends_on");
    assert!(
        cycle["detail"].as_str().unwrap().contains("a → b → a"),
        "{cycle}"
    );

    let unknown = app
        .invalid(
            "/api/v1/tasks/batch",
            &json!({"tasks": [
                {"ref": "a", "role": "worker", "input": {"op": "collect"}, "depends_on": ["nope"]},
            ]}),
        )
        .await;
    assert_eq!(unknown["field"], "tasks[0].depends_on");
    let single = app
        .invalid(
            "/api/v1/tasks",
            &json!({"role": "worker", "input": {"op": "collect"}, "depends_on": ["nope"]}),
        )
        .await;
    assert_eq!(single["field"], "depends_on[0]");
    let twice = app
        .invalid(
            "/api/v1/tasks/batch",
            &json!({"tasks": [
                {"ref": "a", "role": "worker", "input": {"op": "collect"}},
                {"ref": "a", "role": "worker", "input": {"op": "collect"}},
            ]}),
        )
        .await;
    assert_eq!(twice["field"], "tasks[1].ref");
    assert_eq!(
        task_count(&app).await,
        before,
        "nothing of a refused batch is kept"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_hand_off_is_created_with_its_senders_result_and_never_without_it() {
    let app = spawn_with(|c| c.allow_exec = vec![PYTHON.into()]).await;
    let sender = id(&app.create_agent(process_agent("planner")).await);
    let reviewer = id(&app.create_agent(process_agent("reviewer")).await);
    app.worker().await;
    let task = app
        .submit(json!({"agent": sender, "input": {"op": "hand_off", "result": "planned", "send": [
            {"agent": reviewer, "input": {"op": "collect"}},
            {"role": "worker", "input": {"op": "echo", "value": "to the pool"}, "priority": "high"},
            {"agent": "no-such-agent", "input": {}},
        ]}}))
        .await;
    let sent = app.finished(&id(&task)).await;
    assert_eq!(sent["result"], "planned");
    let children = app
        .ids_of_all_pages(&format!("/api/v1/tasks?parent_id={}&limit=10", id(&task)))
        .await;
    assert_eq!(children.len(), 3);
    let refs: Vec<&str> = children.iter().map(String::as_str).collect();
    let ended = app.all_finished(&refs).await;
    let by_role = |role: &str| ended.iter().find(|t| t["role"] == role).expect(role);
    let review = by_role("reviewer");
    assert_eq!(review["status"], "succeeded");
    assert_eq!(review["agent_id"], reviewer.as_str());
    assert_eq!(review["parent_id"], id(&task));
    let pooled = by_role("worker");
    assert_eq!(pooled["result"], "to the pool");
    assert_eq!(pooled["priority"], "high");
    let nobody = ended
        .iter()
        .find(|t| t["agent"] == "no-such-agent")
        .unwrap();
    assert_eq!(nobody["status"], "failed");
    assert!(
        nobody["error"].as_str().unwrap().contains("does not exist"),
        "{nobody}"
    );
    let graph = app
        .json(&format!("/api/v1/tasks/{}/graph", id(&task)))
        .await;
    assert_eq!(graph["children"].as_array().unwrap().len(), 3);

    // A sender that dies mid-answer sends nothing: no attempt committed, no child exists.
    let died = app
        .submit(
            json!({"agent": sender, "max_retries": 0, "input": {"op": "hand_off_and_die", "send": [
                {"role": "worker", "input": {"op": "echo", "value": "never"}},
            ]}}),
        )
        .await;
    let died = app.finished(&id(&died)).await;
    assert_eq!(died["status"], "dead", "{died}");
    let none = app
        .ids_of_all_pages(&format!("/api/v1/tasks?parent_id={}&limit=10", id(&died)))
        .await;
    assert!(none.is_empty(), "{none:?}");

    // A malformed hand-off fails the attempt, naming what is wrong, and sends nothing.
    let wrong = app
        .submit(
            json!({"agent": sender, "max_retries": 0, "input": {"op": "hand_off", "send": [
                {"role": "worker", "input": 3},
            ]}}),
        )
        .await;
    let wrong = app.finished(&id(&wrong)).await;
    assert_eq!(wrong["status"], "failed");
    assert!(
        wrong["error"]
            .as_str()
            .unwrap()
            .starts_with("send[0].input"),
        "{wrong}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_hand_off_may_wait_for_earlier_tasks_and_gets_their_results() {
    let app = spawn_with(|c| c.allow_exec = vec![PYTHON.into()]).await;
    let sender = id(&app.create_agent(process_agent("planner")).await);
    let collector = id(&app.create_agent(process_agent("collector")).await);
    let task = app
        .submit(json!({"agent": sender, "input": {"op": "pid"}}))
        .await;
    let first = app.finished(&id(&task)).await;
    // The hand-off waits for a task that already ended: it runs with that task's result.
    let second = app
        .submit(
            json!({"agent": sender, "input": {"op": "hand_off", "result": {"n": 7}, "send": [
                {"agent": collector, "input": {"op": "collect"}, "depends_on": [id(&first)]},
            ]}}),
        )
        .await;
    app.finished(&id(&second)).await;
    let children = app
        .ids_of_all_pages(&format!("/api/v1/tasks?parent_id={}&limit=10", id(&second)))
        .await;
    let child = app.finished(&children[0]).await;
    assert_eq!(child["status"], "succeeded");
    assert_eq!(
        child["result"],
        json!({ id(&first): first["result"].clone() })
    );
    app.stop().await;
}
