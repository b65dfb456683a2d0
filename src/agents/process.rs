//! The `process` executor: a program that lives as long as its agent. It is started when the
//! agent starts, from the operator's allow-list (the pinned file, as `command` runs it), in the
//! agent's own directory and process group, with an empty environment apart from `exec_env` and
//! the spec's `env`, never through a shell. Tasks go to it one at a time as JSON lines on stdin;
//! it answers on stdout (the protocol is in docs/agents.md). Its failures are its agent's: an
//! exit, a line that breaks the protocol, a timeout or a cancel ends the agent, and its
//! supervisor starts a new one with a new program.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use super::command::{in_child, isolated, ProcessGroup};
use super::outcome::{Done, TaskError, Work};
use super::registry::{ProcessWatch, STDERR_KEPT};
use crate::context::Hive;
use crate::domain::agent::{ProcessArgs, ProcessEnv, ProcessLimits, ProgramPath};
use crate::domain::time::now_ms;

/// A process agent's running program, held by its agent.
pub struct Process {
    /// Lines for its stdin; dropped to close stdin.
    lines: Option<mpsc::Sender<String>>,
    /// Kills the whole group when the agent lets go of it, however the agent ends.
    _group: ProcessGroup,
    pub watch: Arc<ProcessWatch>,
}

/// What a started program gives its agent to watch: its stdout as lines, and its exit.
pub struct Started {
    pub process: Process,
    pub stdout: FramedRead<tokio::process::ChildStdout, LinesCodec>,
    /// Resolves with how the program ended.
    pub exited: futures::future::LocalBoxFuture<'static, String>,
    /// Reads stderr into the ring and the log until it closes.
    pub stderr: futures::future::LocalBoxFuture<'static, ()>,
    /// Writes the lines sent to [`Process::send`] until stdin closes.
    pub writer: futures::future::LocalBoxFuture<'static, ()>,
}

/// What one line of the program's stdout says.
#[derive(Debug, PartialEq)]
pub enum Said {
    /// The task's answer.
    Finished {
        task: String,
        outcome: Result<Done, String>,
    },
    Progress {
        task: String,
        progress: Value,
    },
}

