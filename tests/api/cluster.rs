//! Several `hive serve` processes on one PostgreSQL and one Redis: the load spreads over them, a
//! node SIGKILLed mid-load loses nothing, any node answers for any agent and task, and a node
//! cut off from Redis keeps working and says so.

use std::path::Path;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{remote, TestApp};
use crate::postgres_schema::{self, Schema};
use crate::process::{start_with, Server};
use crate::redis_namespace::{self, Namespace};

/// Short leases, so that a lost node is taken over within seconds; quick retries.
const CLUSTER_CONFIG: &str = "retry_backoff_ms = 5\n\
    [cluster]\nlease_ms = 3000\nheartbeat_ms = 250\n";

struct Services {
    schema: Schema,
    redis: Namespace,
}

async fn services(test: &str) -> Option<Services> {
    let schema = postgres_schema::schema(test).await?;
    let redis = redis_namespace::namespace(test).await?;
    Some(Services { schema, redis })
}

/// `hive serve` as node `id` of the cluster, with Redis at `redis_url`.
fn node(dir: &Path, s: &Services, id: &str, redis_url: &str) -> Server {
    let config = dir.join("hive.toml");
    std::fs::write(&config, CLUSTER_CONFIG).unwrap();
    let flags: Vec<std::ffi::OsString> = vec![
        "--config".into(),
        config.into(),
        "--database-url".into(),
        s.schema.url.clone().into(),
        "--redis-url".into(),
        redis_url.into(),
        "--redis-prefix".into(),
        s.redis.prefix.clone().into(),
        "--node-id".into(),
        id.into(),
    ];
    let flags: Vec<&std::ffi::OsStr> = flags.iter().map(|f| f.as_os_str()).collect();
    let server = start_with(dir, &flags);
    server.wait_for_line("ready on ");
    server
}

