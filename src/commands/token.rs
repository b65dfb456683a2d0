//! `hive token create|list|revoke`: straight on the store, so they work whether or not a server
//! runs.

use std::io::Write as _;

use anyhow::Context as _;

use crate::app::prepare_store;
use crate::cli::TokenCommand;
use crate::domain::time::rfc3339;
use crate::managers::security::{issue, TokenView};
use crate::store::Store;

/// `hive token …`: straight on the store, so they work whether or not a server runs; a running
/// server sees the change at its next read of the tokens (within seconds).
pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        TokenCommand::Create { role, name, store } => {
            let store = Store::new(&prepare_store(&store.config()?).await?);
            let issued = issue(&store, role, name)
                .await
                .context("creating the token")?;
            tracing::info!(token = %issued.token.id, %role, "token created");
            writeln!(out, "{}", issued.secret)?;
        }
        TokenCommand::List { store } => {
            let store = Store::new(&prepare_store(&store.config()?).await?);
            let rows = store.tokens().await.context("reading the tokens")?;
            for token in rows.into_iter().filter_map(TokenView::from_row) {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}",
                    token.id,
                    token.role,
                    rfc3339(token.created_at),
                    token.revoked_at.map_or_else(|| "-".to_owned(), rfc3339),
                    token.name.unwrap_or_default()
                )?;
            }
        }
        TokenCommand::Revoke { id, store } => {
            let store = Store::new(&prepare_store(&store.config()?).await?);
            let at = crate::domain::time::now_ms();
            if !store
                .revoke_token(&id, at)
                .await
                .context("revoking the token")?
            {
                anyhow::bail!("no live token has the id {id}");
            }
            tracing::info!(token = %id, "token revoked");
        }
    }
    Ok(())
}
