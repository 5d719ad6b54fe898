//! Retention: pruning finished queue rows once they are past every redelivery window.

use cowork_cloud::with_writer;

use super::{GatewayStore, Millis, StoreError};

const PRUNE_INBOX: &str = "DELETE FROM gw_inbox WHERE state IN ('done', 'dead') AND updated_at < $1";

/// The attempt history goes with its outbox row.
const PRUNE_ATTEMPTS: &str = "DELETE FROM gw_delivery_attempts WHERE outbox_id IN \
     (SELECT id FROM gw_outbox WHERE state IN ('sent', 'dead') AND updated_at < $1)";

const PRUNE_OUTBOX: &str = "DELETE FROM gw_outbox WHERE state IN ('sent', 'dead') AND updated_at < $1";

/// A thread quiet for that long gets its context again with its next inbound message.
const PRUNE_THREAD_CONTEXTS: &str = "DELETE FROM gw_thread_contexts WHERE updated_at < $1";

impl GatewayStore {
    /// Deletes inbox rows that are done or dead and outbox rows that are sent or dead, last
    /// changed before `before`; returns how many rows went. Open rows are never touched. An
    /// inbox row's dedupe key goes with it, so `before` must lie past the redelivery window.
    pub async fn prune_finished(&self, before: Millis) -> Result<u64, StoreError> {
        let deleted = with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let inbox = sqlx::query(PRUNE_INBOX).bind(before).execute(&mut *tx).await?;
            sqlx::query(PRUNE_ATTEMPTS).bind(before).execute(&mut *tx).await?;
            let outbox = sqlx::query(PRUNE_OUTBOX).bind(before).execute(&mut *tx).await?;
            sqlx::query(PRUNE_THREAD_CONTEXTS).bind(before).execute(&mut *tx).await?;
            tx.commit().await?;
            inbox.rows_affected() + outbox.rows_affected()
        });
        Ok(deleted)
    }
}

/// Takes or renews job `$1` for holder `$2` until `$3` when it is free, lapsed (`$4` now) or
/// already the holder's; returns the holder.
const HOLD_JOB: &str = "INSERT INTO gw_job_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
     WHERE gw_job_leases.holder = excluded.holder OR gw_job_leases.expires_at <= $4 RETURNING holder";

impl GatewayStore {
    /// Takes or renews the lease of job `name` for `holder` for `ttl_ms` by the database's clock;
    /// whether `holder` holds it now (another live holder keeps it).
    pub async fn hold_job(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let now = self.database_now().await?;
        let held = with_writer!(&self.db, |pool| {
            sqlx::query_scalar::<_, String>(HOLD_JOB)
                .bind(name)
                .bind(holder)
                .bind(now.saturating_add(ttl_ms))
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        Ok(held.as_deref() == Some(holder))
    }
}
