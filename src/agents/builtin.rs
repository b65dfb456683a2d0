//! The `builtin` executor: operations that exercise Hive itself (tests, load, fault injection).

use std::time::{Duration, Instant};

use futures::future::{self, FutureExt, LocalBoxFuture};
use serde_json::{json, Value};

use super::outcome::{parse_input, Done, Executor, InputError, Outcome, TaskError, Work};
use crate::domain::task::{BuiltinOp, MAX_SPIN_US};

pub struct Builtin;

impl Executor for Builtin {
    fn run(&self, work: &Work) -> LocalBoxFuture<'static, Outcome> {
        let op = match BuiltinOp::deserialize_input(&work.input) {
            Ok(op) => op,
            Err(message) => {
                return future::ready(Err(TaskError {
                    message,
                    retryable: false,
                }))
                .boxed_local()
            }
        };
        match op {
            BuiltinOp::Echo { value } => future::ready(Ok(Done::result(value))).boxed_local(),
            BuiltinOp::Count => future::ready(count(work.state.as_deref())).boxed_local(),
            BuiltinOp::Collect => {
                let results = work.dependencies.as_deref().cloned();
                future::ready(Ok(Done::result(results.unwrap_or_else(|| json!({}))))).boxed_local()
            }
            BuiltinOp::Sleep { ms } => async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(Done::result(json!({ "slept_ms": ms })))
            }
            .boxed_local(),
            BuiltinOp::Spin { us } if us > MAX_SPIN_US => future::ready(Err(TaskError {
                message: format!("spin of {us} µs is over the limit of {MAX_SPIN_US} µs"),
                retryable: false,
            }))
            .boxed_local(),
            BuiltinOp::Spin { us } => future::lazy(move |_| {
                let until = Instant::now() + Duration::from_micros(us);
                let mut turns: u64 = 0;
                while Instant::now() < until {
                    turns = std::hint::black_box(turns.wrapping_add(1));
                }
                Ok(Done::result(json!({ "spun_us": us })))
            })
            .boxed_local(),
            BuiltinOp::Fail { error } => future::ready(Err(TaskError {
                message: error,
                retryable: true,
            }))
            .boxed_local(),
            // Panics when the agent polls it: a panic inside a future the agent spawned.
            BuiltinOp::Panic => {
                future::lazy(|_| -> Outcome { panic!("task asked its agent to panic") })
                    .boxed_local()
            }
        }
    }
}

/// `count`: one more than the state's `count` (a null state counts from zero), kept in the
/// state beside whatever else it holds.
fn count(state: Option<&Value>) -> Outcome {
    let mut state = match state {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(fields)) => fields.clone(),
        Some(_) => {
            return Err(TaskError {
                message: "count needs the agent's state to be an object or null".into(),
                retryable: false,
            })
        }
    };
    let count = match state.get("count") {
        None => 0,
        Some(n) => n.as_u64().ok_or_else(|| TaskError {
            message: "count needs state.count to be a whole number".into(),
            retryable: false,
        })?,
    } + 1;
    state.insert("count".into(), json!(count));
    Ok(Done {
        result: json!({ "count": count }),
        state: Some(Value::Object(state)),
        send: None,
    })
}

impl BuiltinOp {
    fn deserialize_input(input: &Value) -> Result<BuiltinOp, String> {
        parse_input(input, "builtin").map_err(|e| format!("{} at {}", e.detail, e.field))
    }
}

/// Whether `input` is an operation the builtin executor runs, within its limits.
pub fn check_input(input: &Value) -> Result<(), InputError> {
    match parse_input(input, "builtin")? {
        BuiltinOp::Spin { us } if us > MAX_SPIN_US => Err(InputError {
            field: "input.us".into(),
            detail: format!("spin of {us} µs is over the limit of {MAX_SPIN_US} µs"),
        }),
        _ => Ok(()),
    }
}
