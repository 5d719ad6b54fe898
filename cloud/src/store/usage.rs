//! Quota accounting: fixed-window counters consumed atomically, and the depth of a session's
//! command queue.

use cowork_cloud_client::SessionId;

use super::CloudStore;
use crate::error::StoreError;

/// Counts one use of quota `$1` in the window starting at `$2` unless it holds `$3`; returns
/// the new quantity, or no row when the window is full.
pub(super) const QUOTA_SQL: &str = "INSERT INTO cloud_usage_counters (quota_key, window_starts_at, quantity) \
    VALUES ($1, $2, 1) ON CONFLICT (quota_key) DO UPDATE SET \
    quantity = CASE WHEN cloud_usage_counters.window_starts_at = excluded.window_starts_at \
               THEN cloud_usage_counters.quantity + 1 ELSE 1 END, \
    window_starts_at = excluded.window_starts_at \
    WHERE cloud_usage_counters.window_starts_at <> excluded.window_starts_at \
       OR cloud_usage_counters.quantity < $3 \
    RETURNING quantity";

impl CloudStore {
    /// Counts one use of `quota_key` in the window starting at `window_starts_at`, unless the
    /// window already holds `limit`; answers whether it was counted. One statement, so two
    /// processes can never both take the last unit.
    pub async fn consume_quota(&self, quota_key: &str, window_starts_at: i64, limit: u64) -> Result<bool, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let counted: Option<i64> = crate::with_writer!(&self.db, |pool| {
            sqlx::query_scalar(QUOTA_SQL)
                .bind(quota_key)
                .bind(window_starts_at)
                .bind(limit)
                .fetch_optional(pool)
                .await?
        });
        Ok(counted.is_some())
    }

    /// Commands of a session not finished yet (waiting or running).
    pub async fn open_commands(&self, session: &SessionId) -> Result<u64, StoreError> {
        let count: i64 = crate::with_writer!(&self.db, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM cloud_commands WHERE session_id = $1 \
                 AND state IN ('queued', 'pending', 'running')",
            )
            .bind(session.as_str())
            .fetch_one(pool)
            .await?
        });
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
