//! A real server per test: bound on 127.0.0.1:0, a fresh SQLite database in a temporary
//! directory, driven by a real HTTP client. Waits listen on the server's own event stream.

use std::time::Duration;

use futures::StreamExt;
use hive::app::Application;
use hive::config::Config;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Longest any wait in a test may take before it fails; generous, since it only bounds a hang.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct TestApp {
    pub base: String,
    pub client: Client,
    /// Holds the server's data directory for as long as the test runs.
    _dir: Option<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Receiver<anyhow::Result<()>>>,
}

/// Test defaults: quick retries, so that retry schedules run in milliseconds.
pub fn test_config(dir: &TempDir) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().expect("literal address"),
        data_dir: dir.path().to_owned(),
        retry_backoff_ms: 5,
        // Every test's server shares this process's memory: the budget that sheds work on one
        // server's behalf cannot be told apart from the others', so it is out of their way.
        memory_budget_bytes: 1 << 40,
        // Tests make their first token as an operator who chose this would.
        first_token_over_http: true,
        http_workers: 2,
        agent_threads: 2,
        ..Config::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        hive::telemetry::init();
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = test_config(&dir);
    adjust(&mut config);
    let app = Application::build(config).await.expect("server builds");
    let base = format!("http://{}", app.addr());
    let (stop, stop_rx) = oneshot::channel::<()>();
    let (done, stopped) = oneshot::channel();
    actix_rt::spawn(async move {
        let result = app.run_until_stopped(async move {
            let _ = stop_rx.await;
        });
        let _ = done.send(result.await);
    });
    TestApp {
        base,
        client: Client::new(),
        _dir: Some(dir),
        stop: Some(stop),
        stopped: Some(stopped),
    }
}

/// A server running in another process, at `base`.
pub fn remote(base: &str) -> TestApp {
    TestApp {
        base: base.to_owned(),
        client: Client::new(),
        _dir: None,
        stop: None,
        stopped: None,
    }
}

impl TestApp {
    /// The same server, every request carrying `Authorization: Bearer <secret>`.
    pub fn with_token(&self, secret: &str) -> TestApp {
        let mut headers = reqwest::header::HeaderMap::new();
        let value = format!("Bearer {secret}").parse().expect("header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
        let mut app = remote(&self.base);
        app.client = Client::builder()
            .default_headers(headers)
            .build()
            .expect("client");
        app
    }

    /// The data directory of a server this test started.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir
            .as_ref()
            .expect("a server started by this test")
            .path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// POST `body` to `path`, which must be refused as invalid (422, problem+json); answers the
    /// problem, whose `field` the caller checks.
    pub async fn invalid(&self, path: &str, body: &Value) -> Value {
        let response = self.post(path, body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "POST {path} {body}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        response.json().await.expect("a problem body")
    }

    pub async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON body")
    }

    pub async fn create_agent(&self, body: Value) -> Value {
        let response = self.post("/api/v1/agents", &body).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "create agent {body}"
        );
        response.json().await.expect("agent JSON")
    }

    pub async fn worker(&self) -> String {
        let agent = self.create_agent(json!({ "role": "worker" })).await;
        agent["id"].as_str().expect("agent id").to_owned()
    }

