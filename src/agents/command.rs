//! The `command` executor: runs an operator-allow-listed executable with the task's arguments,
//! never through a shell. The process starts with an empty environment apart from the names the
//! operator lists (`exec_env`), in a working directory of its agent's own, in a process group of
//! its own: when the attempt ends early (timeout, cancel, the agent stopping) the whole group is
//! killed, grandchildren included. Output is kept up to a cap per stream; the rest is read and
//! dropped, so a chatty program never blocks on a full pipe.

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use futures::future::{FutureExt, LocalBoxFuture};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::outcome::{parse_input, Done, Executor, InputError, Outcome, TaskError, Work};
use super::programs::{AllowedPrograms, Pinned};
use crate::config::Config;
use crate::context::Hive;
use crate::domain::agent::ProgramPath;

/// Bytes of stderr quoted in the error of a failed run.
const STDERR_IN_ERROR: usize = 1024;

/// The input of a command task.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandInput {
    #[serde(default)]
    args: Vec<String>,
    stdin: Option<String>,
}

pub struct Command {
    program: ProgramPath,
    workdir: PathBuf,
    config: Arc<Config>,
    programs: Arc<AllowedPrograms>,
}

impl Command {
    pub fn new(program: ProgramPath, agent_id: &str, hive: &Hive) -> Self {
        Self {
            workdir: hive.config.data_dir.join("agents").join(agent_id),
            program,
            config: hive.config.clone(),
            programs: hive.programs.clone(),
        }
    }
}

/// Whether `input` is a command task's input (`args`, `stdin`; nothing else, `env` included:
/// a task never chooses its program's environment).
pub fn check_input(input: &Value) -> Result<(), InputError> {
    parse_input::<CommandInput>(input, "command").map(drop)
}

fn invalid(message: String) -> TaskError {
    TaskError {
        message,
        retryable: false,
    }
}

impl Executor for Command {
    fn run(&self, work: &Work) -> LocalBoxFuture<'static, Outcome> {
        let input: CommandInput = match parse_input(&work.input, "command") {
            Ok(input) => input,
            Err(e) => {
                let message = format!("{} at {}", e.detail, e.field);
                return futures::future::ready(Err(invalid(message))).boxed_local();
            }
        };
        // Checked at every run, not only when the agent was created: an agent stored by a
        // server with another list may name a program this one does not allow.
        if self.programs.find(self.program.as_path()).is_none() {
            return futures::future::ready(Err(not_allowed(&self.program))).boxed_local();
        }
        let (program, workdir, config, programs) = (
            self.program.clone(),
            self.workdir.clone(),
            self.config.clone(),
            self.programs.clone(),
        );
        async move {
            match programs.find(program.as_path()) {
                Some(pinned) => run(pinned, workdir, &config, input).await,
                None => Err(not_allowed(&program)),
            }
        }
        .boxed_local()
    }
}

fn not_allowed(program: &ProgramPath) -> TaskError {
    invalid(format!(
        "{} is not in the server's allow_exec list",
        program.as_path().display()
    ))
}

async fn run(program: &Pinned, workdir: PathBuf, config: &Config, input: CommandInput) -> Outcome {
    // One mkdir on local disk: not worth a trip to the blocking pool.
    std::fs::create_dir_all(&workdir).map_err(|e| TaskError {
        message: format!(
            "cannot create the working directory {}: {e}",
            workdir.display()
        ),
        retryable: true,
    })?;
    let mut command = isolated(program, config, &workdir);
    command.args(&input.args).stdin(if input.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let (fd, parent) = (program.fd(), std::process::id());
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe functions (fcntl, prctl, getppid), touching no memory of the parent's.
    unsafe {
        command.pre_exec(move || in_child(fd, parent));
    }
    let mut child = command
        .spawn()
        .map_err(|e| invalid(format!("cannot start {}: {e}", program.listed.display())))?;
    let _group = child.id().map(ProcessGroup);
    let cap = config.exec_output_bytes;
    let stdin = child.stdin.take();
    let feed = async move {
        if let (Some(mut pipe), Some(text)) = (stdin, input.stdin) {
            // A program that exits without reading its input closes the pipe: not an error.
            let _ = pipe.write_all(text.as_bytes()).await;
        }
    };
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (_, out, err, status) = tokio::join!(
        feed,
        read_capped(stdout, cap),
        read_capped(stderr, cap),
        child.wait()
    );
    let status = status.map_err(|e| TaskError {
        message: format!("lost the process: {e}"),
        retryable: true,
    })?;
    let truncated = out.1 || err.1;
    let (stdout, stderr) = (lossy(out.0), lossy(err.0));
    match status.code() {
        Some(0) => Ok(Done::result(json!({
            "exit_code": 0,
            "stdout": stdout,
            "stderr": stderr,
            "truncated": truncated,
        }))),
        Some(code) => Err(invalid(format!(
            "exited with status {code}: {}",
            tail(&stderr, STDERR_IN_ERROR)
        ))),
        // Killed by a signal from outside (the OOM killer, an operator): worth another try.
        None => Err(TaskError {
            message: format!("killed by a signal: {status}"),
            retryable: true,
        }),
    }
}

/// The pinned program as a child of its own: run as the file pinned at start under the name it
/// was listed by, with an empty environment apart from `exec_env`, in `workdir`, its output
/// piped, in a process group of its own, killed if dropped. Arguments, stdin and the work done
/// between fork and exec are the caller's.
pub(super) fn isolated(
    program: &Pinned,
    config: &Config,
    workdir: &std::path::Path,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program.exec_path());
    command
        .arg0(&program.listed)
        .env_clear()
        .envs(
            config
                .exec_env
                .iter()
                .filter_map(|name| Some((name, std::env::var_os(name)?))),
        )
        .current_dir(workdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// Set up the child before it runs the program: it keeps the pinned file open across `exec` (a
/// script's interpreter reads it through that descriptor), and it is killed when the server
/// dies, however it dies, so no run outlives the server and overlaps the attempt a restarted
/// server makes of the same task.
pub(super) fn in_child(pinned: RawFd, parent: u32) -> std::io::Result<()> {
    // SAFETY: plain system calls on integers; async-signal-safe.
    unsafe {
        if libc::fcntl(pinned, libc::F_SETFD, 0) == -1 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
            return Err(std::io::Error::last_os_error());
        }
        // The server died between fork and prctl: the signal will never come.
        if u32::try_from(libc::getppid()).ok() != Some(parent) {
            return Err(std::io::Error::other("the server exited"));
        }
    }
    Ok(())
}

/// Read `pipe` to its end, keeping the first `cap` bytes; whether anything was dropped.
async fn read_capped(pipe: Option<impl AsyncRead + Unpin>, cap: usize) -> (Vec<u8>, bool) {
    let Some(mut pipe) = pipe else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return (kept, truncated),
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The last `max` bytes of `text`, cut at a character boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].trim_end()
}

/// Kills the process group of a run when the run ends, however it ends. A pid is not reused
/// while a group of that id has members, so the signal reaches only this run's processes.
pub(super) struct ProcessGroup(pub(super) u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let Ok(pgid) = libc::pid_t::try_from(self.0) else {
            return;
        };
        // SAFETY: kill(2) with a negative pid signals the process group; it touches no memory.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_of_stderr_is_cut_at_a_character_boundary() {
        assert_eq!(tail("abc\n", 10), "abc");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("xyz", 2), "yz");
    }
}
