//! What an agent runs a task with. An executor turns a task's input into a future; the agent
//! spawns it on its own context, so the agent keeps answering (cancel, shutdown) while it runs,
//! and a panic inside it is seen by the agent's supervisor.

use futures::future::LocalBoxFuture;
use serde_json::Value;

use super::builtin::Builtin;
use super::command::Command;
use super::http::Http;
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

pub fn for_spec(spec: &ExecutorSpec, hive: &Hive, agent_id: &str) -> Box<dyn Executor> {
    match spec {
        ExecutorSpec::Builtin {} => Box::new(Builtin),
        ExecutorSpec::Command { program } => {
            Box::new(Command::new(program.clone(), agent_id, hive.config.clone()))
        }
        ExecutorSpec::Http { url } => Box::new(Http::new(url.clone(), hive.http.clone())),
    }
}
