//! Roles, names and capabilities: short identifiers that end up in URLs, metrics labels and logs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest role, capability or agent name accepted.
pub const MAX_NAME_LEN: usize = 64;

fn check_identifier(value: &str, what: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(format!("{what} must be at most {MAX_NAME_LEN} bytes"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(format!(
            "{what} may contain only ASCII letters, digits, '-', '_', '.' and ':'"
        ));
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        // Shared text: every agent of a role, and every task asking for it, holds the same one.
        // `ArcStr` keeps its length beside the count, so the handle is one pointer (8 bytes,
        // where `Arc<str>` takes 16): every registry entry holds a role.
        pub struct $name(arcstr::ArcStr);

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(value: String) -> Result<Self, String> {
                check_identifier(&value, $what)?;
                Ok(Self(arcstr::ArcStr::from(value)))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0.to_string()
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX_NAME_LEN))
                    .pattern(Some("^[A-Za-z0-9_.:-]+$"))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

identifier!(
    /// The pool an agent belongs to and the kind of agent a task asks for.
    Role,
    "role"
);
identifier!(
    /// Something an agent can do; a task may require several.
    Capability,
    "capability"
);
identifier!(
    /// A channel agents subscribe to: a message on it becomes one task for each subscriber.
    Topic,
    "topic"
);
identifier!(
    /// A human-readable agent name.
    AgentName,
    "name"
);

/// Most topics one agent subscribes to.
pub const MAX_TOPICS_PER_AGENT: usize = 32;

/// The topics an agent subscribes to: valid names, each once, at most
/// [`MAX_TOPICS_PER_AGENT`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<Topic>")]
pub struct Topics(pub Vec<String>);

impl TryFrom<Vec<Topic>> for Topics {
    type Error = String;

    fn try_from(topics: Vec<Topic>) -> Result<Self, String> {
        if topics.len() > MAX_TOPICS_PER_AGENT {
            return Err(format!(
                "an agent subscribes to at most {MAX_TOPICS_PER_AGENT} topics, not {}",
                topics.len()
            ));
        }
        let mut names: Vec<String> = topics.into_iter().map(String::from).collect();
        names.sort_unstable();
        names.dedup();
        Ok(Self(names))
    }
}
