//! The `hive` binary as operators run it: crash recovery after SIGKILL, graceful SIGTERM, and the
//! command line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::json;

use crate::helpers::{remote, TestApp, PATIENCE};
use crate::postgres_schema;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) log: mpsc::Receiver<String>,
}

/// Start `hive serve` on a free port and wait until it is ready.
fn serve(data_dir: &Path) -> Server {
    serve_on(data_dir, None)
}

/// Like [`serve`], on the database at `database_url` if one is given.
fn serve_on(data_dir: &Path, database_url: Option<&str>) -> Server {
    let server = start(data_dir, database_url);
    server.wait_for_line("ready on ");
    server
}

/// Start `hive serve` and wait only for its listener.
fn start(data_dir: &Path, database_url: Option<&str>) -> Server {
    match database_url {
        Some(url) => start_with(data_dir, &["--database-url".as_ref(), url.as_ref()]),
        None => start_with(data_dir, &[]),
    }
}

/// Start `hive serve` on a free loopback port with `flags` of its own.
pub(crate) fn start_with(data_dir: &Path, flags: &[&std::ffi::OsStr]) -> Server {
    start_at("127.0.0.1:0", data_dir, flags, &[])
}

/// Start `hive serve` listening on `addr`, with `flags` and the variables `env` of its own.
fn start_at(
    addr: &str,
    data_dir: &Path,
    flags: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hive"));
    command
        .args(["serve", "--addr", addr, "--data-dir"])
        .arg(data_dir)
        .args(flags)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped());
    let child = command.spawn().expect("hive starts");
    // Owned at once, so that a failing test never leaves a server running.
    let mut server = Server {
        child,
        base: String::new(),
        log: mpsc::channel().1,
    };
    let stderr = server.child.stderr.take().expect("piped stderr");
    let addr = data_dir.display().to_string();
    let (tx, log) = mpsc::channel();
    server.log = log;
    // HIVE_TEST_ECHO=1 shows every server's log, for a test being looked into.
    let echo = std::env::var_os("HIVE_TEST_ECHO").is_some();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if echo {
                eprintln!("[{addr}] {line}");
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    server.base = format!("http://{}", server.wait_for_line("listening on "));
    server
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Wait for a log line containing `marker`; answers the word after it.
    pub(crate) fn wait_for_line(&self, marker: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("the server logs {marker:?}"));
            // The word ends at a space, or at the quote that closes a JSON log line's message.
            if let Some(rest) = line.split(marker).nth(1) {
                return rest
                    .split(|c: char| c.is_whitespace() || c == '"')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        }
    }

    pub(crate) fn app(&self) -> TestApp {
        remote(&self.base)
    }
}

/// Tasks accepted before the kill: `echo` (max 3 retries) and `fail` (max 2 retries).
const IN_FLIGHT: usize = 300;

