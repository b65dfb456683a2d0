//! The `http` executor: POSTs the task's input as JSON to the agent's URL through the server's one
//! pooled client, and returns the answer's status and JSON body. A non-2xx answer fails the
//! attempt; 5xx, 429, timeouts and connection errors may succeed later, so they are retryable.

use futures::future::{FutureExt, LocalBoxFuture};
use serde_json::{json, Value};

use super::executor::{Executor, Outcome, TaskError};
use crate::domain::agent::HttpUrl;

/// Bytes of a failed answer's body quoted in the error.
const BODY_IN_ERROR: usize = 1024;

pub struct Http {
    url: HttpUrl,
    client: reqwest::Client,
}

impl Http {
    pub fn new(url: HttpUrl, client: reqwest::Client) -> Self {
        Self { url, client }
    }
}

impl Executor for Http {
    fn run(&self, input: &Value) -> LocalBoxFuture<'static, Outcome> {
        let request = self.client.post(self.url.as_str()).json(input);
        let url = self.url.clone();
        async move {
            let response = request.send().await.map_err(|e| TaskError {
                message: format!("POST {} failed: {e}", url.as_str()),
                retryable: true,
            })?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| TaskError {
                message: format!("reading the answer of {}: {e}", url.as_str()),
                retryable: true,
            })?;
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body[..body.len().min(BODY_IN_ERROR)]);
                return Err(TaskError {
                    message: format!("{} answered {status}: {text}", url.as_str()),
                    retryable: status.is_server_error() || status.as_u16() == 429,
                });
            }
            // An empty or non-JSON body is kept as text rather than failing a 2xx answer.
            let body: Value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
            };
            Ok(json!({ "status": status.as_u16(), "body": body }))
        }
        .boxed_local()
    }
}
