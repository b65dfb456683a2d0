//! The SecurityManager actor: owns the API tokens and publishes the access policy that every
//! request is checked against. Request checks read the published snapshot, never its mailbox.
//!
//! Tokens live in the store, so `hive token create` works while the server is down; the manager
//! reads them at start and again every few seconds, which is how a token created or revoked on
//! the command line reaches a running server.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use hive_actors::{ExitSlot, Refused, Shutdown};
use tokio::sync::oneshot;

use super::slot::Slot;
use crate::context::Hive;
use crate::domain::access::{new_secret, AccessRole, SecretDigest};
use crate::domain::time::now_ms;
use crate::snapshots::access::{AccessPolicy, ActiveToken};
use crate::store::manager::StoreManager;
use crate::store::manager::{Persist, Write};
use crate::store::models::TokenRow;
use crate::store::{Store, StoreError};

/// How often the manager reads the tokens again.
const RELOAD: Duration = Duration::from_secs(2);
/// How often the audit entries requests left are handed to the store.
const AUDIT_FLUSH: Duration = Duration::from_millis(100);

/// A token as listings show it: never its secret or digest.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: Option<String>,
    pub role: AccessRole,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl TokenView {
    pub fn from_row(row: TokenRow) -> Option<Self> {
        Some(Self {
            role: row.role.parse().ok()?,
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// A new token and its secret, shown this once.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    #[serde(flatten)]
    pub token: TokenView,
    pub secret: String,
}

/// A new token's row and the answer that shows its secret (this once).
fn new_token(role: AccessRole, name: Option<String>) -> (TokenRow, IssuedToken) {
    let secret = new_secret();
    let row = TokenRow {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        role: role.as_str().to_owned(),
        digest: SecretDigest::of(&secret).to_hex(),
        created_at: now_ms(),
        revoked_at: None,
    };
    let issued = IssuedToken {
        token: TokenView {
            id: row.id.clone(),
            name: row.name.clone(),
            role,
            created_at: row.created_at,
            revoked_at: None,
        },
        secret,
    };
    (row, issued)
}

/// Create a token straight in the database: `hive token create`, which needs no server.
pub async fn issue(
    store: &Store,
    role: AccessRole,
    name: Option<String>,
) -> Result<IssuedToken, StoreError> {
    let (row, issued) = new_token(role, name);
    store.create_token(&row).await?;
    Ok(issued)
}

/// Hand a write to the server's one writer and wait for the commit that holds it.
async fn committed(
    hive: &Hive,
    store: &Slot<StoreManager>,
    write: impl FnOnce(oneshot::Sender<Result<(), Arc<StoreError>>>) -> Write,
) -> Result<(), Arc<StoreError>> {
    let store = store
        .get()
        .ok_or_else(|| Arc::new(StoreError::Unavailable))?;
    let (reply, answer) = oneshot::channel();
    hive.kinds
        .store
        .try_send(&store, Persist(write(reply)))
        .map_err(|refused| {
            Arc::new(match refused {
                Refused::Full { .. } => StoreError::Busy,
                Refused::Closed { .. } => StoreError::Unavailable,
            })
        })?;
    answer
        .await
        .unwrap_or_else(|_| Err(Arc::new(StoreError::Unavailable)))
}

/// The tokens of the store as the policy holds them: the live ones, and whether any was made.
async fn live_tokens(store: &Store) -> Result<(Vec<ActiveToken>, bool), StoreError> {
    Ok(policy_of(store.tokens().await?))
}

/// The live tokens among `rows`, and whether any token was ever made.
fn policy_of(rows: Vec<TokenRow>) -> (Vec<ActiveToken>, bool) {
    let issued = !rows.is_empty();
    let live = rows
        .into_iter()
        .filter(|row| row.revoked_at.is_none())
        .filter_map(|row| {
            let Some(digest) = SecretDigest::from_hex(&row.digest) else {
                tracing::warn!(token = %row.id, "ignoring a token with a malformed digest");
                return None;
            };
            Some(ActiveToken::new(
                row.id.into(),
                row.role.parse().ok()?,
                digest,
            ))
        })
        .collect();
    (live, issued)
}

/// Create a token; answered with its secret once the policy that accepts it is published.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CreateToken {
    pub role: AccessRole,
    pub name: Option<String>,
    pub reply: oneshot::Sender<Result<IssuedToken, Arc<StoreError>>>,
}

/// Revoke a token; answered `false` if no live token has the id, once the policy without it is
/// published.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RevokeToken {
    pub id: String,
    pub reply: oneshot::Sender<Result<bool, Arc<StoreError>>>,
}

pub struct SecurityManager {
    hive: Hive,
    store: Arc<Slot<StoreManager>>,
    exit: ExitSlot,
}

impl SecurityManager {
    pub fn new(hive: Hive, store: Arc<Slot<StoreManager>>, exit: ExitSlot) -> Self {
        Self { hive, store, exit }
    }

    fn publish(&self, (tokens, issued): (Vec<ActiveToken>, bool)) {
        let before = self.hive.access.load();
        let opened = !before.loaded || before.issued != issued;
        let policy = AccessPolicy {
            tokens,
            issued,
            metrics_open: self.hive.config.metrics_open,
            loaded: true,
        };
        if opened && policy.open() {
            tracing::info!("no API tokens exist: the API is open to loopback clients only");
        } else if opened {
            tracing::info!(live_tokens = policy.tokens.len(), "API tokens required");
        }
        self.hive.access.store(Arc::new(policy));
        self.hive.recovered.send_modify(|r| r.access = true);
    }

    /// Hand the waiting audit entries to the store: one message per flush, however many
    /// requests left them, which bounds this sender's use of the store's mailbox.
    fn flush_audit(&self) {
        let entries = self.hive.audit.take();
        if entries.is_empty() {
            return;
        }
        match self.store.get() {
            Some(store) => self
                .hive
                .kinds
                .store
                .do_send(&store, Persist(Write::Audit(entries))),
            None => self.hive.audit.restore(entries),
        }
    }

    /// Read the tokens again and publish them.
    fn reload(&self, ctx: &mut Context<Self>) {
        let store = self.hive.store.clone();
        ctx.spawn(
            async move { live_tokens(&store).await }
                .into_actor(self)
                .map(|loaded, act, _| match loaded {
                    Ok(tokens) => act.publish(tokens),
                    Err(e) => tracing::warn!(error = %e, "cannot read the API tokens"),
                }),
        );
    }
}

impl Actor for SecurityManager {
    type Context = Context<Self>;

    /// The first read is waited for: no request is judged against a policy without tokens
    /// that the store holds. A store that cannot be read is an error for the supervisor.
    fn started(&mut self, ctx: &mut Context<Self>) {
        let store = self.hive.store.clone();
        ctx.wait(
            async move { live_tokens(&store).await }
                .into_actor(self)
                .map(|loaded, act, ctx| match loaded {
                    Ok(tokens) => act.publish(tokens),
                    Err(e) => {
                        act.exit.fail(format!("cannot read the API tokens: {e}"));
                        ctx.stop();
                    }
                }),
        );
        ctx.run_interval(AUDIT_FLUSH, |act, _| act.flush_audit());
        ctx.run_interval(RELOAD, |act, ctx| {
            act.reload(ctx);
            if let Some(limits) = &*act.hive.rate_limits.load() {
                limits.forget_idle();
            }
        });
    }
}

impl Handler<CreateToken> for SecurityManager {
    type Result = ();

    fn handle(&mut self, msg: CreateToken, ctx: &mut Context<Self>) {
        let (hive, store) = (self.hive.clone(), self.store.clone());
        ctx.wait(
            async move {
                let (row, issued) = new_token(msg.role, msg.name);
                committed(&hive, &store, |reply| Write::CreateToken { row, reply }).await?;
                let tokens = live_tokens(&hive.store).await.map_err(Arc::new)?;
                Ok::<_, Arc<StoreError>>((issued, tokens))
            }
            .into_actor(self)
            .map(move |outcome, act, _| match outcome {
                Ok((issued, tokens)) => {
                    act.publish(tokens);
                    tracing::info!(token = %issued.token.id, role = %issued.token.role, "token created");
                    let _ = msg.reply.send(Ok(issued));
                }
                Err(e) => {
                    let _ = msg.reply.send(Err(e));
                }
            }),
        );
    }
}

impl Handler<RevokeToken> for SecurityManager {
    type Result = ();

    fn handle(&mut self, msg: RevokeToken, ctx: &mut Context<Self>) {
        let (hive, store) = (self.hive.clone(), self.store.clone());
        let id = msg.id.clone();
        ctx.wait(
            async move {
                // Revocations are handled one at a time here, so the token read live is the
                // one this write revokes (unless `hive token revoke` gets there first), and the
                // policy published after it is that read without the token.
                let mut rows = hive.store.tokens().await.map_err(Arc::new)?;
                let live = rows
                    .iter_mut()
                    .find(|t| t.id == id && t.revoked_at.is_none());
                let revoked = match live {
                    Some(row) => {
                        let at = now_ms();
                        row.revoked_at = Some(at);
                        committed(&hive, &store, |reply| Write::RevokeToken { id, at, reply })
                            .await?;
                        true
                    }
                    None => false,
                };
                Ok::<_, Arc<StoreError>>((revoked, policy_of(rows)))
            }
            .into_actor(self)
            .map(move |outcome, act, _| match outcome {
                Ok((revoked, tokens)) => {
                    act.publish(tokens);
                    if revoked {
                        tracing::info!(token = %msg.id, "token revoked");
                    }
                    let _ = msg.reply.send(Ok(revoked));
                }
                Err(e) => {
                    let _ = msg.reply.send(Err(e));
                }
            }),
        );
    }
}

impl Handler<Shutdown> for SecurityManager {
    type Result = ();

    /// The store, started before this manager, stops after it: the last entries reach it.
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        self.flush_audit();
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshots::access::{Caller, Denied};

    fn policy(tokens: &[(&str, AccessRole, &str)]) -> AccessPolicy {
        AccessPolicy {
            tokens: tokens
                .iter()
                .map(|(id, role, secret)| {
                    ActiveToken::new((*id).into(), *role, SecretDigest::of(secret))
                })
                .collect(),
            issued: !tokens.is_empty(),
            metrics_open: false,
            loaded: true,
        }
    }

    #[test]
    fn without_tokens_only_loopback_callers_get_in() {
        let open = policy(&[]);
        let local = "127.0.0.1".parse().ok();
        let remote = "10.1.2.3".parse().ok();
        assert_eq!(open.caller(None, local), Ok(Caller::Anonymous));
        assert_eq!(open.caller(None, remote), Err(Denied::NotLoopback));
    }

    #[test]
    fn a_token_is_recognised_only_by_its_exact_secret() {
        let p = policy(&[
            ("a", AccessRole::Viewer, "hive_aaa"),
            ("b", AccessRole::Admin, "hive_bbb"),
        ]);
        let caller = p.caller(Some("Bearer hive_bbb"), None).unwrap();
        assert_eq!(caller.role(), AccessRole::Admin);
        assert_eq!(caller.actor(), "b");
        for bad in [
            None,
            Some("hive_bbb"),
            Some("Bearer hive_bb"),
            Some("Bearer hive_bbbb"),
            Some("Basic x"),
        ] {
            assert!(
                matches!(p.caller(bad, None), Err(Denied::Unauthenticated(_))),
                "{bad:?}"
            );
        }
    }
}