/// Submit from 16 clients at once and SIGKILL the server once `IN_FLIGHT` tasks were accepted,
/// with submissions, dispatches and commits still under way. After a restart on the same
/// database every accepted task must end exactly as the retry rules say.
async fn every_accepted_task_survives_sigkill_mid_load(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve_on(dir.path(), database_url);
    let app = server.app();
    app.post(
        "/api/v1/agents/batch",
        &json!({"count": 4, "template": {"role": "worker"}}),
    )
    .await;
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::unbounded_channel();
    let clients: Vec<_> = (0..16)
        .map(|client| {
            let (app, accepted) = (remote(&server.base), accepted_tx.clone());
            actix_rt::spawn(async move {
                for i in 0.. {
                    let n = client * 1_000 + i;
                    let input = if n % 4 == 0 {
                        json!({"op": "fail", "error": "boom"})
                    } else {
                        json!({"op": "echo", "value": n})
                    };
                    let body = json!({"role": "worker", "input": input, "max_retries": if n % 4 == 0 { 2 } else { 3 }});
                    let Ok(response) = app.client.post(app.url("/api/v1/tasks")).json(&body).send().await else {
                        return; // the server is gone
                    };
                    if response.status() != reqwest::StatusCode::ACCEPTED {
                        continue;
                    }
                    let Ok(task) = response.json::<serde_json::Value>().await else {
                        return;
                    };
                    if accepted.send((task["id"].as_str().unwrap().to_owned(), n)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(accepted_tx);
    let mut accepted = Vec::new();
    while accepted.len() < IN_FLIGHT {
        accepted.push(accepted_rx.recv().await.expect("clients keep submitting"));
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    // Answers that were on their way when the process died were accepted too.
    while let Some(more) = accepted_rx.recv().await {
        accepted.push(more);
    }
    for client in clients {
        let _ = client.await;
    }
    drop(server);

    let server = serve_on(dir.path(), database_url);
    let app = server.app();
    let ids: Vec<&str> = accepted.iter().map(|(id, _)| id.as_str()).collect();
    let finished = app.all_finished(&ids).await;
    for ((id, n), task) in accepted.iter().zip(finished) {
        let attempts = task["attempts"].as_u64().unwrap();
        let error = task["error"].as_str().unwrap_or_default();
        if n % 4 == 0 {
            // Three attempts in all; the last fails with the op's error, or was the one the
            // kill interrupted, which counts and leaves the task dead.
            assert_eq!(attempts, 3, "{task}");
            let as_the_rules_say = (task["status"] == "failed" && error == "boom")
                || (task["status"] == "dead" && error.starts_with("interrupted"));
            assert!(as_the_rules_say, "{task}");
        } else {
            assert_eq!(task["status"], "succeeded", "{task}");
            assert_eq!(task["result"], json!(n));
            // At most one attempt was interrupted by the kill.
            assert!((1..=2).contains(&attempts), "{task}");
        }
        // The history was committed with each state: one `started` per attempt counted.
        let history = app.json(&format!("/api/v1/tasks/{id}/events")).await;
        let started = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "started")
            .count() as u64;
        assert_eq!(started, attempts, "{history}");
    }
    let agents = app.json("/api/v1/agents").await;
    assert_eq!(
        agents["items"].as_array().unwrap().len(),
        4,
        "agents are kept across restarts"
    );
    stop(server);
}

#[actix_rt::test]
async fn every_accepted_task_survives_sigkill_mid_load_on_sqlite() {
    every_accepted_task_survives_sigkill_mid_load(None).await;
}

#[actix_rt::test]
async fn every_accepted_task_survives_sigkill_mid_load_on_postgres() {
    let Some(schema) = postgres_schema::schema("sigkill_on_postgres").await else {
        return;
    };
    every_accepted_task_survives_sigkill_mid_load(Some(&schema.url)).await;
}

/// A server whose start-up waits: another connection, returned, holds the database's lock, so
/// the server's migrations wait until that connection commits.
fn start_behind_a_lock(data_dir: &Path) -> (diesel::SqliteConnection, Server) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    let db = data_dir.join("hive.db");
    let mut holder = diesel::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    holder.batch_execute("BEGIN EXCLUSIVE").unwrap();
    (holder, start(data_dir, None))
}

#[actix_rt::test]
async fn the_api_answers_503_while_migrations_wait_and_serves_once_they_ran() {
    use diesel::connection::SimpleConnection;

    let dir = tempfile::tempdir().unwrap();
    let (mut holder, server) = start_behind_a_lock(dir.path());
    let app = server.app();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["failing"][0], "migrating", "{body}");
    assert_eq!(app.get("/livez").await.status(), reqwest::StatusCode::OK);
    let api = app.get("/api/v1/tasks").await;
    assert_eq!(api.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = api.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let problem: serde_json::Value = api.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("migrations"),
        "{problem}"
    );

    holder.batch_execute("COMMIT").unwrap();
    server.wait_for_line("ready on ");
    assert_eq!(app.get("/readyz").await.status(), reqwest::StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/tasks").await.status(),
        reqwest::StatusCode::OK
    );
    stop(server);
}

/// A SIGTERM while the server is still starting (its migrations waiting on another process's
/// lock) stops it cleanly, as one while it serves does, rather than by the signal's default
/// action or only once start-up is over.
#[actix_rt::test]
async fn sigterm_during_start_up_stops_the_server_cleanly() {
    use diesel::connection::SimpleConnection;

    let dir = tempfile::tempdir().unwrap();
    let (mut holder, server) = start_behind_a_lock(dir.path());
    let ready = server.app().get("/readyz").await;
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let log = stop(server);
    assert!(log.contains("before the server was ready"), "{log}");
    holder.batch_execute("COMMIT").unwrap();
}

fn stop(mut server: Server) -> String {
    let pid = server.child.id() as libc::pid_t;
    // SAFETY: sending a signal to a child process this test started and still owns.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = server.child.wait().expect("server exits");
    assert!(status.success(), "exit after SIGTERM: {status}");
    let mut log = String::new();
    while let Ok(line) = server.log.recv_timeout(std::time::Duration::from_secs(5)) {
        log.push_str(&line);
        log.push('\n');
    }
    log
}

#[actix_rt::test]
async fn sigterm_lets_running_tasks_finish_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let app = server.app();
    app.worker().await;
    let mut events = app.events().await;
    let task = app
        .submit(json!({"role": "worker", "input": {"op": "sleep", "ms": 300}}))
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    events
        .until(|kind, data| kind == "task.started" && data["id"] == id.as_str())
        .await;
    let log = stop(server);
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );

    let server = serve(dir.path());
    let task = server.app().task(&id).await;
    assert_eq!(
        task["status"], "succeeded",
        "the running task finished before the exit"
    );
    stop(server);
}

/// One mechanism for every setting: the file overrides the defaults, a `HIVE_<PATH>` variable
/// (nested levels joined by `__`) overrides the file, a flag overrides its variable, and a
/// `HIVE_*` variable that names no setting is not an error.
#[actix_rt::test]
async fn settings_come_from_defaults_then_the_file_then_the_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hive.toml");
    std::fs::write(&file, "[mailbox]\nagent = 5\nlifecycle = 300\n").unwrap();
    let env = [
        ("HIVE_MAILBOX__LIFECYCLE", "400"),
        ("HIVE_MAILBOX__COMMUNICATION", "123"),
        ("HIVE_RATE_LIMIT", "5"),
        ("HIVE_NOT_A_SETTING", "1"),
    ];
    let flags = [
        "--config".as_ref(),
        file.as_os_str(),
        "--rate-limit".as_ref(),
        "0".as_ref(),
    ];
    let server = start_at("127.0.0.1:0", dir.path(), &flags, &env);
    server.wait_for_line("ready on ");
    let app = server.app();
    let status: serde_json::Value = app.get("/api/v1/system/status").await.json().await.unwrap();
    let capacity = |kind: &str| {
        status["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["kind"] == kind)
            .map(|m| m["capacity"].clone())
    };
    assert_eq!(capacity("agent"), Some(json!(5)), "from the file");
    assert_eq!(
        capacity("lifecycle"),
        Some(json!(400)),
        "the variable over the file"
    );
    assert_eq!(
        capacity("communication"),
        Some(json!(123)),
        "from the variable"
    );
    assert_eq!(capacity("store"), Some(json!(8192)), "the default");
    // The flag turned the rate limit off, over HIVE_RATE_LIMIT=5: a burst of 20 is served.
    for _ in 0..20 {
        assert_eq!(app.get("/api/v1/system/status").await.status(), 200);
    }
}

/// With `--log-format json` every line is one JSON object, and a line written while an attempt
/// ran carries the attempt's span: the task's id, the agent's and the attempt's number. A panic
/// in the task is such a line.
#[actix_rt::test]
async fn json_logs_carry_the_task_agent_and_attempt_of_every_line_an_attempt_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), &["--log-format".as_ref(), "json".as_ref()]);
    server.wait_for_line("ready on ");
    let app = server.app();
    let agent = app.worker().await;
    let mut events = app.events().await;
    let task = app
        .submit(json!({"role": "worker", "input": {"op": "panic"}, "max_retries": 0}))
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    events
        .until(|kind, data| kind == "task.dead" && data["id"] == id.as_str())
        .await;
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = server
            .log
            .recv_timeout(left)
            .expect("a log line of the attempt's panic");
        let line: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?} is JSON: {e}"));
        let Some(attempt) = line["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["name"] == "attempt"))
        else {
            continue;
        };
        if line["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("panic"))
        {
            assert_eq!(attempt["task_id"], id.as_str(), "{line}");
            assert_eq!(attempt["agent_id"], agent.as_str(), "{line}");
            assert_eq!(attempt["attempt"], 1, "{line}");
            break;
        }
    }
}

