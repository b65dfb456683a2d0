//! The `builtin` executor: operations that exercise Hive itself (tests, load, fault injection).

use std::time::{Duration, Instant};

use futures::future::{self, FutureExt, LocalBoxFuture};
use serde_json::{json, Value};

use super::outcome::{parse_input, Executor, InputError, Outcome, TaskError};
use crate::domain::task::{BuiltinOp, MAX_SPIN_US};

pub struct Builtin;

impl Executor for Builtin {
    fn run(&self, input: &Value) -> LocalBoxFuture<'static, Outcome> {
        let op = match BuiltinOp::deserialize_input(input) {
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
            BuiltinOp::Echo { value } => future::ready(Ok(value)).boxed_local(),
            BuiltinOp::Sleep { ms } => async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(json!({ "slept_ms": ms }))
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
                Ok(json!({ "spun_us": us }))
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
