//! Topics: named channels agents subscribe to. A message on a topic becomes one task for each
//! agent subscribed to it.

use serde::Deserialize;
use utoipa::ToSchema;

use super::names::{Topic, Topics};
use super::task::{MaxRetries, Priority, TaskInput, TimeoutMs};

/// The body of `PUT /api/v1/agents/{id}/topics`: the whole set, replacing the one it had.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicSet {
    #[schema(value_type = Vec<Topic>, max_items = 32)]
    pub topics: Topics,
}

/// The body of `POST /api/v1/topics/{name}/messages`: what each subscriber's task gets.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    #[schema(value_type = Object)]
    pub input: TaskInput,
    #[serde(default = "normal")]
    pub priority: Priority,
    #[serde(default)]
    #[schema(value_type = u64, minimum = 1, maximum = 3_600_000, default = 30_000)]
    pub timeout_ms: TimeoutMs,
    #[serde(default)]
    #[schema(value_type = u32, minimum = 0, maximum = 100, default = 3)]
    pub max_retries: MaxRetries,
}

fn normal() -> Priority {
    Priority::Normal
}
