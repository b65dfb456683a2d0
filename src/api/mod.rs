//! The HTTP API on actix-web: one module per resource, problem+json errors everywhere (extractor
//! errors, unknown routes and wrong methods included), request metrics by route pattern.
//!
//! # Layout
//! - [`routes`] — the route table: every path, its methods, the role each needs.
//! - [`middleware`] — request metrics, 503 until ready, the bound on an answer's wait.
//! - [`auth`] — who is calling, the rate limit, and each route's role check.
//! - [`agents`], [`tasks`], [`events`], [`tokens`], [`audit`], [`system`], [`monitor`], [`sla`],
//!   [`cluster`], [`dashboard`] — the handlers, one module per resource.
//! - [`views`] — what handlers answer with, apart from the stored rows.
//! - [`ask`] — asking a manager: through its mailbox probe, answered on a channel.
//! - [`base`] — the API's base path, page sizes and pagination.
//! - [`json`], [`query`] — the body and query extractors, with field-naming errors.
//! - [`problem`] — problem+json errors.
//! - [`openapi`] — the OpenAPI document, generated from the handlers.

pub mod agents;
pub mod ask;
pub mod audit;
pub mod auth;
pub mod base;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod events;
pub mod json;
pub mod middleware;
pub mod monitor;
pub mod openapi;
pub mod problem;
pub mod query;
pub mod routes;
pub mod sla;
pub mod system;
pub mod tasks;
pub mod tokens;
pub mod topics;
pub mod views;
pub mod workflows;

pub use routes::configure;