async fn agents(app: &TestApp, role: &str, count: usize) -> Vec<String> {
    let response = app
        .post(
            "/api/v1/agents/batch",
            &json!({"count": count, "template": {"role": role}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect()
}

async fn readiness(app: &TestApp) -> Value {
    app.get("/readyz").await.json().await.unwrap()
}

/// Accepted tasks; each client submits to its node until that node stops answering.
const ACCEPTED_BEFORE_KILL: usize = 240;

#[actix_rt::test]
async fn three_nodes_share_the_load_and_a_killed_nodes_tasks_finish_on_the_others() {
    let Some(s) = services("three_nodes").await else {
        return;
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<Server> = ["n1", "n2", "n3"]
        .iter()
        .zip(&dirs)
        .map(|(id, dir)| node(dir.path(), &s, id, &s.redis.url))
        .collect();
    let apps: Vec<TestApp> = nodes.iter().map(Server::app).collect();
    let mut agent_ids = Vec::new();
    for app in &apps {
        agent_ids.push(agents(app, "worker", 3).await);
    }

    // Any node answers for another node's agent.
    let theirs: Value = apps[0]
        .json(&format!("/api/v1/agents/{}", agent_ids[1][0]))
        .await;
    assert_eq!(theirs["node"], "n2", "{theirs}");

    // A role only n2 runs: its task, submitted to n1, runs on n2, and n1's event stream sees
    // it end (relayed from n2 over Redis).
    agents(&apps[1], "only-n2", 1).await;
    let mut n1_events = apps[0].events().await;
    let routed = apps[0]
        .submit(json!({"role": "only-n2", "input": {"op": "echo", "value": 1}}))
        .await;
    let id = routed["id"].as_str().unwrap().to_owned();
    n1_events
        .until(|kind, data| kind == "task.succeeded" && data["id"] == id.as_str())
        .await;
    assert_eq!(apps[0].task(&id).await["node"], "n2");

    // 12 clients, 4 per node, submitting 40 ms tasks; n3 is killed mid-load.
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::unbounded_channel();
    let clients: Vec<_> = (0..12)
        .map(|client| {
            let (app, accepted) = (remote(&nodes[client % 3].base), accepted_tx.clone());
            actix_rt::spawn(async move {
                for i in 0..1_000 {
                    let body = json!({"role": "worker", "input": {"op": "sleep", "ms": 40}, "idempotency_key": format!("{client}-{i}")});
                    let Ok(response) = app.client.post(app.url("/api/v1/tasks")).json(&body).send().await else {
                        return; // its node is gone
                    };
                    if response.status() != StatusCode::ACCEPTED {
                        continue;
                    }
                    let Ok(task) = response.json::<Value>().await else { return };
                    if accepted.send(task["id"].as_str().unwrap().to_owned()).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(accepted_tx);
    let mut accepted = Vec::new();
    while accepted.len() < ACCEPTED_BEFORE_KILL {
        accepted.push(accepted_rx.recv().await.expect("clients keep submitting"));
    }
    nodes[2].child.kill().expect("SIGKILL");
    nodes[2].child.wait().unwrap();
    // n1 and n2 go on taking tasks for a while after the loss.
    let after_kill = accepted.len() + 120;
    while accepted.len() < after_kill {
        accepted.push(
            accepted_rx
                .recv()
                .await
                .expect("the survivors keep accepting"),
        );
    }
    for client in clients {
        client.abort();
    }
    while let Ok(more) = accepted_rx.try_recv() {
        accepted.push(more);
    }

    // Every accepted task succeeds, run by exactly the attempts its history shows: one, or two
    // when the kill interrupted the first.
    let ids: Vec<&str> = accepted.iter().map(String::as_str).collect();
    let finished = apps[0].all_finished(&ids).await;
    let mut ran_on = std::collections::BTreeSet::new();
    for task in &finished {
        assert_eq!(task["status"], "succeeded", "{task}");
        let attempts = task["attempts"].as_u64().unwrap();
        assert!((1..=2).contains(&attempts), "{task}");
        ran_on.insert(task["node"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        ran_on.into_iter().collect::<Vec<_>>(),
        ["n1", "n2", "n3"],
        "the load spread over every node"
    );
    for task in finished.iter().filter(|t| t["attempts"] == 2) {
        let history = apps[0]
            .json(&format!(
                "/api/v1/tasks/{}/events",
                task["id"].as_str().unwrap()
            ))
            .await;
        let started = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "started")
            .count();
        assert!(started <= 2, "{history}");
        assert_ne!(task["node"], "n3", "{task}");
    }

    // The cluster view shows the loss and who took over.
    let view = apps[0].json("/api/v1/cluster").await;
    let by_id = |id: &str| {
        view["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} is listed: {view}"))
    };
    assert_eq!(by_id("n1")["status"], "alive");
    assert_eq!(by_id("n2")["status"], "alive");
    let lost = by_id("n3");
    // n3 was running tasks when it was killed: they moved, and ran again elsewhere.
    assert!(lost["tasks_taken_over"].as_u64().unwrap() >= 1, "{view}");
    assert_eq!(lost["status"], "lost", "{view}");
    assert!(
        ["n1", "n2"].contains(&lost["taken_over_by"].as_str().unwrap()),
        "{view}"
    );
    // n3's agents are n3's: asking for one names the loss instead of guessing.
    let gone = apps[0]
        .get(&format!("/api/v1/agents/{}", agent_ids[2][0]))
        .await;
    assert_eq!(gone.status(), StatusCode::CONFLICT);
}

/// Every key of the test's namespace, as a Redis that restarted would have them: none.
async fn drop_keys(ns: &Namespace) {
    let client = redis::Client::open(ns.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", ns.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

/// What a relay does with its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Open,
    /// Connections are closed and new ones refused: the peer sees resets.
    Cut,
    /// Nothing is forwarded and nothing closed, as behind a firewall that drops packets; when
    /// the link opens again what waited goes through, as a healed network retransmits it.
    Stalled,
}

/// A TCP relay between a node and Redis (or PostgreSQL) that a test can cut, stall and restore.
struct Cut {
    addr: std::net::SocketAddr,
    link: Arc<watch::Sender<Link>>,
}

/// Forward `from` to `to` while the link is open; paused while it is stalled; ended when cut.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut link: watch::Receiver<Link>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let Ok(Link::Open) = link.wait_for(|l| *l != Link::Stalled).await.map(|l| *l) else {
            return;
        };
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = link.wait_for(|l| *l == Link::Cut) => return,
        };
        // A chunk read as the link stalls waits for it to open again.
        match link.wait_for(|l| *l != Link::Stalled).await.map(|l| *l) {
            Ok(Link::Open) => {}
            _ => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Cut {
    /// On a thread and runtime of its own: the test's thread blocks while a server starts.
    async fn to(target: &str) -> Cut {
        let target = target
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let link = Arc::new(watch::Sender::new(Link::Open));
        let state = link.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if *state.borrow() == Link::Cut {
                        let _ = inbound.shutdown().await;
                        continue;
                    }
                    let (target, mut link) = (target.clone(), state.subscribe());
                    tokio::spawn(async move {
                        // A connection made while stalled waits, unanswered, for the link.
                        if !matches!(
                            link.wait_for(|l| *l != Link::Stalled).await.map(|l| *l),
                            Ok(Link::Open)
                        ) {
                            return;
                        }
                        let Ok(outbound) = TcpStream::connect(&target).await else {
                            return;
                        };
                        let (in_read, in_write) = inbound.into_split();
                        let (out_read, out_write) = outbound.into_split();
                        tokio::join!(
                            forward(in_read, out_write, link.clone()),
                            forward(out_read, in_write, link),
                        );
                    });
                }
            });
        });
        Cut { addr, link }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn set(&self, open: bool) {
        self.link
            .send_replace(if open { Link::Open } else { Link::Cut });
    }

    fn stall(&self) {
        self.link.send_replace(Link::Stalled);
    }
}

#[actix_rt::test]
async fn a_node_cut_off_from_redis_runs_tasks_itself_says_degraded_and_catches_up() {
    let Some(s) = services("redis_cut").await else {
        return;
    };
    let cut = Cut::to(&s.redis.url).await;
    let dir = tempfile::tempdir().unwrap();
    let server = node(dir.path(), &s, "solo", &cut.url());
    let app = server.app();
    agents(&app, "worker", 2).await;
    // Redis answered before the node said it was ready.
    let ready = readiness(&app).await;
    assert_eq!(
        (&ready["status"], &ready["degraded"]),
        (&json!("ready"), &json!([]))
    );
    let mut events = app.events().await;
    let echo = |v: i64| json!({"op": "echo", "value": v});
    let first = app.run(echo(1)).await;
    assert_eq!(
        (first["status"].as_str(), first["node"].as_str()),
        (Some("succeeded"), Some("solo"))
    );
    assert_eq!(
        app.metric("hive_cluster_tasks_total{action=\"published\"}")
            .await,
        1.0
    );

    cut.set(false);
    events
        .until(|kind, data| kind == "cluster.redis" && data["up"] == false)
        .await;
    // Still 200: the node serves.
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let degraded: Value = response.json().await.unwrap();
    assert_eq!(
        (&degraded["status"], &degraded["degraded"]),
        (&json!("degraded"), &json!(["redis"]))
    );
    let during = app.run(echo(2)).await;
    assert_eq!(during["status"], "succeeded", "{during}");
    assert_eq!(during["node"], "solo");
    assert!(
        app.metric("hive_cluster_tasks_total{action=\"held_locally\"}")
            .await
            >= 1.0
    );
    assert_eq!(app.json("/api/v1/cluster").await["redis"], "down");

    // Redis restarts empty meanwhile (it keeps nothing on disk): streams and groups are gone.
    drop_keys(&s.redis).await;
    cut.set(true);
    events
        .until(|kind, data| kind == "cluster.redis" && data["up"] == true)
        .await;
    assert_eq!(readiness(&app).await["status"], "ready");
    let after = app.run(echo(3)).await;
    assert_eq!(after["status"], "succeeded", "{after}");
    assert_eq!(
        app.metric("hive_cluster_tasks_total{action=\"published\"}")
            .await,
        2.0
    );
    assert_eq!(app.json("/api/v1/cluster").await["redis"], "up");
}

/// A server on PostgreSQL whose database goes away: new tasks are refused with 503 and
/// `/readyz` says why, the task that was running finishes, and once the database is back its
/// end is written and new tasks are taken again.
#[actix_rt::test]
async fn a_server_whose_database_goes_away_refuses_new_tasks_keeps_running_ones_and_recovers() {
    database_outage("database_cut", Link::Cut).await;
}

/// As above with a database that stalls instead of refusing (a blackholed connection): the
/// writer gives up on it within its bound, every request is answered within the answer bound,
/// and readiness fails while it lasts.
#[actix_rt::test]
async fn a_server_whose_database_stalls_answers_within_its_bound_and_recovers() {
    database_outage("database_stall", Link::Stalled).await;
}

async fn database_outage(test: &str, outage: Link) {
    let Some(schema) = postgres_schema::schema(test).await else {
        return;
    };
    // postgres://user@host:port/db?… → the same through the relay.
    let (head, rest) = schema.url.split_once('@').unwrap();
    let (host, tail) = rest.split_once('/').unwrap();
    let cut = Cut::to(host).await;
    let url = format!("{head}@{}/{tail}", cut.addr);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hive.toml");
    std::fs::write(&config, "retry_backoff_ms = 5\n").unwrap();
    let flags: Vec<&std::ffi::OsStr> = vec![
        "--config".as_ref(),
        config.as_os_str(),
        "--database-url".as_ref(),
        url.as_ref(),
    ];
    let server = start_with(dir.path(), &flags);
    server.wait_for_line("ready on ");
    let app = server.app();
    app.worker().await;
    let running = app
        .submit(json!({"role": "worker", "input": {"op": "sleep", "ms": 1500}}))
        .await;
    let id = running["id"].as_str().unwrap().to_owned();
    let mut events = app.events().await;
    events
        .until(|kind, data| kind == "task.started" && data["id"] == id.as_str())
        .await;

    match outage {
        Link::Stalled => cut.stall(),
        _ => cut.set(false),
    }
    // A client that gives up after 15 s is answered before then, whatever the database does.
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap();
    let submit = || {
        impatient
            .post(app.url("/api/v1/tasks"))
            .json(&json!({"role": "worker", "input": {"op": "echo", "value": 1}}))
            .send()
    };
    let early = submit()
        .await
        .expect("answered within the client's patience");
    assert_eq!(early.status(), StatusCode::SERVICE_UNAVAILABLE);
    let read = impatient
        .get(app.url("/api/v1/tasks?limit=1"))
        .send()
        .await
        .expect("a read answered within the client's patience");
    assert!(
        [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&read.status()),
        "{}",
        read.status()
    );
    // Seen when the task's end cannot be committed.
    events
        .until(|kind, data| kind == "store.database" && data["up"] == false)
        .await;
    let down = readiness(&app).await;
    assert_eq!(
        (&down["status"], &down["failing"]),
        (&json!("unavailable"), &json!(["database"]))
    );
    let refused = submit()
        .await
        .expect("answered within the client's patience");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("database"),
        "{problem}"
    );

    cut.set(true);
    events
        .until(|kind, data| kind == "store.database" && data["up"] == true)
        .await;
    assert_eq!(readiness(&app).await["status"], "ready");
    // The running task's end was kept and is announced once it is committed.
    events
        .until(|kind, data| kind == "task.succeeded" && data["id"] == id.as_str())
        .await;
    let done = app.task(&id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 1, "{done}");
    let after = app.run(json!({"op": "echo", "value": 2})).await;
    assert_eq!(after["status"], "succeeded");
}

/// The streams are read in the single server's order: by the share of its class's queue-wait
/// target the oldest waiting task has used. A `low` task past its (here tiny) target is read
/// before the `critical` ones queued ahead of it, whose target is long.
#[actix_rt::test]
async fn in_a_cluster_a_task_past_its_class_target_is_read_before_younger_urgent_ones() {
    let Some(s) = services("fair_reads").await else {
        return;
    };
    let app = crate::helpers::spawn_with(|c| {
        c.database_url = Some(s.schema.url.clone());
        c.cluster.redis_url = Some(s.redis.url.clone());
        c.cluster.redis_prefix = s.redis.prefix.clone();
        c.cluster.node_id = Some("fair".into());
        c.slo.critical_ms = 600_000;
        c.slo.low_ms = 1;
    })
    .await;
    // Submitted before any agent exists: all of them wait in the streams.
    let mut critical = Vec::new();
    for i in 0..8 {
        let task = app
            .submit(json!({"role": "worker", "priority": "critical", "input": {"op": "sleep", "ms": 20 + i}}))
            .await;
        critical.push(task["id"].as_str().unwrap().to_owned());
    }
    let low = app
        .submit(json!({"role": "worker", "priority": "low", "input": {"op": "echo", "value": 1}}))
        .await;
    let low = low["id"].as_str().unwrap().to_owned();
    app.worker().await;
    let mut ids: Vec<&str> = critical.iter().map(String::as_str).collect();
    ids.push(&low);
    let finished = app.all_finished(&ids).await;
    let started = |t: &Value| t["started_at"].as_str().unwrap().to_owned();
    let low_started = started(finished.last().unwrap());
    for task in &finished[..critical.len()] {
        assert!(low_started < started(task), "low {low_started} vs {task}");
    }
    app.stop().await;
}

/// What the hook that partition tests' agents call saw of each task: how many attempts reached
/// it, and whether one began while another of the same task was still running.
#[derive(Default)]
struct Runs {
    started: std::collections::HashMap<i64, usize>,
    running: std::collections::HashMap<i64, usize>,
    overlapped: Vec<i64>,
}

/// An HTTP hook whose every call takes 200 ms, recording each task's attempts by its `n`.
async fn counting_hook() -> (
    String,
    Arc<std::sync::Mutex<Runs>>,
    actix_web::dev::ServerHandle,
) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let runs = Arc::new(std::sync::Mutex::new(Runs::default()));
    let seen = runs.clone();
    let server = HttpServer::new(move || {
        let seen = seen.clone();
        App::new().route(
            "/run",
            web::post().to(move |body: web::Json<Value>| {
                let seen = seen.clone();
                async move {
                    let n = body["n"].as_i64().unwrap_or(-1);
                    {
                        let mut runs = seen.lock().unwrap();
                        *runs.started.entry(n).or_default() += 1;
                        let running = runs.running.entry(n).or_default();
                        *running += 1;
                        if *running > 1 {
                            runs.overlapped.push(n);
                        }
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    *seen.lock().unwrap().running.entry(n).or_default() -= 1;
                    HttpResponse::Ok().json(json!({"n": n}))
                }
            }),
        )
    })
    .workers(2)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/run", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (url, runs, handle)
}

/// `hive serve` as node `id`, on the database and Redis at the given URLs, allowed to call the
/// hooks on loopback.
fn node_on(dir: &Path, s: &Services, id: &str, database_url: &str, redis_url: &str) -> Server {
    let config = dir.join("hive.toml");
    std::fs::write(&config, CLUSTER_CONFIG).unwrap();
    let flags: Vec<std::ffi::OsString> = vec![
        "--config".into(),
        config.into(),
        "--database-url".into(),
        database_url.into(),
        "--redis-url".into(),
        redis_url.into(),
        "--redis-prefix".into(),
        s.redis.prefix.clone().into(),
        "--node-id".into(),
        id.into(),
        "--allow-http".into(),
        "127.0.0.1".into(),
    ];
    let flags: Vec<&std::ffi::OsStr> = flags.iter().map(|f| f.as_os_str()).collect();
    let server = start_with(dir, &flags);
    server.wait_for_line("ready on ");
    server
}

/// The same URL with its host and port replaced by `addr` (a relay's).
fn through(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, rest) = match rest.split_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), rest),
    };
    let tail = rest.find('/').map_or("", |i| &rest[i..]);
    format!("{scheme}://{userinfo}{addr}{tail}")
}

