//! API tokens and the audit log in the store.
//!
//! The server writes tokens through the StoreManager, the only writer, like everything else it
//! writes (`Write::CreateToken`, `Write::RevokeToken`): a token write that waited for the
//! database's lock on a readers' connection would hold that connection, and readers would run
//! out of them while a commit was slow. The writes here are the command line's (`hive token
//! create`, `hive token revoke`), which needs no server. Audit entries ride the group commit.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::backend::with_conn;
use super::models::{AuditRow, TokenRow};
use super::schema::{api_tokens, audit_log};
use super::{Store, StoreError};

impl Store {
    /// Every token, revoked ones included, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => api_tokens::table
            .select(TokenRow::as_select())
            .order(api_tokens::created_at.asc())
            .load(c)
            .await)?)
    }

    pub async fn create_token(&self, row: &TokenRow) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await?;
        with_conn!(pooled &mut conn, c => diesel::insert_into(api_tokens::table)
            .values(row)
            .execute(c)
            .await)?;
        Ok(())
    }

    /// Revoke a live token; `false` if no live token has that id.
    pub async fn revoke_token(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await?;
        let changed = with_conn!(pooled &mut conn, c => revocation(id, at).execute(c).await)?;
        Ok(changed == 1)
    }

    /// Audit entries after the cursor, oldest first, optionally of one actor.
    pub async fn audit(
        &self,
        actor: Option<&str>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => {
            let mut query = audit_log::table.select(AuditRow::as_select()).into_boxed();
            if let Some(actor) = actor {
                query = query.filter(audit_log::actor.eq(actor.to_owned()));
            }
            if let Some(after) = after {
                query = query.filter(audit_log::id.gt(after));
            }
            query.order(audit_log::id.asc()).limit(limit).load(c).await
        })?)
    }
}

/// Mark the live token `id` revoked at `at`: the one statement of a revocation, run by the
/// command line here and by the server's writer in its batch.
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn revocation<'a>(id: &'a str, at: i64) -> _ {
    let revoked: Option<i64> = Some(at);
    diesel::dsl::update(
        api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(revoked))
}
