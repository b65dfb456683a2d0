//! The `hive` binary as operators run it: crash recovery after SIGKILL, graceful SIGTERM, and the
//! command line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::json;

use crate::helpers::{remote, TestApp, PATIENCE};

struct Server {
    child: Child,
    base: String,
    log: mpsc::Receiver<String>,
}

/// Start `hive serve` on a free port and wait for its `listening on` line.
fn serve(data_dir: &Path) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("hive starts");
    // Owned at once, so that a failing test never leaves a server running.
    let mut server = Server {
        child,
        base: String::new(),
        log: mpsc::channel().1,
    };
    let stderr = server.child.stderr.take().expect("piped stderr");
    let (tx, log) = mpsc::channel();
    server.log = log;
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    server.base = format!("http://{}", server.wait_for_line("listening on "));
    server.wait_for_line("ready on ");
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
    fn wait_for_line(&self, marker: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("the server logs {marker:?}"));
            if let Some(rest) = line.split(marker).nth(1) {
                return rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        }
    }

    fn app(&self) -> TestApp {
        remote(&self.base)
    }
}

#[actix_rt::test]
async fn every_accepted_task_survives_sigkill_and_runs_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    let app = server.app();
    app.post(
        "/api/v1/agents/batch",
        &json!({"count": 2, "template": {"role": "worker"}}),
    )
    .await;
    let mut accepted = Vec::new();
    for i in 0..60 {
        let t = app
            .submit(json!({"role": "worker", "input": {"op": "sleep", "ms": 20 + i % 3}}))
            .await;
        accepted.push(t["id"].as_str().unwrap().to_owned());
    }
    // Some tasks are running, most are queued: kill the process without any chance to clean up.
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    drop(server);

    let server = serve(dir.path());
    let app = server.app();
    for id in &accepted {
        let task = app.finished(id).await;
        assert_eq!(task["status"], "succeeded", "{task}");
        // An attempt interrupted by the kill counts; nothing runs more than that once extra.
        assert!(task["attempts"].as_u64().unwrap() <= 2, "{task}");
    }
    let agents = app.json("/api/v1/agents").await;
    assert_eq!(
        agents["items"].as_array().unwrap().len(),
        2,
        "agents are kept across restarts"
    );
    stop(server);
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
