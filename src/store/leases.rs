//! Node leases, on PostgreSQL (several nodes need it; one SQLite file has one server). Every
//! time is the database's own (`clock_timestamp()`), so nodes whose clocks disagree still agree
//! on whose lease has run out.

use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::backend::Pooled;
use super::{Store, StoreError};

/// Now, in milliseconds since the epoch, on the database's clock.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

#[derive(diesel::QueryableByName)]
struct Epoch {
    #[diesel(sql_type = BigInt)]
    epoch: i64,
}

impl Store {
    /// Take `node`'s lease for `lease_ms` at start, fencing any earlier holder of the name (a
    /// previous run of this node); answers the epoch this run holds.
    pub async fn claim_lease(&self, node: &str, lease_ms: i64) -> Result<i64, StoreError> {
        let mut conn = self.pool.get().await?;
        let Pooled::Postgres(c) = &mut conn else {
            return Err(StoreError::Corrupt("leases need PostgreSQL".into()));
        };
        let row: Epoch = diesel::sql_query(format!(
            "INSERT INTO node_leases (node, expires_at, epoch) VALUES ($1, {NOW_MS} + $2, 1) \
             ON CONFLICT (node) DO UPDATE SET epoch = node_leases.epoch + 1, \
             expires_at = EXCLUDED.expires_at RETURNING epoch"
        ))
        .bind::<Text, _>(node)
        .bind::<BigInt, _>(lease_ms)
        .get_result(&mut **c)
        .await?;
        Ok(row.epoch)
    }

    /// Extend the lease `node` holds at `epoch`; `false` if another node fenced it meanwhile.
    pub async fn renew_lease(
        &self,
        node: &str,
        epoch: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await?;
        let Pooled::Postgres(c) = &mut conn else {
            return Err(StoreError::Corrupt("leases need PostgreSQL".into()));
        };
        let renewed = diesel::sql_query(format!(
            "UPDATE node_leases SET expires_at = {NOW_MS} + $3 WHERE node = $1 AND epoch = $2"
        ))
        .bind::<Text, _>(node)
        .bind::<BigInt, _>(epoch)
        .bind::<BigInt, _>(lease_ms)
        .execute(&mut **c)
        .await?;
        Ok(renewed == 1)
    }

    /// Fence `node` if its lease has run out: its renewals fail from now on. `true` when it was
    /// fenced (or never held a lease); `false` while it is alive by the database's clock.
    pub async fn fence_lapsed(&self, node: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool.get().await?;
        let Pooled::Postgres(c) = &mut conn else {
            return Err(StoreError::Corrupt("leases need PostgreSQL".into()));
        };
        let fenced = diesel::sql_query(format!(
            "UPDATE node_leases SET epoch = epoch + 1, expires_at = {NOW_MS} \
             WHERE node = $1 AND expires_at < {NOW_MS}"
        ))
        .bind::<Text, _>(node)
        .execute(&mut **c)
        .await?;
        if fenced == 1 {
            return Ok(true);
        }
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let held: Count =
            diesel::sql_query("SELECT count(*) AS n FROM node_leases WHERE node = $1")
                .bind::<Text, _>(node)
                .get_result(&mut **c)
                .await?;
        Ok(held.n == 0)
    }

    /// Nodes whose lease has run out and that hold unfinished tasks: lost, whatever Redis says.
    pub async fn lapsed_nodes(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.get().await?;
        let Pooled::Postgres(c) = &mut conn else {
            return Ok(Vec::new());
        };
        #[derive(diesel::QueryableByName)]
        struct Node {
            #[diesel(sql_type = Text)]
            node: String,
        }
        let nodes: Vec<Node> = diesel::sql_query(format!(
            "SELECT l.node FROM node_leases l WHERE l.expires_at < {NOW_MS} AND EXISTS \
             (SELECT 1 FROM tasks t WHERE t.node = l.node AND t.status IN ('queued', 'running'))"
        ))
        .load(&mut **c)
        .await?;
        Ok(nodes.into_iter().map(|n| n.node).collect())
    }
}
