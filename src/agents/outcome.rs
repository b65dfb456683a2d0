//! What an executor is and what one attempt ends with. An executor turns a task's input into a
//! future; the agent spawns it on its own context, so the agent keeps answering (cancel,
//! shutdown) while it runs, and a panic inside it is seen by the agent's supervisor.

use std::sync::Arc;

use futures::future::LocalBoxFuture;
use serde_json::Value;

use crate::domain::task::TaskId;

/// One attempt of a task as an executor sees it.
#[derive(Debug, Clone)]
pub struct Work {
    pub task_id: TaskId,
    pub attempt: u32,
    pub input: Arc<Value>,
    /// The agent's state as last committed (`None` is null).
    pub state: Option<Arc<Value>>,
    /// The results of the tasks it waited for, by id; `None` if it waited for none.
    pub dependencies: Option<Arc<Value>>,
}

/// What a successful attempt answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub result: Value,
    /// The agent's new state, committed with the result; `None` leaves it as it was.
    pub state: Option<Value>,
    /// Tasks to hand over (a process agent's `"send"`), created with the result or not at all.
    pub send: Option<Value>,
}

impl Done {
    /// A result that leaves the state alone.
    pub fn result(result: Value) -> Self {
        Self {
            result,
            state: None,
            send: None,
        }
    }
}

/// Why one attempt of a task did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskError {
    pub message: String,
    /// Whether another attempt might succeed. Invalid input never will.
    pub retryable: bool,
}

pub type Outcome = Result<Done, TaskError>;

pub trait Executor {
    fn run(&self, work: &Work) -> LocalBoxFuture<'static, Outcome>;
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
