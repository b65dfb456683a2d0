//! What an agent runs a task with. An executor turns a task's input into a future; the agent
//! spawns it on its own context, so the agent keeps answering (cancel, shutdown) while it runs,
//! and a panic inside it is seen by the agent's supervisor.

use futures::future::LocalBoxFuture;
use serde_json::Value;

use super::builtin::Builtin;
use super::command::Command;
use super::http::Http;
use super::registry::ExecutorMix;
use crate::context::Hive;
use crate::domain::agent::ExecutorSpec;

/// Why one attempt of a task did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskError {
    pub message: String,
    /// Whether another attempt might succeed. Invalid input never will.
    pub retryable: bool,
}

pub type Outcome = Result<Value, TaskError>;

pub trait Executor {
    fn run(&self, input: &Value) -> LocalBoxFuture<'static, Outcome>;
}

/// Why a task's input cannot run on the executors of its role: where in the input, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// `input`, or `input.<path>` inside it.
    pub field: String,
    pub detail: String,
}

/// `input` read as `T`, or where and why it is not one.
pub(crate) fn parse_input<T: serde::de::DeserializeOwned>(
    input: &Value,
    executor: &str,
) -> Result<T, InputError> {
    serde_path_to_error::deserialize(input).map_err(|e| {
        let path = e.path().to_string();
        InputError {
            field: if path == "." {
                "input".to_owned()
            } else {
                format!("input.{path}")
            },
            detail: format!("invalid {executor} input: {}", e.inner()),
        }
    })
}

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

pub fn for_spec(spec: &ExecutorSpec, hive: &Hive, agent_id: &str) -> Box<dyn Executor> {
    match spec {
        ExecutorSpec::Builtin {} => Box::new(Builtin),
        ExecutorSpec::Command { program } => {
            Box::new(Command::new(program.clone(), agent_id, hive))
        }
        ExecutorSpec::Http { url } => Box::new(Http::new(url.clone(), hive)),
    }
}
