//! End-to-end tests of the HTTP API against a real server (one binary, a module per area).

mod agents;
mod bad_input;
mod helpers;
mod openapi;
mod process;
mod tasks;
