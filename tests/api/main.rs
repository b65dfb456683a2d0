//! End-to-end tests of the HTTP API against a real server (one binary, a module per area).

// Helpers fail the test the way assertions do: by panicking with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agents;
mod backpressure;
mod bad_input;
mod browser;
mod cluster;
mod config;
mod dashboard;
mod executors;
mod faults;
mod helpers;
mod identity;
mod loadtest;
mod monitor;
mod openapi;
mod plugins;
#[path = "../support/postgres.rs"]
mod postgres_schema;
mod process;
#[path = "../support/redis.rs"]
mod redis_namespace;
mod security;
mod statistics;
mod tasks;
mod topics;
mod workflows;
