//! The live configuration's versions. Written straight to the database beside the
//! StoreManager, like the holders' claims: a change is rare, must know at once whether its
//! version number was free (another node may have taken it), and touches no table the writer
//! writes.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::backend::with_conn;
use super::schema::config_versions;
use super::{Store, StoreError};

/// One version of the live settings: all of them after the change, the merge patch that made
/// it, who made it and when (epoch ms).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = config_versions, treat_none_as_default_value = false)]
pub struct ConfigVersion {
    pub version: i64,
    pub settings: String,
    pub patch: String,
    pub author: String,
    pub at: i64,
}

impl Store {
    /// The newest version, if any change was ever stored.
    pub async fn latest_config(&self) -> Result<Option<ConfigVersion>, StoreError> {
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => config_versions::table
            .order(config_versions::version.desc())
            .select(ConfigVersion::as_select())
            .first(c)
            .await
            .optional())?)
    }

    pub async fn config_version(&self, version: i64) -> Result<Option<ConfigVersion>, StoreError> {
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => config_versions::table
            .find(version)
            .select(ConfigVersion::as_select())
            .first(c)
            .await
            .optional())?)
    }

    /// Versions newest first, before `before` if given: at most `limit`.
    pub async fn config_history(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ConfigVersion>, StoreError> {
        let mut conn = self.pool.get().await?;
        Ok(with_conn!(pooled &mut conn, c => config_versions::table
            .filter(config_versions::version.lt(before.unwrap_or(i64::MAX)))
            .order(config_versions::version.desc())
            .limit(limit)
            .select(ConfigVersion::as_select())
            .load(c)
            .await)?)
    }

    /// Store `row` as its version: `false` if that version exists already (another change,
    /// perhaps on another node, came first).
    pub async fn add_config_version(&self, row: &ConfigVersion) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await?;
        let added = with_conn!(pooled &mut conn, c => diesel::insert_into(config_versions::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)
            .await)?;
        Ok(added == 1)
    }
}
