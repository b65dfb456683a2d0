//! The one-shot commands beside `serve`: their output on stdout is what scripts read.
//!
//! # Layout
//! - [`token`] — `hive token create|list|revoke`.
//! - [`tools`] — the tools' commands (the `tools` feature).

pub mod token;
#[cfg(feature = "tools")]
pub mod tools;
