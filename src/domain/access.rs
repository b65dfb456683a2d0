//! Who may do what: access roles, API token secrets and their digests.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// What a token may do; each role includes the ones below it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AccessRole {
    /// Reads: every `GET`, the event stream, metrics and the dashboard.
    Viewer,
    /// Work: submit and cancel tasks.
    Operator,
    /// Everything: agents and their executors, tokens, the audit log.
    Admin,
}

impl AccessRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessRole::Viewer => "viewer",
            AccessRole::Operator => "operator",
            AccessRole::Admin => "admin",
        }
    }
}

impl fmt::Display for AccessRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccessRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "viewer" => Ok(AccessRole::Viewer),
            "operator" => Ok(AccessRole::Operator),
            "admin" => Ok(AccessRole::Admin),
            other => Err(format!(
                "unknown role {other:?}: expected admin, operator or viewer"
            )),
        }
    }
}

/// Prefix of every secret, so that a leaked one is recognisable (secret scanners, logs).
const SECRET_PREFIX: &str = "hive_";

/// A new random secret: 256 bits, hex, with the prefix.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// SHA-256 of a secret: what the store keeps and what requests are checked against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(hex_digest: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// Equality in time independent of where the digests differ.
    pub fn matches(&self, other: &SecretDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

// Never printed: a digest in a log would let anyone test guesses offline.
impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_prefixed_and_match_only_their_own_digest() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("hive_") && a.len() == 5 + 64, "{a}");
        let digest = SecretDigest::of(&a);
        assert!(digest.matches(&SecretDigest::of(&a)));
        assert!(!digest.matches(&SecretDigest::of(&b)));
        assert_eq!(SecretDigest::from_hex(&digest.to_hex()), Some(digest));
        assert_eq!(SecretDigest::from_hex("not hex"), None);
    }

    #[test]
    fn roles_order_from_viewer_to_admin_and_parse_their_names() {
        assert!(AccessRole::Viewer < AccessRole::Operator);
        assert!(AccessRole::Operator < AccessRole::Admin);
        for role in [AccessRole::Viewer, AccessRole::Operator, AccessRole::Admin] {
            assert_eq!(role.as_str().parse::<AccessRole>(), Ok(role));
        }
        assert!("root".parse::<AccessRole>().is_err());
    }
}
