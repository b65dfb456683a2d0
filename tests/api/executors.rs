//! Real work: `command` agents run allow-listed executables (a real process, never a shell of
//! the server's making), `http` agents call a real HTTP server.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_with, TestApp, PATIENCE};

const ALLOWED: [&str; 4] = ["/bin/echo", "/bin/sh", "/usr/bin/head", "/usr/bin/env"];

async fn with_commands() -> TestApp {
    spawn_with(|c| {
        c.allow_exec = ALLOWED.iter().map(PathBuf::from).collect();
        c.allow_http = vec!["127.0.0.0/8".into()];
        c.exec_output_bytes = 1000;
    })
    .await
}

/// A command agent for `program`, with a role of its own; answers (role, agent id).
async fn command_agent(app: &TestApp, program: &str) -> (String, String) {
    let role = program.rsplit('/').next().unwrap().to_owned();
    let agent = app
        .create_agent(json!({"role": role, "executor": {"kind": "command", "program": program}}))
        .await;
    (role, agent["id"].as_str().unwrap().to_owned())
}

async fn run_on(app: &TestApp, role: &str, task: Value) -> Value {
    let mut body = task;
    body["role"] = json!(role);
    let submitted = app.submit(body).await;
    app.finished(submitted["id"].as_str().unwrap()).await
}

#[actix_rt::test]
async fn a_command_agent_runs_its_program_with_args_stdin_and_a_cleared_environment() {
    let app = with_commands().await;
    let (echo, _) = command_agent(&app, "/bin/echo").await;
    let done = run_on(&app, &echo, json!({"input": {"args": ["hello", "hive"]}})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["result"],
        json!({"exit_code": 0, "stdout": "hello hive\n", "stderr": "", "truncated": false})
    );

    let (head, _) = command_agent(&app, "/usr/bin/head").await;
    let done = run_on(
        &app,
        &head,
        json!({"input": {"args": ["-c", "5"], "stdin": "stdin reached it"}}),
    )
    .await;
    assert_eq!(done["result"]["stdout"], "stdin");

    // Only the allow-listed variables (PATH, LANG) reach the program, whatever the server has.
    let (env, _) = command_agent(&app, "/usr/bin/env").await;
    let done = run_on(&app, &env, json!({"input": {}})).await;
    let names: Vec<&str> = done["result"]["stdout"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| l.split('=').next().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| ["PATH", "LANG"].contains(n)),
        "{names:?}"
    );

    // Input a command agent cannot take is refused at submission, naming the field; a task
    // never sets its program's environment.
    for (input, field) in [
        (json!({"args": "not a list"}), "input.args"),
        (
            json!({"args": [], "env": {"LD_PRELOAD": "/tmp/x.so"}}),
            "input.env",
        ),
        (json!({"stdin": 3}), "input.stdin"),
    ] {
        let problem = app
            .invalid("/api/v1/tasks", &json!({"role": echo, "input": input}))
            .await;
        assert_eq!(problem["field"], field, "{input}: {problem}");
    }
}

#[actix_rt::test]
async fn a_program_off_the_allow_list_is_refused_at_creation_naming_the_field() {
    let app = with_commands().await;
    for (path, body) in [
        (
            "/api/v1/agents",
            json!({"role": "ls", "executor": {"kind": "command", "program": "/bin/ls"}}),
        ),
        (
            "/api/v1/agents/batch",
            json!({"count": 2, "template": {"role": "ls", "executor": {"kind": "command", "program": "/bin/ls"}}}),
        ),
        (
            "/api/v1/agents",
            json!({"role": "rel", "executor": {"kind": "command", "program": "echo"}}),
        ),
    ] {
        let problem = app.invalid(path, &body).await;
        // serde buffers a tagged enum's fields, so a malformed path is named by its executor.
        let field = problem["field"].as_str().unwrap();
        assert!(
            field.ends_with("executor.program") || field == "executor",
            "{problem}"
        );
    }
    let agents = app.json("/api/v1/agents").await;
    assert_eq!(agents["items"], json!([]), "nothing was created");
}