    pub async fn submit(&self, body: Value) -> Value {
        let response = self.post("/api/v1/tasks", &body).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "submit {body}");
        response.json().await.expect("task JSON")
    }

    /// Submit `input` to the `worker` pool and answer the task once it has ended.
    pub async fn run(&self, input: Value) -> Value {
        let task = self.submit(json!({"role": "worker", "input": input})).await;
        self.finished(task["id"].as_str().expect("task id")).await
    }

    /// Follow `next_cursor` from `path` (which has a query string) to the last page; answers the
    /// ids of every item in order.
    pub async fn ids_of_all_pages(&self, path: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut next = path.to_owned();
        loop {
            let page = self.json(&next).await;
            let items = page["items"].as_array().expect("items");
            ids.extend(
                items
                    .iter()
                    .map(|i| i["id"].as_str().expect("id").to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(cursor) => next = format!("{path}&cursor={cursor}"),
                None => return ids,
            }
        }
    }

    pub async fn task(&self, id: &str) -> Value {
        self.json(&format!("/api/v1/tasks/{id}")).await
    }

    /// Wait until every one of `ids` reaches a final status and answer them, in order, on one
    /// event stream (one stream per task would hold hundreds of subscriptions at once).
    pub async fn all_finished(&self, ids: &[&str]) -> Vec<Value> {
        let mut events = self.events().await;
        let mut tasks = Vec::with_capacity(ids.len());
        for id in ids {
            loop {
                let task = self.task(id).await;
                if is_final(&task) {
                    tasks.push(task);
                    break;
                }
                events
                    .until(|kind, data| kind.starts_with("task.") && data["id"] == *id)
                    .await;
            }
        }
        tasks
    }

    /// Wait until `task` reaches a final status and answer it.
    pub async fn finished(&self, id: &str) -> Value {
        let mut events = self.events().await;
        loop {
            let task = self.task(id).await;
            if is_final(&task) {
                return task;
            }
            events
                .until(|kind, data| kind.starts_with("task.") && data["id"] == id)
                .await;
        }
    }

    pub async fn events(&self) -> Events {
        self.events_with("").await
    }

    /// The event stream with a query string (`?topic=…`).
    pub async fn events_with(&self, query: &str) -> Events {
        let response = self.get(&format!("/api/v1/events{query}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        Events {
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// Another writer takes the SQLite database of a server this test started: no commit can
    /// finish until the returned connection runs `COMMIT`.
    pub fn hold_database(&self) -> diesel::SqliteConnection {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let db = self.data_dir().join("hive.db");
        let mut holder = diesel::SqliteConnection::establish(db.to_str().expect("a UTF-8 path"))
            .expect("opened");
        // The server may be committing at this moment: wait for its lock as its own
        // connections do, rather than fail at once.
        holder
            .batch_execute("PRAGMA busy_timeout = 5000; BEGIN EXCLUSIVE")
            .expect("locked");
        holder
    }

    /// The mailbox probe of one actor kind as `/api/v1/system/status` shows it.
    pub async fn mailbox(&self, kind: &str) -> Value {
        let status = self.json("/api/v1/system/status").await;
        status["mailboxes"]
            .as_array()
            .expect("mailboxes")
            .iter()
            .find(|m| m["kind"] == kind)
            .unwrap_or_else(|| panic!("no mailbox of kind {kind}: {status}"))
            .clone()
    }

    /// The value of one series in `/metrics`, 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .get("/metrics")
            .await
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|line| {
                line.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            stopped
                .await
                .expect("server task ended")
                .expect("clean shutdown");
        }
    }
}

/// A server-sent event stream.
pub(crate) fn is_final(task: &Value) -> bool {
    ["succeeded", "failed", "dead", "cancelled"]
        .contains(&task["status"].as_str().unwrap_or_default())
}

pub struct Events {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>>>>,
    buffer: String,
}

impl Events {
    /// The next event, as (event name, JSON data).
    pub async fn next(&mut self) -> (String, Value) {
        self.try_next().await.expect("stream open")
    }

    /// The next event, or `None` once the server ended the stream.
    pub async fn try_next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut kind = String::new();
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if kind.is_empty() {
                    continue; // a keep-alive comment
                }
                let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                let data = data.get("data").cloned().unwrap_or(data);
                return Some((kind, data));
            }
            let chunk = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("an event within the patience limit")?
                .expect("stream chunk");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event that satisfies `pred`; fails the test after [`PATIENCE`] in all, since
    /// keep-alive comments would otherwise keep a wait for something that never comes alive.
    pub async fn until(&mut self, pred: impl Fn(&str, &Value) -> bool) -> (String, Value) {
        let search = async {
            loop {
                let (kind, data) = self.next().await;
                if pred(&kind, &data) {
                    return (kind, data);
                }
            }
        };
        tokio::time::timeout(PATIENCE, search)
            .await
            .expect("the awaited event within the patience limit")
    }
}
