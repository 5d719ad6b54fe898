//! The delivery attempt history: one `gw_delivery_attempts` row per attempt (sent, retry,
//! deferred, dead), written in the same transaction as the outcome it describes, and read back
//! for the operator API.
//!
//! The attempt number is the row's `attempts` counter as it stands after the outcome: a retry
//! or a dead letter has just spent its attempt (offset 0); a send and a deferral do not count
//! one, so theirs is the next number (offset 1). After an operator retry resets the budget,
//! numbering starts at 1 again; rows stay in insertion order.

use cowork_cloud::{with_reader, with_writer};

use super::queue::{self, OUTBOX, Outcome};
use super::{GatewayStore, Millis, OutboxId, StoreError, WorkerId};

/// Records an attempt of outbox row `$1`: `$2` offset added to its `attempts`, `$3` time,
/// `$4` outcome, `$5` error.
pub(super) const INSERT_ATTEMPT: &str = "INSERT INTO gw_delivery_attempts (outbox_id, attempt, at, outcome, error) \
     SELECT id, attempts + $2, $3, $4, $5 FROM gw_outbox WHERE id = $1";

/// The newest history rows of one delivery, newest first (reversed by the reader).
const HISTORY: &str = "SELECT attempt, at, outcome, error FROM gw_delivery_attempts \
     WHERE outbox_id = $1 ORDER BY id DESC LIMIT $2";

/// How many history rows a delivery shows (a destination whose circuit stays open defers the
/// same row again and again).
const HISTORY_LIMIT: i64 = 100;

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered.
    Sent,
    /// Failed; retried later.
    Retry,
    /// Not attempted (the destination's circuit was open); no attempt spent.
    Deferred,
    /// Given up.
    Dead,
}

impl AttemptOutcome {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Retry => "retry",
            Self::Deferred => "deferred",
            Self::Dead => "dead",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [Self::Sent, Self::Retry, Self::Deferred, Self::Dead].into_iter().find(|o| o.as_str() == value)
    }

    /// What is added to the row's `attempts` to number this attempt (see the module doc).
    pub(super) fn offset(self) -> i64 {
        match self {
            Self::Retry | Self::Dead => 0,
            Self::Sent | Self::Deferred => 1,
        }
    }
}

/// One recorded attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The attempt number (1-based, restarting after an operator retry).
    pub attempt: u32,
    /// When it ended.
    pub at: Millis,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// Why it failed (as stored: already redacted by the dispatcher).
    pub error: Option<String>,
}

impl GatewayStore {
    /// The attempt history of outbox row `id`, oldest first (at most 100 rows,
    /// the newest ones).
    pub async fn delivery_attempts(&self, id: OutboxId) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let rows = with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, (i64, i64, String, Option<String>)>(HISTORY)
                .bind(id.0)
                .bind(HISTORY_LIMIT)
                .fetch_all(pool)
                .await?
        });
        let mut attempts = rows
            .into_iter()
            .map(|(attempt, at, outcome, error)| {
                let outcome = AttemptOutcome::parse(&outcome)
                    .ok_or_else(|| StoreError::Corrupt(format!("attempt outcome `{outcome}`")))?;
                Ok(DeliveryAttempt { attempt: u32::try_from(attempt).unwrap_or(u32::MAX), at, outcome, error })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        attempts.reverse();
        Ok(attempts)
    }

    /// Applies a retry, deferral or dead letter to outbox row `id` while `owner` holds its claim,
    /// and records the attempt in the same transaction; false when `owner` lost the claim,
    /// [`StoreError::Fenced`] when the row's binding moved (fenced store).
    pub(super) async fn record_outbox_outcome(
        &self,
        id: OutboxId,
        owner: &WorkerId,
        outcome: Outcome,
        attempt: AttemptOutcome,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let backend = self.db.backend();
        let fence = self.fence_param();
        let recorded = with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let recorded = queue::record_in_tx!(tx, backend, &OUTBOX, id.0, owner, &outcome, now, fence.as_deref());
            if recorded == queue::Recorded::Changed {
                sqlx::query(INSERT_ATTEMPT)
                    .bind(id.0)
                    .bind(attempt.offset())
                    .bind(now)
                    .bind(attempt.as_str())
                    .bind(outcome.last_error.as_deref())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            recorded
        });
        self.recorded(recorded)
    }
}
