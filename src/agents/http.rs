//! The `http` executor: POSTs the task's input as JSON to the agent's URL through the http
//! agents' pooled client, and returns the answer's status and JSON body. A non-2xx answer fails
//! the attempt; 5xx, 429, timeouts and connection errors may succeed later, so they are
//! retryable. The URL must be one the operator allows (`agents::destinations`), checked at every
//! run and again on the addresses its name resolves to; redirects are not followed (a 3xx is a
//! failed attempt); the answer is read as it streams and the attempt fails as soon as it passes
//! `max_result_bytes`, so an endless or huge answer costs at most that much memory.

use std::sync::Arc;

use futures::future::{FutureExt, LocalBoxFuture};
use serde_json::{json, Value};

use super::destinations::HttpDestinations;
use super::outcome::{Done, Executor, Outcome, TaskError, Work};
use crate::context::Hive;
use crate::domain::agent::HttpUrl;

/// Bytes of a failed answer's body quoted in the error.
const BODY_IN_ERROR: usize = 1024;

pub struct Http {
    url: HttpUrl,
    client: reqwest::Client,
    destinations: Arc<HttpDestinations>,
    max_bytes: usize,
}

impl Http {
    pub fn new(url: HttpUrl, hive: &Hive) -> Self {
        Self {
            url,
            client: hive.agent_http.clone(),
            destinations: hive.destinations.clone(),
            max_bytes: hive.config.max_result_bytes,
        }
    }
}

fn refused(message: String) -> TaskError {
    TaskError {
        message,
        retryable: false,
    }
}

impl Executor for Http {
    fn run(&self, work: &Work) -> LocalBoxFuture<'static, Outcome> {
        let url = self.url.clone();
        let checked = reqwest::Url::parse(url.as_str())
            .map_err(|e| e.to_string())
            .and_then(|parsed| self.destinations.allows_url(&parsed));
        if let Err(why) = checked {
            let error = refused(format!("POST {} refused: {why}", url.shown()));
            return futures::future::ready(Err(error)).boxed_local();
        }
        let request = self.client.post(url.as_str()).json(&*work.input);
        let max_bytes = self.max_bytes;
        async move {
            let mut response = request.send().await.map_err(|e| TaskError {
                message: format!("POST {} failed: {}", url.shown(), error_chain(&e)),
                retryable: true,
            })?;
            let status = response.status();
            let too_large = || {
                refused(format!(
                    "the answer of {} is larger than max_result_bytes ({max_bytes} bytes)",
                    url.shown()
                ))
            };
            if response
                .content_length()
                .is_some_and(|n| n > max_bytes as u64)
            {
                return Err(too_large());
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| TaskError {
                message: format!("reading the answer of {}: {e}", url.shown()),
                retryable: true,
            })? {
                if body.len() + chunk.len() > max_bytes {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body[..body.len().min(BODY_IN_ERROR)]);
                return Err(TaskError {
                    message: format!("{} answered {status}: {text}", url.shown()),
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
            Ok(Done::result(
                json!({ "status": status.as_u16(), "body": body }),
            ))
        }
        .boxed_local()
    }
}

/// The error with its causes: a refused resolution is only in the source chain.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
