//! The actors under the root supervisor, and how the layers above reach them.
//!
//! # Layout
//! - [`root`] — the shape of the supervision tree and its start order.
//! - [`configuration`] — the ConfigurationManager: the typed configuration.
//! - [`security`] — the SecurityManager: tokens, the access policy, the audit log's flushes.
//! - [`communication`] — the CommunicationManager: event-stream subscriptions, bounded.
//! - [`orchestrator`] — the Orchestrator: accepts, queues, dispatches and retries tasks.
//! - [`agent_slots`] — the orchestrator's agents by id, idle or busy.
//! - [`lifecycle`] — the LifecycleManager: creates and deletes agents, a pool supervisor per role.
//! - [`performance`] — the PerformanceManager: samples, exports and feeds the [`monitor`].
//! - [`monitor`] — the monitor's state between samples: history, forecasts, anomalies.
//! - [`handles`] — the current address of each manager, for the HTTP handlers and the plugins.
//! - [`slot`] — the current address of one actor its supervisor may restart.
//! - [`to_orchestrator`] — the orchestrator behind the ports of the agents and the cluster.
//! - [`supervision`] — what every supervisor does with its decisions: metrics, history, events.

pub mod agent_slots;
pub mod communication;
pub mod configuration;
pub mod handles;
pub mod lifecycle;
pub mod monitor;
pub mod orchestrator;
pub mod performance;
pub mod root;
pub mod security;
pub mod slot;
pub mod supervision;
pub mod to_orchestrator;