/// Two nodes under a steady load of 200 ms tasks; n1 loses Redis, PostgreSQL or both for twice
/// the lease (the link stalled or cut), then gets them back. Every task ends, and no task ever
/// runs on two nodes at once. Cut off from Redis alone, n1 keeps its lease and its work: no task
/// runs twice at all. Cut off from PostgreSQL, n1 stops its attempts before its lease runs out
/// and n2 takes them over: only those few run again, after n1 stopped them.
async fn partition(test: &str, redis: bool, database: bool, how: Link) {
    let Some(s) = services(test).await else {
        return;
    };
    let (hook, runs, hook_server) = counting_hook().await;
    let redis_link = Cut::to(&s.redis.url).await;
    let database_link = Cut::to(
        s.schema
            .url
            .split_once('@')
            .unwrap()
            .1
            .split('/')
            .next()
            .unwrap(),
    )
    .await;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let n1 = node_on(
        d1.path(),
        &s,
        "n1",
        &through(&s.schema.url, database_link.addr),
        &redis_link.url(),
    );
    let n2 = node_on(d2.path(), &s, "n2", &s.schema.url, &s.redis.url);
    let (a1, a2) = (n1.app(), n2.app());
    for app in [&a1, &a2] {
        let created = app
            .post(
                "/api/v1/agents/batch",
                &json!({"count": 2, "template": {"role": "hook", "executor": {"kind": "http", "url": hook}}}),
            )
            .await;
        let status = created.status();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            created.text().await.unwrap()
        );
    }

    let submit = |app: TestApp, from: i64, count: i64| async move {
        let mut ids = Vec::new();
        for n in from..from + count {
            let response = app
                .post(
                    "/api/v1/tasks",
                    &json!({"role": "hook", "input": {"n": n}, "max_retries": 10}),
                )
                .await;
            if response.status() == StatusCode::ACCEPTED {
                let task: Value = response.json().await.unwrap();
                ids.push(task["id"].as_str().unwrap().to_owned());
            }
            // The load's pace, not a wait for anything.
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        }
        ids
    };
    let mut ids = Vec::new();
    // Before: both nodes take submissions and run work.
    ids.extend(submit(remote(&a1.base), 0, 20).await);
    let outage = std::time::Duration::from_millis(6000);
    let links: Vec<&Cut> = [(redis, &redis_link), (database, &database_link)]
        .into_iter()
        .filter(|(cut, _)| *cut)
        .map(|(_, link)| link)
        .collect();
    for link in &links {
        match how {
            Link::Stalled => link.stall(),
            _ => link.set(false),
        }
    }
    // During: the load goes to both nodes (150 tasks each at 40 ms is the outage's length);
    // what n1 accepts while cut off from Redis it holds and runs itself.
    let (to_n1, to_n2) = tokio::join!(
        submit(remote(&a1.base), 1000, 150),
        submit(remote(&a2.base), 5000, 150)
    );
    ids.extend(to_n1);
    ids.extend(to_n2);
    let _ = outage;
    for link in &links {
        link.set(true);
    }
    ids.extend(submit(remote(&a2.base), 2000, 20).await);

    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    for task in a2.all_finished(&ids).await {
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    check_runs(&runs.lock().unwrap(), database);
    drop((n1, n2));
    hook_server.stop(false).await;
}