/// A crash that no supervisor can absorb climbs the tree: the pool gives up, then the lifecycle
/// supervisor, then the root, and the server stops with the reason and a non-zero exit rather
/// than serving without agents.
#[actix_rt::test]
async fn a_failure_that_reaches_the_root_stops_the_server_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hive.toml");
    std::fs::write(
        &config,
        "pool_max_restarts = 0\nlifecycle_max_restarts = 0\nroot_max_restarts = 0\n",
    )
    .unwrap();
    let mut server = start_with(dir.path(), &["--config".as_ref(), config.as_os_str()]);
    server.wait_for_line("ready on ");
    let app = server.app();
    app.worker().await;
    app.submit(json!({"role": "worker", "input": {"op": "panic"}, "max_retries": 0}))
        .await;

    // Its last log line comes just before the exit: waiting for it bounds the wait.
    let mut log = String::new();
    while !log.contains("the supervision tree stopped") {
        let line = server
            .log
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("the server logs that the tree stopped:\n{log}"));
        log.push_str(&line);
        log.push('\n');
    }
    let status = server.child.wait().expect("the server exits by itself");
    assert!(!status.success(), "exit status: {status}");
    while let Ok(line) = server.log.recv_timeout(std::time::Duration::from_secs(5)) {
        log.push_str(&line);
        log.push('\n');
    }
    for gave_up in [
        "supervisor=pool:worker",
        "supervisor=lifecycle",
        "supervisor=root",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("supervisor gave up") && l.contains(gave_up)),
            "{gave_up} gave up:\n{log}"
        );
    }
    assert!(
        log.contains("the supervision tree stopped")
            && log.contains("root exceeded 0 restarts")
            && log.contains("task asked its agent to panic"),
        "the last line names the chain of reasons:\n{log}"
    );
}

