//! Which executor an agent runs a task with, and whether a task's input suits the executors of
//! its role.

use serde_json::Value;

use super::builtin::Builtin;
use super::command::Command;
use super::http::Http;
use super::outcome::{Executor, InputError};
use super::registry::ExecutorMix;
use crate::context::Hive;
use crate::domain::agent::ExecutorSpec;

/// Check a submission's input against every kind of executor its role's agents run here, so
/// that input no agent could run is refused at submission (422), not failed at run time. A role
/// with no agents here yet takes any input: the agents it will get decide.
pub fn check_input(mix: ExecutorMix, input: &Value) -> Result<(), InputError> {
    if mix.builtin > 0 {
        super::builtin::check_input(input)?;
    }
    if mix.command > 0 {
        super::command::check_input(input)?;
    }
    Ok(())
}

/// Check a task's input against one agent's executor (a task addressed to it).
pub fn check_input_for(spec: &ExecutorSpec, input: &Value) -> Result<(), InputError> {
    match spec {
        ExecutorSpec::Builtin {} => super::builtin::check_input(input),
        ExecutorSpec::Command { .. } => super::command::check_input(input),
        // Any object: its meaning is the program's or the endpoint's.
        ExecutorSpec::Http { .. } | ExecutorSpec::Process { .. } => Ok(()),
    }
}

pub fn for_spec(spec: &ExecutorSpec, hive: &Hive, agent_id: &str) -> Box<dyn Executor> {
    match spec {
        ExecutorSpec::Builtin {} => Box::new(Builtin),
        ExecutorSpec::Command { program } => {
            Box::new(Command::new(program.clone(), agent_id, hive))
        }
        ExecutorSpec::Http { url } => Box::new(Http::new(url.clone(), hive)),
        // The agent hands its program the task itself (see `agents::process`).
        ExecutorSpec::Process { .. } => Box::new(NoExecutor),
    }
}

/// What a process agent would run a task with if its program were not running: the agent
/// never asks for it, since it sends its program the task.
struct NoExecutor;

impl super::outcome::Executor for NoExecutor {
    fn run(
        &self,
        _: &super::outcome::Work,
    ) -> futures::future::LocalBoxFuture<'static, super::outcome::Outcome> {
        use futures::FutureExt;
        futures::future::ready(Err(super::outcome::TaskError {
            message: "the agent's program is not running".into(),
            retryable: true,
        }))
        .boxed_local()
    }
}