/// No task ran on two nodes at once; only a node that lost the database ran any twice, and only
/// those its agents had under way.
fn check_runs(runs: &Runs, database: bool) {
    assert!(
        runs.overlapped.is_empty(),
        "tasks ran on two nodes at once: {:?}",
        runs.overlapped
    );
    let twice: Vec<(&i64, &usize)> = runs.started.iter().filter(|(_, c)| **c > 1).collect();
    if database {
        // At most the attempts n1's two agents had running when it lost the database.
        assert!(twice.len() <= 2, "ran again: {twice:?}");
    } else {
        assert!(
            twice.is_empty(),
            "ran twice although n1 kept its lease: {twice:?}"
        );
    }
}

#[actix_rt::test]
async fn a_node_cut_off_from_redis_keeps_its_work_and_nothing_runs_twice() {
    partition("partition_redis_cut", true, false, Link::Cut).await;
}

#[actix_rt::test]
async fn a_node_whose_redis_stalls_keeps_its_work_and_nothing_runs_twice() {
    partition("partition_redis_stall", true, false, Link::Stalled).await;
}

#[actix_rt::test]
async fn a_node_cut_off_from_its_database_stops_before_its_work_is_taken_over() {
    partition("partition_database_cut", false, true, Link::Cut).await;
}

