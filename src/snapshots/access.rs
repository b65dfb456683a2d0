//! The access policy the SecurityManager publishes and every request is checked against: the live
//! tokens, and who a request's `Authorization` header and peer address make its caller.

use std::net::IpAddr;
use std::sync::Arc;

use crate::domain::access::{AccessRole, SecretDigest};

/// A token that may be used now.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    pub id: Arc<str>,
    pub role: AccessRole,
    digest: SecretDigest,
}

impl ActiveToken {
    pub fn new(id: Arc<str>, role: AccessRole, digest: SecretDigest) -> Self {
        Self { id, role, digest }
    }
}

/// Who made a request, as the access check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Token {
        id: Arc<str>,
        role: AccessRole,
    },
    /// No tokens exist: the API serves loopback clients only, with every right.
    Anonymous,
}

impl Caller {
    pub fn role(&self) -> AccessRole {
        match self {
            Caller::Token { role, .. } => *role,
            Caller::Anonymous => AccessRole::Admin,
        }
    }

    /// The name the audit log keeps: the token's id, never its secret.
    pub fn actor(&self) -> &str {
        match self {
            Caller::Token { id, .. } => id,
            Caller::Anonymous => "anonymous",
        }
    }
}

/// What the HTTP layer enforces.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    pub tokens: Vec<ActiveToken>,
    /// Whether any token was ever made, revoked ones included: revoking the last token locks
    /// the API rather than opening it to loopback clients again.
    pub issued: bool,
    /// Serve `/metrics` without a token.
    pub metrics_open: bool,
    /// Whether the tokens have been read yet: until then every guarded request waits out a 503.
    pub loaded: bool,
}

/// Why a request may not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No usable token; the reason is safe to show (it never repeats the token).
    Unauthenticated(&'static str),
    Forbidden {
        needed: AccessRole,
        held: AccessRole,
    },
    /// Without tokens the API is open to loopback clients only.
    NotLoopback,
}

impl AccessPolicy {
    /// Until the first token is made, the API runs open, for loopback clients only.
    pub fn open(&self) -> bool {
        !self.issued
    }

    /// The token whose digest matches `secret`. Every live token is compared, each in constant
    /// time, so the time taken says nothing about how close a guess came.
    pub fn identify(&self, secret: &str) -> Option<&ActiveToken> {
        let digest = SecretDigest::of(secret);
        let mut found = None;
        for token in &self.tokens {
            if token.digest.matches(&digest) {
                found = Some(token);
            }
        }
        found
    }

    /// Who is calling, from the `Authorization` header's value and the peer address.
    pub fn caller(
        &self,
        authorization: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Result<Caller, Denied> {
        if self.open() {
            return match peer {
                Some(ip) if !ip.is_loopback() => Err(Denied::NotLoopback),
                _ => Ok(Caller::Anonymous),
            };
        }
        let header = authorization.ok_or(Denied::Unauthenticated("a bearer token is required"))?;
        let secret = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or(Denied::Unauthenticated(
                "the Authorization header must be `Bearer <token>`",
            ))?;
        let token = self
            .identify(secret)
            .ok_or(Denied::Unauthenticated("the token is not valid"))?;
        Ok(Caller::Token {
            id: token.id.clone(),
            role: token.role,
        })
    }
}