/// `hive token …` as a script runs it: the secret alone on stdout.
fn token_command(args: &[&str], data_dir: &Path) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_hive"))
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "hive token {args:?}: {output:?}");
    output
}

#[actix_rt::test]
async fn tokens_from_the_command_line_guard_the_api_and_allow_a_non_loopback_bind() {
    let dir = tempfile::tempdir().unwrap();
    let hive = env!("CARGO_BIN_EXE_hive");
    let refused = Command::new(hive)
        .args(["serve", "--addr", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refusing to serve 0.0.0.0"), "{stderr}");

    let created = token_command(
        &["create", "--role", "operator", "--name", "ci"],
        dir.path(),
    );
    let stdout = String::from_utf8(created.stdout).unwrap();
    let secret = stdout.trim_end_matches('\n');
    assert!(
        secret.starts_with("hive_") && !secret.contains(char::is_whitespace),
        "only the secret on stdout: {stdout:?}"
    );
    let listed = String::from_utf8(token_command(&["list"], dir.path()).stdout).unwrap();
    let line = listed.lines().next().expect("one token listed");
    let id = line.split('\t').next().unwrap().to_owned();
    assert!(
        line.contains("\toperator\t") && line.ends_with("\tci"),
        "{line}"
    );
    assert!(!listed.contains(secret), "listings never show a secret");

    let server = start_at("0.0.0.0:0", dir.path(), &[], &[]);
    server.wait_for_line("ready on ");
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let app = crate::helpers::remote(&format!("http://127.0.0.1:{port}"));
    assert_eq!(app.get("/api/v1/tasks").await.status(), 401);
    let operator = app.with_token(secret);
    assert_eq!(operator.get("/api/v1/tasks").await.status(), 200);
    let agent = operator.post("/api/v1/agents", &json!({"role": "w"})).await;
    assert_eq!(agent.status(), 403, "an operator cannot create agents");
    drop(server);

    token_command(&["revoke", &id], dir.path());
    let server = serve(dir.path());
    let after = server.app().with_token(secret).get("/api/v1/tasks").await;
    assert_eq!(after.status(), 401, "a revoked token opens nothing");
}

#[test]
fn the_command_line_names_its_commands_and_migrates() {
    let hive = env!("CARGO_BIN_EXE_hive");
    let help = Command::new(hive).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("serve") && help.contains("migrate"), "{help}");
    let version = Command::new(hive).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("hive "));
    let dir = tempfile::tempdir().unwrap();
    let migrated = Command::new(hive)
        .arg("migrate")
        .env("HIVE_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(dir.path().join("hive.db").exists());
    let bad = Command::new(hive)
        .args(["migrate", "--database-url", "mysql://hive:pw@db/hive"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("unsupported database URL"), "{said}");
    assert!(
        !said.contains("pw@"),
        "the password stays out of the log: {said}"
    );
    // Nothing listens on port 1: the error names the database and says why.
    let unreachable = Command::new(hive)
        .args([
            "migrate",
            "--database-url",
            "postgres://hive:pw@127.0.0.1:1/hive",
        ])
        .output()
        .unwrap();
    assert!(!unreachable.status.success());
    let said = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        said.contains("postgres://hive:***@127.0.0.1:1/hive"),
        "{said}"
    );
}

/// Wait until process `pid` has exited (or was already gone); `false` if it still runs after
/// [`PATIENCE`]. A pidfd turns readable at the exit: no polling of /proc.
pub(crate) fn exits(pid: libc::pid_t) -> bool {
    // SAFETY: pidfd_open(2) and poll(2) on a descriptor this function owns and closes.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as libc::c_int;
        if fd < 0 {
            return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        }
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ready = libc::poll(&mut poll, 1, PATIENCE.as_millis() as libc::c_int);
        libc::close(fd);
        ready == 1
    }
}