#[actix_rt::test]
async fn a_node_whose_database_stalls_stops_before_its_work_is_taken_over() {
    partition("partition_database_stall", false, true, Link::Stalled).await;
}

#[actix_rt::test]
async fn a_node_cut_off_from_both_stops_before_its_work_is_taken_over() {
    partition("partition_full_cut", true, true, Link::Cut).await;
}

#[actix_rt::test]
async fn a_node_whose_links_both_stall_stops_before_its_work_is_taken_over() {
    partition("partition_full_stall", true, true, Link::Stalled).await;
}

/// A task addressed to an agent runs on that agent's node, whichever node it was submitted to;
/// the agent's state lives in the shared database and reads the same from every node.
#[actix_rt::test]
async fn an_addressed_task_submitted_anywhere_runs_on_its_agents_node() {
    let Some(s) = services("an_addressed_task_submitted_anywhere_runs_on_its_agents_node").await
    else {
        return;
    };
    let redis_url = std::env::var("HIVE_TEST_REDIS_URL").unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(dir_a.path(), &s, "node-a", &redis_url);
    let b = node(dir_b.path(), &s, "node-b", &redis_url);
    let (app_a, app_b) = (a.app(), b.app());
    // Both nodes have an agent of the role: only the addressed one may run the tasks.
    agents(&app_a, "counter", 1).await;
    let on_b = agents(&app_b, "counter", 1).await.remove(0);
    let mut ids = Vec::new();
    for _ in 0..10 {
        let task = app_a
            .submit(json!({"agent": on_b, "input": {"op": "count"}}))
            .await;
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let tasks = app_a.all_finished(&refs).await;
    for (n, task) in tasks.iter().enumerate() {
        assert_eq!(task["status"], "succeeded", "{task}");
        assert_eq!(task["agent_id"], on_b.as_str(), "{task}");
        assert_eq!(task["node"], "node-b", "{task}");
        assert_eq!(task["result"], json!({"count": n + 1}), "{task}");
    }
    let from_a = app_a.json(&format!("/api/v1/agents/{on_b}")).await;
    assert_eq!(from_a["state"], json!({"count": 10}));
    assert_eq!(from_a["node"], "node-b");
    let unknown = app_a
        .post(
            "/api/v1/tasks",
            &json!({"agent": "no-such-agent", "input": {"op": "count"}}),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["field"], "agent");
}

/// Agents that cooperate across nodes: a message on a topic reaches every node's subscribers,
/// each once; a task waiting on one node's work is released when that work ends on another
/// node, and runs where its role's agents are; a change of settings reaches every node.
#[actix_rt::test]
async fn a_topic_reaches_every_nodes_subscribers_once_dependencies_and_settings_cross_nodes() {
    let Some(s) = services("a_topic_reaches_every_nodes_subscribers_once").await else {
        return;
    };
    let redis_url = std::env::var("HIVE_TEST_REDIS_URL").unwrap();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Server> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| node(dir.path(), &s, &format!("node-{i}"), &redis_url))
        .collect();
    let apps: Vec<TestApp> = nodes.iter().map(Server::app).collect();
    let mut subscribers = std::collections::BTreeMap::new();
    for (i, app) in apps.iter().enumerate() {
        let response = app
            .post(
                "/api/v1/agents/batch",
                &json!({"count": 2, "template": {"role": "listener", "topics": ["news"]}}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        for id in body["ids"].as_array().unwrap() {
            subscribers.insert(id.as_str().unwrap().to_owned(), format!("node-{i}"));
        }
    }
    let listed = apps[2].json("/api/v1/topics").await;
    assert_eq!(
        listed["items"],
        json!([{"topic": "news", "subscribers": 6}])
    );
    for round in 0..3 {
        let tasks =
            crate::topics::publish(&apps[round], "news", json!({"op": "echo", "value": round}))
                .await;
        assert_eq!(tasks.len(), 6);
        let refs: Vec<&str> = tasks.iter().map(String::as_str).collect();
        let done = apps[(round + 1) % 3].all_finished(&refs).await;
        let mut reached = std::collections::BTreeMap::new();
        for task in &done {
            assert_eq!(task["status"], "succeeded", "{task}");
            let agent = task["agent_id"].as_str().unwrap().to_owned();
            assert_eq!(
                task["node"].as_str(),
                subscribers.get(&agent).map(String::as_str)
            );
            *reached.entry(agent).or_insert(0) += 1;
        }
        assert_eq!(reached.len(), 6, "every subscriber, on every node");
        assert!(reached.values().all(|n| *n == 1), "each once: {reached:?}");
    }

    agents(&apps[2], "first", 1).await;
    let then_agent = agents(&apps[0], "then", 1).await.remove(0);
    let first = apps[1]
        .submit(json!({"role": "first", "input": {"op": "echo", "value": "from node-2"}}))
        .await;
    let first = first["id"].as_str().unwrap().to_owned();
    let then = apps[1]
        .submit(json!({"role": "then", "input": {"op": "collect"}, "depends_on": [first]}))
        .await;
    let then = apps[1].finished(then["id"].as_str().unwrap()).await;
    assert_eq!(then["status"], "succeeded", "{then}");
    assert_eq!(then["node"], "node-0");
    assert_eq!(then["result"], json!({ first.clone(): "from node-2" }));
    assert_eq!(apps[0].task(&first).await["node"], "node-2");
    // Addressed to node-0's agent, submitted to node-1, released by node-2's commit.
    let second = apps[2]
        .submit(json!({"role": "first", "input": {"op": "echo", "value": 2}}))
        .await;
    let second = second["id"].as_str().unwrap().to_owned();
    let addressed = apps[1]
        .submit(json!({"agent": then_agent, "input": {"op": "collect"}, "depends_on": [second]}))
        .await;
    let addressed = apps[1].finished(addressed["id"].as_str().unwrap()).await;
    assert_eq!(addressed["status"], "succeeded", "{addressed}");
    assert_eq!(addressed["agent_id"], then_agent.as_str());
    assert_eq!(addressed["node"], "node-0");
    assert_eq!(addressed["result"], json!({ second.clone(): 2 }));

    // A change of the live settings on one node reaches the others.
    let mut on_1 = apps[1].events_with("?kinds=config.").await;
    let changed = crate::config::patch(&apps[0], &json!({"slo": {"high_ms": 321}})).await;
    assert_eq!(changed.status(), StatusCode::OK);
    on_1.until(|kind, data| {
        kind == "config.changed" && data["node"] == "node-1" && data["version"] == 1
    })
    .await;
    let seen = apps[1].json("/api/v1/config").await;
    assert_eq!(seen["version"], 1);
    assert_eq!(seen["settings"]["slo"]["high_ms"], 321);
}
