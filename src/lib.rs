//! Hive: an actor runtime for running many agents under supervision trees, driven over HTTP.
//!
//! # Layout
//! Top to bottom; a module imports only from the layers below it (docs/architecture.md). The
//! public surface is what the binary, the tests and the benchmarks use: the application, the
//! command line, the configuration, the domain, the store, the event bus and its payloads, the
//! metrics, logging and the load tester. The actors, the HTTP handlers and the plugins are the
//! crate's own.
//!
//! The binary and its tools (`loadtest`, `gate` and `evaluation` with the `tools` feature, on by
//! default):
//! - [`cli`] — the `hive` command line: every subcommand and its flags.
//! - [`commands`] — the one-shot subcommands beside `serve` (`migrate`, `token`, `loadtest`,
//!   `gate`, `replay`, `detect`, `forecast`, `predict`, `evaluate`).
//! - [`app`] — building and running the server: store, supervision tree, HTTP listener, ordered
//!   shutdown.
//! - [`telemetry`] — logging and its format.
//! - [`loadtest`] — `hive loadtest` and `hive replay`: load from outside the server's process.
//! - `gate` — `hive gate`: the performance quality gate over the standard scenario.
//! - `evaluation` — `hive detect|forecast|predict|evaluate`: the monitor's statistics on NAB
//!   data and on mailbox-depth series of five load families.
//!
//! HTTP:
//! - `api` — the actix-web routes with the role each needs, problem+json errors, the JSON
//!   extractor, OpenAPI, the dashboard.
//!
//! Orchestration:
//! - `managers` — the actors under the root: store, configuration, security, communication,
//!   orchestrator, lifecycle (with a pool supervisor per role), performance; and the handles the
//!   layers above reach them by.
//! - `plugins` — actors that act on the monitor's insight: shedding, alerts, autoscaler.
//!
//! Workers and services:
//! - `agents` — the Agent actor, its executors, the registry, and the port it reports through.
//! - `cluster` — one node of several on one Redis: task streams, membership, lease, relay.
//! - [`store`] — diesel schema and rows, the read pool, and the StoreManager that commits writes
//!   in groups.
//! - [`bus`] — lifecycle events for server-sent events and in-process listeners.
//! - `context` — the services every actor and handler shares, and readiness; no actor.
//!
//! Leaves:
//! - [`snapshots`] — state one part publishes and others read (access policy, monitor view, shed
//!   state, queue ages, audit buffer, rate limits).
//! - [`domain`] — roles, capabilities, tasks, priorities and statuses, parsed once at the edge.
//! - [`config`] — the one typed configuration (defaults < file < environment < flags).
//! - [`metrics`] — every `hive_*` Prometheus metric.
//! - `allocator` — jemalloc as the global allocator, and its statistics.
//!
//! The generic supervision runtime (supervisors, child specs, mailbox probes) is the crate
//! `hive-actors` in `actors/`; the statistics (detectors, forecasters, time-to-breach, NAB's
//! scoring) the crate `hive-stats` in `stats/`.

pub(crate) mod agents;
pub(crate) mod allocator;
pub(crate) mod api;
pub mod app;
pub mod bus;
pub mod cli;
pub(crate) mod cluster;
pub mod commands;
pub mod config;
pub(crate) mod context;
pub mod domain;
#[cfg(feature = "tools")]
pub(crate) mod evaluation;
#[cfg(feature = "tools")]
pub(crate) mod gate;
#[cfg(feature = "tools")]
pub mod loadtest;
pub(crate) mod managers;
pub mod metrics;
pub(crate) mod plugins;
pub mod snapshots;
pub mod store;
pub mod telemetry;