#[actix_rt::test]
async fn a_command_run_dies_with_a_server_killed_by_sigkill() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fifo = dir.path().join("pid.fifo");
    let fifo_c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a NUL-terminated path this test owns.
    assert_eq!(unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o600) }, 0);
    let program = bin.join("long-run");
    std::fs::write(
        &program,
        format!("#!/bin/sh\necho $$ > {}\nexec sleep 600\n", fifo.display()),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let mut server = start_with(&data, &["--allow-exec".as_ref(), program.as_os_str()]);
    server.wait_for_line("ready on ");
    let app = server.app();
    app.create_agent(json!({"role": "long", "executor": {"kind": "command", "program": program}}))
        .await;
    app.submit(json!({"role": "long", "input": {}, "timeout_ms": 600000}))
        .await;
    // The run announces its pid through the pipe: reading blocks until it has written.
    let pid: libc::pid_t = tokio::task::spawn_blocking(move || std::fs::read_to_string(fifo))
        .await
        .unwrap()
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(exits(pid), "the command run {pid} outlived its server");
}

/// A small tmpfs of this test's own, unmounted when dropped.
struct SmallVolume(tempfile::TempDir);

impl SmallVolume {
    /// `None`, after saying why, where this process may not mount (CI runs as root and may).
    fn mount(size: &str, test: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                !crate::postgres_schema::required(),
                "HIVE_TEST_REQUIRE_SERVICES=1 but a tmpfs cannot be mounted here"
            );
            eprintln!("SKIPPED {test}: mounting a tmpfs needs root");
            return None;
        }
        Some(Self(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for SmallVolume {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// Write to `path` until the volume has no room left.
fn fill(path: &Path) {
    use std::io::Write;
    let mut filler = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while filler
        .write_all(&chunk)
        .and_then(|()| filler.sync_data())
        .is_ok()
    {}
}

#[actix_rt::test]
async fn a_full_disk_refuses_new_work_with_507_keeps_what_it_accepted_and_carries_on_when_space_returns(
) {
    let test = "a_full_disk_refuses_new_work";
    let Some(volume) = SmallVolume::mount("24m", test) else {
        return;
    };
    let mut server = start_with(&volume.path().join("data"), &[]);
    server.wait_for_line("ready on ");
    // From here the server's log goes nowhere: every line it writes fails, as on a full volume.
    server.log = mpsc::channel().1;
    let app = server.app();
    app.worker().await;
    let mut events = app.events().await;
    let long = app
        .submit(json!({"role": "worker", "input": {"op": "sleep", "ms": 600000}}))
        .await;
    let long = long["id"].as_str().unwrap().to_owned();
    events
        .until(|kind, data| kind == "task.started" && data["id"] == long.as_str())
        .await;
    fill(&volume.path().join("filler"));
    // A state change while the disk is full waits for space instead of being lost; its caller
    // is not held past the answer bound.
    let cancel = app
        .client
        .post(app.url(&format!("/api/v1/tasks/{long}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(cancel.headers().contains_key("retry-after"));

    let padding = "x".repeat(60 * 1024);
    let mut accepted = Vec::new();
    let mut refusal = None;
    for n in 0..2000 {
        let response = app
            .post(
                "/api/v1/tasks",
                &json!({"role": "worker", "input": {"op": "echo", "value": [n, padding]}}),
            )
            .await;
        match response.status().as_u16() {
            202 => {
                let task: serde_json::Value = response.json().await.unwrap();
                accepted.push(task["id"].as_str().unwrap().to_owned());
            }
            507 => {
                refusal = Some(response);
                break;
            }
            other => panic!("submission {n}: {other} {}", response.text().await.unwrap()),
        }
    }
    let refusal = refusal.expect("a full disk refuses new tasks with 507");
    assert!(refusal.headers().contains_key("retry-after"));
    let problem: serde_json::Value = refusal.json().await.unwrap();
    assert_eq!(
        problem["type"], "urn:hive:problem:storage-full",
        "{problem}"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert!(
        ready["failing"]
            .as_array()
            .unwrap()
            .contains(&json!("storage")),
        "{ready}"
    );
    assert_eq!(app.metric("hive_store_storage_full").await, 1.0);

    std::fs::remove_file(volume.path().join("filler")).unwrap();
    events
        .until(|kind, data| kind == "store.storage" && data["full"] == false)
        .await;
    assert_eq!(app.task(&long).await["status"], "cancelled");
    // Everything accepted before or during the full disk runs to its end, without a restart.
    let ids: Vec<&str> = accepted.iter().map(String::as_str).collect();
    for task in app.all_finished(&ids).await {
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    assert!(app.get("/readyz").await.status().is_success());
    let after = app.run(json!({"op": "echo", "value": "after"})).await;
    assert_eq!(after["status"], "succeeded", "{after}");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server lives on with its log unwritable"
    );
}

#[actix_rt::test]
async fn a_restart_with_a_backlog_larger_than_a_node_holds_reads_it_a_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hive.toml");
    let with_limit = |limit: usize| {
        std::fs::write(&config, format!("max_queued_tasks = {limit}\n")).unwrap();
        start_with(dir.path(), &["--config".as_ref(), config.as_os_str()])
    };
    let server = with_limit(1000);
    server.wait_for_line("ready on ");
    let app = server.app();
    let mut ids = Vec::new();
    for n in 0..120 {
        let task = app
            .submit(json!({"role": "later", "input": {"op": "echo", "value": n}}))
            .await;
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    stop(server);

    // Restarted holding at most 50: the other 70 wait in the store and count against the bound.
    let server = with_limit(50);
    server.wait_for_line("ready on ");
    let app = server.app();
    assert_eq!(
        app.metric("hive_task_queue_depth{priority=\"normal\"}")
            .await,
        50.0
    );
    assert_eq!(app.metric("hive_task_backlog").await, 120.0);
    let refused = app
        .post("/api/v1/tasks", &json!({"role": "later", "input": {}}))
        .await;
    assert_eq!(refused.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);

    // Agents come: every task of the backlog runs, oldest first, and new work is taken again.
    app.post(
        "/api/v1/agents/batch",
        &json!({"count": 4, "template": {"role": "later"}}),
    )
    .await;
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    for task in app.all_finished(&ids).await {
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    let after = app
        .submit(json!({"role": "later", "input": {"op": "echo", "value": "after"}}))
        .await;
    assert_eq!(
        app.finished(after["id"].as_str().unwrap()).await["status"],
        "succeeded"
    );
    stop(server);
}

/// A process agent's program never outlives its server, however the server ends, and the
/// agent's state survives a SIGKILL: the agent starts again, with a new program, where the
/// last committed result left it.
#[actix_rt::test]
async fn process_agents_leave_no_orphan_and_their_state_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--allow-exec".as_ref(), "/usr/bin/python3".as_ref()];
    let mut server = start_with(dir.path(), &flags);
    server.wait_for_line("ready on ");
    let app = server.app();
    let agent = app.create_agent(crate::identity::process_agent("py")).await;
    let agent = agent["id"].as_str().unwrap().to_owned();
    let run = |app: TestApp, input: serde_json::Value| {
        let agent = agent.clone();
        async move {
            let task = app.submit(json!({"agent": agent, "input": input})).await;
            app.finished(task["id"].as_str().unwrap()).await
        }
    };
    let counted = run(app, json!({"op": "count_words", "text": "one two three"})).await;
    assert_eq!(counted["result"]["total"], 3);
    let pid = run(server.app(), json!({"op": "pid"})).await["result"]["pid"]
        .as_i64()
        .unwrap();

    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(
        crate::identity::gone(pid).await,
        "program {pid} outlived a SIGKILL"
    );

    let server = start_with(dir.path(), &flags);
    server.wait_for_line("ready on ");
    let counted = run(server.app(), json!({"op": "count_words", "text": "four"})).await;
    assert_eq!(counted["result"]["total"], 4, "{counted}");
    let pid = run(server.app(), json!({"op": "pid"})).await["result"]["pid"]
        .as_i64()
        .unwrap();
    stop(server);
    assert!(
        crate::identity::gone(pid).await,
        "program {pid} outlived a SIGTERM"
    );
}

#[actix_rt::test]
async fn waiting_tasks_survive_sigkill_and_run_once_their_dependencies_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with(dir.path(), &[]);
    server.wait_for_line("ready on ");
    let app = server.app();
    // No agent of role `later`: the first task stays queued, the graph behind it waits.
    let first = app
        .submit(json!({"role": "later", "input": {"op": "echo", "value": "first"}}))
        .await;
    let first = first["id"].as_str().unwrap().to_owned();
    let response = app
        .post(
            "/api/v1/tasks/batch",
            &json!({"tasks": [
                {"ref": "next", "role": "later", "input": {"op": "collect"}, "depends_on": [first]},
                {"ref": "last", "role": "later", "input": {"op": "collect"}, "depends_on": ["next"]},
            ]}),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let accepted: serde_json::Value = response.json().await.unwrap();
    let next = accepted["ids"]["next"].as_str().unwrap().to_owned();
    let last = accepted["ids"]["last"].as_str().unwrap().to_owned();

    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let server = start_with(dir.path(), &[]);
    server.wait_for_line("ready on ");
    let app = server.app();
    assert_eq!(app.task(&last).await["status"], "waiting");
    app.create_agent(json!({"role": "later"})).await;
    let ended = app.all_finished(&[&first, &next, &last]).await;
    assert_eq!(ended[1]["result"], json!({ first.clone(): "first" }));
    assert_eq!(
        ended[2]["result"],
        json!({ next.clone(): { first.clone(): "first" } })
    );
    stop(server);
}

#[actix_rt::test]
async fn live_settings_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with(dir.path(), &[]);
    server.wait_for_line("ready on ");
    let changed = crate::config::patch(&server.app(), &json!({"slo": {"low_ms": 12345}})).await;
    assert_eq!(changed.status(), reqwest::StatusCode::OK);
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let server = start_with(dir.path(), &[]);
    server.wait_for_line("ready on ");
    let kept = server.app().json("/api/v1/config").await;
    assert_eq!(kept["version"], 1);
    assert_eq!(kept["settings"]["slo"]["low_ms"], 12345);
    stop(server);
}