impl Process {
    /// Start `program` for agent `agent_id`.
    pub fn start(
        hive: &Hive,
        agent_id: &str,
        program: &ProgramPath,
        args: &ProcessArgs,
        env: &ProcessEnv,
        limits: ProcessLimits,
    ) -> Result<Started, String> {
        let pinned = hive.programs.find(program.as_path()).ok_or_else(|| {
            format!(
                "{} is not in the server's allow_exec list",
                program.as_path().display()
            )
        })?;
        let workdir: PathBuf = hive.config.data_dir.join("agents").join(agent_id);
        std::fs::create_dir_all(&workdir).map_err(|e| {
            format!(
                "cannot create the working directory {}: {e}",
                workdir.display()
            )
        })?;
        let mut command = isolated(pinned, &hive.config, &workdir);
        command.args(&args.0).envs(&env.0).stdin(Stdio::piped());
        let (fd, parent) = (pinned.fd(), std::process::id());
        // SAFETY: runs in the child between fork and exec; `in_child` and setrlimit(2) are
        // async-signal-safe and touch no memory of the parent's.
        unsafe {
            command.pre_exec(move || {
                in_child(fd, parent)?;
                limit(libc::RLIMIT_AS, limits.memory_bytes)?;
                limit(libc::RLIMIT_CPU, limits.cpu_seconds)?;
                limit(libc::RLIMIT_NOFILE, limits.open_files)
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", pinned.listed.display()))?;
        let pid = child.id().ok_or("the program exited as it started")?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("the program's pipes were not opened".into());
        };
        let watch = Arc::new(ProcessWatch {
            pid,
            started_at: now_ms(),
            stderr: hive.agents.stderr_ring(agent_id),
        });
        let (lines, mut to_write) = mpsc::channel::<String>(2);
        let writer = async move {
            let mut stdin = stdin;
            while let Some(line) = to_write.recv().await {
                // A program that stopped reading is dying: its exit says why.
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        };
        let exited = async move {
            match child.wait().await {
                Ok(status) => match status.code() {
                    Some(code) => format!("the program exited with status {code}"),
                    None => format!("the program was killed by a signal ({status})"),
                },
                Err(e) => format!("lost the program: {e}"),
            }
        };
        let (ring, agent) = (watch.clone(), agent_id.to_owned());
        let stderr = async move {
            use futures::StreamExt;
            // Buffers start small and grow with the lines: an idle agent holds them.
            let codec = LinesCodec::new_with_max_length(STDERR_KEPT);
            let mut lines = FramedRead::with_capacity(stderr, codec, 256);
            while let Some(line) = lines.next().await {
                let line = match line {
                    Ok(line) => line,
                    Err(LinesCodecError::MaxLineLengthExceeded) => "[a line over 8 KiB]".into(),
                    Err(LinesCodecError::Io(_)) => break,
                };
                tracing::info!(agent = %agent, "stderr: {line}");
                let mut ring = ring.stderr.lock();
                ring.push(line.as_bytes());
                ring.push(b"\n");
            }
        };
        let stdout = FramedRead::with_capacity(
            stdout,
            LinesCodec::new_with_max_length(hive.config.max_line_bytes),
            1024,
        );
        Ok(Started {
            process: Process {
                lines: Some(lines),
                _group: ProcessGroup(pid),
                watch,
            },
            stdout,
            exited: Box::pin(exited),
            stderr: Box::pin(stderr),
            writer: Box::pin(writer),
        })
    }

    /// Hand the program one task. `Err` when it can no longer take one.
    pub fn send(&self, work: &Work) -> Result<(), String> {
        let mut line = json!({
            "task": &*work.task_id,
            "input": &*work.input,
            "state": work.state.as_deref().unwrap_or(&Value::Null),
            "attempt": work.attempt,
        });
        if let Some(dependencies) = &work.dependencies {
            line["dependencies"] = Value::clone(dependencies);
        }
        let mut line = line.to_string();
        line.push('\n');
        let lines = self.lines.as_ref().ok_or("the program's stdin is closed")?;
        lines
            .try_send(line)
            .map_err(|_| "the program is not reading its stdin".to_owned())
    }

    /// Close the program's stdin: a program that follows the protocol exits.
    pub fn close_stdin(&mut self) {
        self.lines = None;
    }
}

/// Set one resource limit, soft and hard, when given.
fn limit(resource: libc::__rlimit_resource_t, value: Option<u64>) -> std::io::Result<()> {
    let Some(value) = value else { return Ok(()) };
    let rlimit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit(2) reads the struct it is given; async-signal-safe.
    if unsafe { libc::setrlimit(resource, &rlimit) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Read one line of the program's stdout, or say how it broke the protocol.
pub fn read_line(line: Result<String, LinesCodecError>, max: usize) -> Result<Said, String> {
    let line = line.map_err(|e| match e {
        LinesCodecError::MaxLineLengthExceeded => {
            format!("the program wrote a line over max_line_bytes ({max} bytes)")
        }
        LinesCodecError::Io(e) => format!("the program's stdout: {e}"),
    })?;
    let value: Value = serde_json::from_str(&line).map_err(|e| {
        format!(
            "the program wrote a line that is not JSON ({e}): {}",
            preview(&line)
        )
    })?;
    let Value::Object(mut fields) = value else {
        return Err(format!(
            "the program wrote a line that is not a JSON object: {}",
            preview(&line)
        ));
    };
    let Some(Value::String(task)) = fields.remove("task") else {
        return Err(format!(
            "the program wrote a line without its task's id (\"task\"): {}",
            preview(&line)
        ));
    };
    if let Some(result) = fields.remove("result") {
        let state = fields.remove("state");
        let send = fields.remove("send");
        return Ok(Said::Finished {
            task,
            outcome: Ok(Done {
                result,
                state,
                send,
            }),
        });
    }
    if let Some(error) = fields.remove("error") {
        let error = match error {
            Value::String(text) => text,
            other => other.to_string(),
        };
        return Ok(Said::Finished {
            task,
            outcome: Err(error),
        });
    }
    if let Some(progress) = fields.remove("progress") {
        return Ok(Said::Progress { task, progress });
    }
    Err(format!(
        "the program wrote a line with none of \"result\", \"error\" or \"progress\": {}",
        preview(&line)
    ))
}

/// The start of a line, for an error message.
fn preview(line: &str) -> &str {
    let mut end = line.len().min(200);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

/// An answer the program gave for its task.
pub fn outcome(said: Result<Done, String>) -> Result<Done, TaskError> {
    said.map_err(|message| TaskError {
        message,
        retryable: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_as_the_protocol_says_and_anything_else_is_named() {
        let said = |l: &str| read_line(Ok(l.to_owned()), 100);
        assert_eq!(
            said(r#"{"task":"t","result":{"n":1},"state":{"n":1},"send":[]}"#),
            Ok(Said::Finished {
                task: "t".into(),
                outcome: Ok(Done {
                    result: json!({"n": 1}),
                    state: Some(json!({"n": 1})),
                    send: Some(json!([])),
                })
            })
        );
        assert_eq!(
            said(r#"{"task":"t","error":"no"}"#),
            Ok(Said::Finished {
                task: "t".into(),
                outcome: Err("no".into())
            })
        );
        assert_eq!(
            said(r#"{"task":"t","progress":0.5}"#),
            Ok(Said::Progress {
                task: "t".into(),
                progress: json!(0.5)
            })
        );
        assert!(said("hello").unwrap_err().contains("not JSON"));
        assert!(said("[1]").unwrap_err().contains("not a JSON object"));
        assert!(said(r#"{"result":1}"#).unwrap_err().contains("task"));
        assert!(said(r#"{"task":"t"}"#).unwrap_err().contains("none of"));
        let long = read_line(Err(LinesCodecError::MaxLineLengthExceeded), 100);
        assert!(long.unwrap_err().contains("max_line_bytes (100 bytes)"));
    }
}
