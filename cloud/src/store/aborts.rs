//! Aborts in the store: recording what an `abort` command stops (commands queued before it are
//! cancelled, running ones are told through a `session.aborted` event) and the check a running
//! command's worker makes for that event.

use cowork_cloud_client::{CommandId, EventBody, SessionId};
use sqlx::Row;

use super::commands::{ABORT_KIND, PROMOTE_SQL, promote_next};
use super::events::{EncodedEvent, FENCE_SQL, append_in_tx, require_fence};
use super::{AbortRecord, CloudStore, CommandFence, locked};
use crate::error::StoreError;

/// The stable id of the `session.aborted` event of an abort command (appended at most once).
pub fn aborted_event_id(abort: &CommandId) -> String {
    format!("{abort}:aborted")
}

/// Why a cancelled command ended, stored as its `last_error`.
const CANCELLED: &str = "cancelled by an abort";

impl CloudStore {
    /// Records the abort running under `fence`, in one transaction: commands of its session
    /// submitted before it that have not started, or whose worker died (lease expired), are
    /// marked done without running; if any command was open, a `session.aborted` event tells the
    /// workers of those still running to stop. Answers what it found.
    pub async fn record_abort(&self, fence: &CommandFence, now: i64) -> Result<AbortRecord, StoreError> {
        let backend = self.db.backend();
        let fence_sql = locked(backend, FENCE_SQL, "FOR UPDATE");
        let open_sql = locked(
            backend,
            "SELECT c.command_id, c.state, c.lease_expires_at FROM cloud_commands c \
             WHERE c.session_id = $1 AND c.state IN ('queued', 'pending', 'running') AND c.kind <> $2 \
             AND c.seq < (SELECT a.seq FROM cloud_commands a WHERE a.command_id = $3) ORDER BY c.seq",
            "FOR UPDATE OF c",
        );
        let event = EncodedEvent::new(&EventBody::SessionAborted { command_id: fence.command_id.to_string() })?;
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            require_fence!(tx, &fence_sql, fence);
            let rows = sqlx::query(&open_sql)
                .bind(fence.session_id.as_str())
                .bind(ABORT_KIND)
                .bind(fence.command_id.as_str())
                .fetch_all(&mut *tx)
                .await?;
            let mut record = AbortRecord::default();
            for row in rows {
                let command = CommandId::new(row.try_get::<String, _>("command_id")?);
                let state: String = row.try_get("state")?;
                let lease_expires_at: Option<i64> = row.try_get("lease_expires_at")?;
                let live = state == "running" && lease_expires_at.is_some_and(|expiry| expiry > now);
                if live {
                    record.running.push(command);
                    continue;
                }
                sqlx::query(
                    "UPDATE cloud_commands SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, \
                     last_error = $2, updated_at = $3 WHERE command_id = $1",
                )
                .bind(command.as_str())
                .bind(CANCELLED)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                record.cancelled.push(command);
            }
            if record.stopped_anything() {
                let event_id = aborted_event_id(&fence.command_id);
                let trace = fence.trace.as_ref().map(cowork_cloud_client::TraceParent::as_str);
                append_in_tx!(tx, backend, fence.session_id.as_str(), &event_id, &event, trace, now)?;
            }
            if !record.cancelled.is_empty() {
                // The `session.aborted` append above locked the session row.
                promote_next!(tx, backend, fence.session_id.as_str(), now, locked: true);
            }
            if record.running.is_empty() && !record.cancelled.is_empty() {
                sqlx::query("UPDATE cloud_sessions SET status = 'idle', updated_at = $2 WHERE session_id = $1")
                    .bind(fence.session_id.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(record)
        })
    }

    /// Whether the session got a `session.aborted` event at or after `since_sequence` (the
    /// session's next sequence when the running command was claimed). It reads only the events
    /// since then, through the log's primary key.
    pub async fn abort_requested(&self, session: &SessionId, since_sequence: i64) -> Result<bool, StoreError> {
        crate::with_reader!(&self.db, |pool| {
            let found: Option<i64> = sqlx::query_scalar(
                "SELECT sequence FROM cloud_session_events \
                 WHERE session_id = $1 AND sequence >= $2 AND type = 'session.aborted' LIMIT 1",
            )
            .bind(session.as_str())
            .bind(since_sequence)
            .fetch_optional(pool)
            .await?;
            Ok(found.is_some())
        })
    }
}