#[actix_rt::test]
async fn output_past_the_cap_is_cut_with_a_marker_and_a_failing_program_reports_its_status() {
    let app = with_commands().await;
    let (head, _) = command_agent(&app, "/usr/bin/head").await;
    let done = run_on(
        &app,
        &head,
        json!({"input": {"args": ["-c", "300000", "/dev/zero"]}}),
    )
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["truncated"], true);
    assert_eq!(done["result"]["stdout"].as_str().unwrap().len(), 1000);

    let (sh, _) = command_agent(&app, "/bin/sh").await;
    let failed = run_on(
        &app,
        &sh,
        json!({"input": {"args": ["-c", "echo broken >&2; exit 3"]}, "max_retries": 2}),
    )
    .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        failed["attempts"], 1,
        "a program's own failure is not retried"
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("exited with status 3: broken"),
        "{failed}"
    );
}

/// Whether process `pid` is gone (or a zombie waiting for its parent).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[actix_rt::test]
async fn a_timeout_kills_the_whole_process_group_even_a_child_that_ignores_sigterm() {
    let app = with_commands().await;
    let (sh, agent) = command_agent(&app, "/bin/sh").await;
    // The shell ignores SIGTERM and leaves a grandchild; both must die when the attempt ends.
    let script = "trap '' TERM; sleep 300 & echo $$ $! > pids; wait";
    let done = run_on(
        &app,
        &sh,
        json!({"input": {"args": ["-c", script]}, "timeout_ms": 300, "max_retries": 0}),
    )
    .await;
    assert_eq!(done["status"], "dead", "{done}");
    assert!(
        done["error"].as_str().unwrap().contains("timed out"),
        "{done}"
    );
    let pids = std::fs::read_to_string(app.data_dir().join("agents").join(&agent).join("pids"))
        .expect("the script ran in its agent's working directory");
    let pids: Vec<&str> = pids.split_whitespace().collect();
    assert_eq!(pids.len(), 2);
    // The kill follows the timeout through the agent's mailbox; nothing announces the exit of
    // processes outside the server, so /proc is read until they are gone.
    let deadline = Instant::now() + PATIENCE;
    while !pids.iter().all(|p| gone(p)) {
        assert!(Instant::now() < deadline, "processes {pids:?} still run");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A real HTTP server for `http` agents: `/echo` answers what it got, `/down` answers 500.
async fn hook_server() -> (String, Arc<AtomicUsize>, actix_web::dev::ServerHandle) {
    let failures = Arc::new(AtomicUsize::new(0));
    let counted = failures.clone();
    let server = HttpServer::new(move || {
        let counted = counted.clone();
        App::new()
            .route(
                "/echo",
                web::post().to(|body: web::Json<Value>| async move {
                    HttpResponse::Ok().json(json!({"got": body.into_inner()}))
                }),
            )
            .route(
                "/down",
                web::post().to(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async { HttpResponse::InternalServerError().body("upstream is down") }
                }),
            )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (base, failures, handle)
}

#[actix_rt::test]
async fn an_http_agent_posts_its_input_and_retries_a_server_error() {
    let app = with_commands().await;
    let (base, failures, hooks) = hook_server().await;
    app.create_agent(
        json!({"role": "hook", "executor": {"kind": "http", "url": format!("{base}/echo")}}),
    )
    .await;
    let done = run_on(&app, "hook", json!({"input": {"n": 7}})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["result"],
        json!({"status": 200, "body": {"got": {"n": 7}}})
    );

    app.create_agent(
        json!({"role": "down", "executor": {"kind": "http", "url": format!("{base}/down")}}),
    )
    .await;
    let failed = run_on(&app, "down", json!({"input": {}, "max_retries": 1})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempts"], 2);
    assert_eq!(failures.load(Ordering::SeqCst), 2, "a 5xx is retried");
    assert!(
        failed["error"].as_str().unwrap().contains("500"),
        "{failed}"
    );

    let bad = app
        .post(
            "/api/v1/agents",
            &json!({"role": "x", "executor": {"kind": "http", "url": "ftp://example"}}),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    hooks.stop(true).await;
}

/// A directory of programs for one test, closed to other users as `allow_exec` requires.
fn program_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn write_program(path: &std::path::Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[actix_rt::test]
async fn what_runs_is_the_file_pinned_at_start_not_whatever_the_name_points_at_later() {
    let dir = program_dir();
    let link = dir.path().join("tool");
    std::os::unix::fs::symlink("/bin/echo", &link).unwrap();
    let script = dir.path().join("script");
    write_program(&script, "#!/bin/sh\necho \"script says $1\"\n", 0o755);
    let (link_s, script_s) = (link.clone(), script.clone());
    let app = spawn_with(move |c| c.allow_exec = vec![link_s, script_s]).await;
    let (tool, _) = command_agent(&app, link.to_str().unwrap()).await;
    let (scripted, _) = command_agent(&app, script.to_str().unwrap()).await;

    // After start the name is pointed at a shell and the script replaced: neither change runs.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/bin/sh", &link).unwrap();
    let replacement = dir.path().join("replacement");
    write_program(&replacement, "#!/bin/sh\necho replaced\n", 0o755);
    std::fs::rename(&replacement, &script).unwrap();

    let done = run_on(
        &app,
        &tool,
        json!({"input": {"args": ["-c", "echo shell"]}}),
    )
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["result"]["stdout"], "-c echo shell\n",
        "echo ran, not a shell"
    );
    let done = run_on(&app, &scripted, json!({"input": {"args": ["hi"]}})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["result"]["stdout"], "script says hi\n",
        "the pinned script ran"
    );

    // The resolved name is allowed too; a name never listed is not.
    let canonical = app
        .post(
            "/api/v1/agents",
            &json!({"role": "c", "executor": {"kind": "command", "program": "/usr/bin/echo"}}),
        )
        .await;
    let echo_is_usr_bin = std::fs::canonicalize("/bin/echo").unwrap() == *"/usr/bin/echo";
    assert_eq!(canonical.status().is_success(), echo_is_usr_bin);
}

#[actix_rt::test]
async fn an_allow_list_entry_that_is_missing_or_writable_by_others_stops_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = program_dir();
    let missing = dir.path().join("later");
    let writable = dir.path().join("writable");
    write_program(&writable, "#!/bin/sh\n", 0o777);
    let open_dir = dir.path().join("open");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let in_open_dir = open_dir.join("tool");
    write_program(&in_open_dir, "#!/bin/sh\n", 0o755);
    let not_executable = dir.path().join("data");
    write_program(&not_executable, "x", 0o644);
    for (entry, says) in [
        (&missing, "No such file"),
        (&writable, "can be written by other users"),
        (&in_open_dir, "can be written by other users"),
        (&not_executable, "not an executable"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut config = crate::helpers::test_config(&data);
        config.allow_exec = vec![entry.clone()];
        let error = match hive::app::Application::build(config).await {
            Ok(_) => panic!("{} was accepted", entry.display()),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains(says), "{}: {error}", entry.display());
        assert!(error.contains(entry.to_str().unwrap()), "{error}");
    }
}

/// A server for the destination tests: `/echo` answers what it got, `/redirect` sends the caller
/// to `target` with a 307, `/endless` streams an answer that never ends. Counts its requests.
async fn destination_server(
    target: String,
) -> (u16, Arc<AtomicUsize>, actix_web::dev::ServerHandle) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let server = HttpServer::new(move || {
        let (counted, target) = (counted.clone(), target.clone());
        App::new()
            .wrap_fn(move |req, srv| {
                counted.fetch_add(1, Ordering::SeqCst);
                actix_web::dev::Service::call(srv, req)
            })
            .route(
                "/echo",
                web::post().to(|body: web::Json<Value>| async move {
                    HttpResponse::Ok().json(json!({"got": body.into_inner()}))
                }),
            )
            .route(
                "/redirect",
                web::post().to(move || {
                    let target = target.clone();
                    async move {
                        HttpResponse::TemporaryRedirect()
                            .insert_header(("location", target))
                            .finish()
                    }
                }),
            )
            .route(
                "/endless",
                web::post().to(|| async {
                    let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
                    HttpResponse::Ok().streaming(futures::stream::repeat_with(move || {
                        Ok::<_, actix_web::Error>(chunk.clone())
                    }))
                }),
            )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (port, hits, handle)
}

#[actix_rt::test]
async fn an_http_agent_reaches_only_what_the_operator_allows_and_follows_no_redirect() {
    let (inner_port, inner_hits, inner) = destination_server(String::new()).await;
    let inner_url = format!("http://127.0.0.1:{inner_port}/echo");
    let (port, _, outer) = destination_server(inner_url.clone()).await;
    let app = spawn_with(move |c| {
        c.allow_http = vec![format!("127.0.0.1:{port}")];
        c.max_result_bytes = 256 * 1024;
    })
    .await;

    // Refused at creation, naming the field: another port, a name for the address, an internal
    // address nobody listed, credentials in the URL.
    for (path, body, field) in [
        (
            "/api/v1/agents",
            json!({"role": "x", "executor": {"kind": "http", "url": inner_url}}),
            "executor.url",
        ),
        (
            "/api/v1/agents",
            json!({"role": "x", "executor": {"kind": "http", "url": format!("http://localhost:{port}/echo")}}),
            "executor.url",
        ),
        (
            "/api/v1/agents",
            json!({"role": "x", "executor": {"kind": "http", "url": "http://169.254.169.254/latest/meta-data"}}),
            "executor.url",
        ),
        (
            "/api/v1/agents",
            json!({"role": "x", "executor": {"kind": "http", "url": format!("http://admin:secret@127.0.0.1:{port}/echo")}}),
            "executor.url",
        ),
        (
            "/api/v1/agents/batch",
            json!({"count": 1, "template": {"role": "x", "executor": {"kind": "http", "url": inner_url}}}),
            "template.executor.url",
        ),
    ] {
        let problem = app.invalid(path, &body).await;
        assert_eq!(problem["field"], field, "{problem}");
        assert!(!problem.to_string().contains("secret"), "{problem}");
    }
    let agents = app.json("/api/v1/agents").await;
    assert_eq!(agents["items"], json!([]), "nothing was created");

    let base = format!("http://127.0.0.1:{port}");
    for (role, route) in [
        ("echo", "echo"),
        ("redirect", "redirect"),
        ("endless", "endless"),
    ] {
        app.create_agent(
            json!({"role": role, "executor": {"kind": "http", "url": format!("{base}/{route}")}}),
        )
        .await;
    }
    let done = run_on(&app, "echo", json!({"input": {"n": 1}})).await;
    assert_eq!(
        done["result"],
        json!({"status": 200, "body": {"got": {"n": 1}}}),
        "{done}"
    );

    // A redirect to a destination off the list is an answer, not a hop.
    let redirected = run_on(&app, "redirect", json!({"input": {}, "max_retries": 0})).await;
    assert_eq!(redirected["status"], "failed", "{redirected}");
    assert!(
        redirected["error"].as_str().unwrap().contains("307"),
        "{redirected}"
    );
    assert_eq!(
        inner_hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );

    // An answer that never ends is cut at the result limit, not read whole.
    let endless = run_on(&app, "endless", json!({"input": {}, "max_retries": 0})).await;
    assert_eq!(endless["status"], "failed", "{endless}");
    assert!(
        endless["error"]
            .as_str()
            .unwrap()
            .contains("larger than max_result_bytes"),
        "{endless}"
    );
    inner.stop(true).await;
    outer.stop(true).await;
}

/// This machine's host name and the address it resolves to.
async fn own_host_name() -> (String, std::net::IpAddr) {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname(2) writes at most the given length into the buffer.
    assert_eq!(
        unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) },
        0
    );
    let end = buf.iter().position(|b| *b == 0).unwrap();
    let name = String::from_utf8(buf[..end].to_vec()).unwrap();
    let ip = tokio::net::lookup_host((name.as_str(), 0))
        .await
        .unwrap_or_else(|e| panic!("the host name {name} resolves: {e}"))
        .next()
        .unwrap()
        .ip();
    (name, ip)
}

#[actix_rt::test]
async fn a_listed_name_that_resolves_to_an_internal_address_needs_a_network_that_covers_it() {
    let (name, ip) = own_host_name().await;
    assert!(
        ip.is_loopback(),
        "{name} resolves to {ip}, not to a loopback address as in /etc/hosts"
    );
    let (port, hits, server) = destination_server(String::new()).await;
    let url = format!("http://{name}:{port}/echo");
    let listed = name.clone();
    let app = spawn_with(move |c| c.allow_http = vec![listed]).await;
    app.create_agent(json!({"role": "named", "executor": {"kind": "http", "url": url}}))
        .await;
    let refused = run_on(&app, "named", json!({"input": {}, "max_retries": 0})).await;
    assert_eq!(refused["status"], "failed", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("internal address"),
        "{refused}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection was made");

    let listed = name.clone();
    let app = spawn_with(move |c| c.allow_http = vec![listed, "127.0.0.0/8".into()]).await;
    app.create_agent(json!({"role": "named", "executor": {"kind": "http", "url": format!("http://{name}:{port}/echo")}}))
        .await;
    let done = run_on(&app, "named", json!({"input": {"n": 2}})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    server.stop(true).await;
}
