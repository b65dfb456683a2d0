//! Hive: an actor runtime for running many agents under supervision trees, driven over HTTP.
//!
//! # Layout
//! - [`allocator`] — jemalloc as the global allocator, and its statistics.
//! - [`app`] — building and running the server: store, supervision tree, HTTP listener, ordered
//!   shutdown.
//! - [`cli`] — the `hive` command line (`serve`, `migrate`, `token`, `loadtest`, `gate`).
//! - [`config`] — the one typed configuration (defaults < file < environment < flags).
//! - [`context`] — the shared application context, the current address of each actor, readiness.
//! - [`domain`] — roles, capabilities, tasks, priorities and statuses, parsed once at the edge.
//! - [`agents`] — the Agent actor, its executors and the agent registry.
//! - [`managers`] — the actors under the root: store, configuration, security, communication,
//!   orchestrator, lifecycle (with a pool supervisor per role), performance, plugins.
//! - [`plugins`] — actors that act on the monitor's forecasts: shedding, alerts, autoscaler.
//! - [`store`] — diesel schema and rows, the read pool, and the StoreManager that commits writes
//!   in groups.
//! - [`bus`] — lifecycle events for server-sent events and in-process listeners.
//! - [`api`] — the actix-web routes, problem+json errors, the JSON extractor, OpenAPI.
//! - [`metrics`] — every `hive_*` Prometheus metric.
//! - [`telemetry`] — logging.
//! - [`loadtest`] — `hive loadtest`: load from outside the server's process, and its report.
//! - [`gate`] — `hive gate`: the performance quality gate over the standard scenario.
//! - [`evaluation`] — `hive detect|forecast|predict|evaluate`: the monitor's statistics on NAB
//!   data and on mailbox-depth series of five load families.
//!
//! The generic supervision runtime (supervisors, child specs, mailbox probes) is the crate
//! `hive-actors` in `actors/`; the statistics (detectors, forecasters, time-to-breach, NAB's
//! scoring) the crate `hive-stats` in `stats/`.

pub mod agents;
pub mod allocator;
pub mod api;
pub mod app;
pub mod bus;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod context;
pub mod domain;
pub mod evaluation;
pub mod gate;
pub mod loadtest;
pub mod managers;
pub mod metrics;
pub mod plugins;
pub mod store;
pub mod telemetry;
