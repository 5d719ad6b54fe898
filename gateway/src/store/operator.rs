//! What the operator API does to the outbox: list and read deliveries, retry one (a fresh
//! attempt budget), dead-letter one, redrive many by filter (with a dry run), and count the
//! backlog per binding.
//!
//! State changes are guarded statements (`... WHERE state IN (...)`), so an operator action can
//! never overwrite a row the dispatcher moved meanwhile: it answers "conflict" instead. The same
//! transaction keeps the lane's head right: a dead-lettered head hands over to the next row, and
//! a retried or redriven row rejoins its lane, ahead of later rows still open there. A row queued
//! behind its lane's head shows as `pending`.

use cowork_cloud::{with_reader, with_writer};
use cowork_providers::{BindingId, ChatRef, ProviderId};

use super::queue::{self, OUTBOX};
use super::{GatewayStore, Millis, OutboxId, PlannedOp, StoreError};

/// The columns of a [`DeliveryRecord`], in [`DeliveryRow`] order.
macro_rules! delivery_columns {
    () => {
        "id, binding_id, provider_id, chat_id, thread_id, operation, state, attempts, next_attempt_at, \
         last_error, provider_message_id, created_at, updated_at"
    };
}

const LIST: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM gw_outbox WHERE ($1 IS NULL OR state = $1 OR ($1 = 'pending' AND state = 'queued'))",
    " AND ($2 IS NULL OR binding_id = $2) AND ($4 IS NULL OR chat_id = $4) AND ($5 IS NULL OR created_at <= $5)",
    " AND ($6 IS NULL OR id < $6) ORDER BY id DESC LIMIT $3"
);

const GET: &str = concat!("SELECT ", delivery_columns!(), " FROM gw_outbox WHERE id = $1");

const STATE_OF: &str = "SELECT state FROM gw_outbox WHERE id = $1";

/// Gives a failed or dead row a fresh budget: `$1` now, `$2` id.
const RETRY: &str = concat!(
    "UPDATE gw_outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, last_error = NULL, ",
    "lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 ",
    "WHERE id = $2 AND state IN ('failed', 'dead') RETURNING lane, ",
    delivery_columns!()
);

/// Gives up on a pending (queued or heading its lane) or failed row: `$1` reason, `$2` now, `$3` id.
const DEAD_LETTER: &str = concat!(
    "UPDATE gw_outbox SET state = 'dead', last_error = $1, lease_owner = NULL, lease_expires_at = NULL, ",
    "updated_at = $2 WHERE id = $3 AND state IN ('queued', 'pending', 'failed') RETURNING lane, ",
    delivery_columns!()
);

/// The rows a redrive selects: `$1` state, `$2` binding or NULL, `$3` limit.
macro_rules! redrive_selection {
    () => {
        "SELECT id FROM gw_outbox WHERE state = $1 AND ($2 IS NULL OR binding_id = $2) ORDER BY id LIMIT $3"
    };
}

const REDRIVE_DRY_RUN: &str = redrive_selection!();

/// Resets the selection (re-checking the state, so a row claimed meanwhile is left alone): `$4` now.
const REDRIVE: &str = concat!(
    "UPDATE gw_outbox SET state = 'pending', attempts = 0, next_attempt_at = $4, last_error = NULL, ",
    "lease_owner = NULL, lease_expires_at = NULL, updated_at = $4 WHERE state = $1 AND id IN (",
    redrive_selection!(),
    ") RETURNING id, lane"
);

const BACKLOG: &str = "SELECT binding_id, state, COUNT(*), MIN(created_at) FROM gw_outbox \
     WHERE state IN ('queued', 'pending', 'claimed', 'failed', 'dead') GROUP BY binding_id, state ORDER BY binding_id";

/// An outbox row's state as the operator API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Being delivered (under a lease).
    Claimed,
    /// Delivered.
    Sent,
    /// Failed; will retry (`retrying` in filters is the same).
    Failed,
    /// Given up.
    Dead,
}

impl DeliveryState {
    /// Every state.
    pub const ALL: [Self; 5] = [Self::Pending, Self::Claimed, Self::Sent, Self::Failed, Self::Dead];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Claimed => "claimed",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    /// Parses a wire name; `retrying` is an alias of `failed`.
    pub fn parse(value: &str) -> Option<Self> {
        if value == "retrying" {
            return Some(Self::Failed);
        }
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The state of a stored row: a row queued behind its lane's head is pending to operators.
    pub(super) fn stored(value: &str) -> Option<Self> {
        match value {
            "queued" => Some(Self::Pending),
            other => Self::ALL.into_iter().find(|s| s.as_str() == other),
        }
    }
}

/// Which deliveries to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeliveryFilter {
    /// Only this state.
    pub state: Option<DeliveryState>,
    /// Only this binding.
    pub binding_id: Option<BindingId>,
    /// At most this many rows.
    pub limit: u32,
    /// Only this chat.
    pub chat_id: Option<String>,
    /// Only rows created at or before this time.
    pub created_before: Option<Millis>,
    /// Only rows older (lower id) than this one: the next page.
    pub before_id: Option<OutboxId>,
}

/// One outbox row as the operator sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryRecord {
    /// The row id (the delivery id is `dlv_<id>`).
    pub id: OutboxId,
    /// The binding.
    pub binding_id: BindingId,
    /// The provider.
    pub provider_id: ProviderId,
    /// Where.
    pub chat: ChatRef,
    /// The operation type (`send`, `edit`; `unknown` when undecodable).
    pub operation: &'static str,
    /// The state.
    pub state: DeliveryState,
    /// Attempts spent from the current budget.
    pub attempts: u32,
    /// When the next attempt is due (pending and failed rows only).
    pub next_attempt_at: Option<Millis>,
    /// Why the last attempt failed, or why the row is dead.
    pub last_error: Option<String>,
    /// The platform's message id, once sent.
    pub provider_message_id: Option<String>,
    /// When the row was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// What an operator action did to one row.
#[derive(Clone, Debug, PartialEq)]
pub enum OperatorChange {
    /// Applied; the row as it is now.
    Applied(Box<DeliveryRecord>),
    /// No such row.
    NotFound,
    /// The row's state does not allow the action.
    Conflict(DeliveryState),
}

/// Which rows a redrive resets.
#[derive(Clone, Debug, PartialEq)]
pub struct RedriveRequest {
    /// Rows in this state (`failed` or `dead`).
    pub state: DeliveryState,
    /// Only this binding.
    pub binding_id: Option<BindingId>,
    /// At most this many, oldest first.
    pub limit: u32,
    /// Only report what would be reset.
    pub dry_run: bool,
}

/// The outbox backlog of one binding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindingBacklog {
    /// The binding.
    pub binding_id: String,
    /// Rows waiting for an attempt.
    pub pending: u64,
    /// Rows being delivered.
    pub claimed: u64,
    /// Rows that failed and will retry.
    pub retrying: u64,
    /// Dead rows (until retention prunes them).
    pub dead: u64,
    /// When the oldest open (pending, claimed or retrying) row was created.
    pub oldest_open_created_at: Option<Millis>,
}

/// A changed row and its lane.
#[derive(sqlx::FromRow)]
struct ChangedRow {
    lane: String,
    #[sqlx(flatten)]
    row: DeliveryRow,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    binding_id: String,
    provider_id: String,
    chat_id: String,
    thread_id: Option<String>,
    operation: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    provider_message_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl DeliveryRow {
    fn decode(self) -> Result<DeliveryRecord, StoreError> {
        let state = DeliveryState::stored(&self.state)
            .ok_or_else(|| StoreError::Corrupt(format!("outbox row {} has state `{}`", self.id, self.state)))?;
        let operation = match serde_json::from_str::<PlannedOp>(&self.operation) {
            Ok(PlannedOp::Send { .. }) => "send",
            Ok(PlannedOp::Edit { .. }) => "edit",
            Ok(PlannedOp::File(_)) => "file",
            Err(_) => "unknown",
        };
        let due = matches!(state, DeliveryState::Pending | DeliveryState::Failed);
        Ok(DeliveryRecord {
            id: OutboxId(self.id),
            binding_id: BindingId::new(self.binding_id),
            provider_id: ProviderId::new(self.provider_id),
            chat: ChatRef { chat_id: self.chat_id, thread_id: self.thread_id },
            operation,
            state,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            next_attempt_at: due.then_some(self.next_attempt_at),
            last_error: self.last_error,
            provider_message_id: self.provider_message_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl GatewayStore {
    /// Outbox rows matching `filter`, newest (highest id) first.
    pub async fn list_deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, DeliveryRow>(LIST)
                .bind(filter.state.map(DeliveryState::as_str))
                .bind(filter.binding_id.as_ref().map(BindingId::as_str))
                .bind(i64::from(filter.limit))
                .bind(filter.chat_id.as_deref())
                .bind(filter.created_before)
                .bind(filter.before_id.map(|id| id.0))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(DeliveryRow::decode).collect()
    }

    /// One outbox row.
    pub async fn delivery(&self, id: OutboxId) -> Result<Option<DeliveryRecord>, StoreError> {
        let row = with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, DeliveryRow>(GET).bind(id.0).fetch_optional(pool).await?
        });
        row.map(DeliveryRow::decode).transpose()
    }

    /// Retries a failed or dead row now with a fresh attempt budget (`attempts` back to 0); it
    /// rejoins its lane ahead of later rows still open there.
    pub async fn retry_delivery(&self, id: OutboxId, now: Millis) -> Result<OperatorChange, StoreError> {
        let backend = self.db.backend();
        let row = with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query_as::<_, ChangedRow>(RETRY).bind(now).bind(id.0).fetch_optional(&mut *tx).await?;
            if let Some(changed) = &changed {
                queue::reopen_lane!(tx, backend, &OUTBOX, &changed.lane);
            }
            tx.commit().await?;
            changed.map(|changed| changed.row)
        });
        self.applied_or_why_not(id, row).await
    }

    /// Dead-letters a pending or failed row with `reason`.
    pub async fn dead_letter_delivery(
        &self,
        id: OutboxId,
        reason: &str,
        now: Millis,
    ) -> Result<OperatorChange, StoreError> {
        let backend = self.db.backend();
        let row = with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query_as::<_, ChangedRow>(DEAD_LETTER)
                .bind(reason)
                .bind(now)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(changed) = &changed {
                queue::close_head!(tx, backend, &OUTBOX, &changed.lane);
            }
            tx.commit().await?;
            changed.map(|changed| changed.row)
        });
        self.applied_or_why_not(id, row).await
    }

    /// Resets the rows `request` selects as [`Self::retry_delivery`] does (or, for a dry run,
    /// only finds them); returns their ids in ascending order.
    pub async fn redrive_deliveries(&self, request: &RedriveRequest, now: Millis) -> Result<Vec<OutboxId>, StoreError> {
        let state = request.state.as_str();
        let binding = request.binding_id.as_ref().map(BindingId::as_str);
        let limit = i64::from(request.limit);
        let backend = self.db.backend();
        let mut ids = if request.dry_run {
            with_reader!(&self.db, |pool| {
                sqlx::query_scalar::<_, i64>(REDRIVE_DRY_RUN)
                    .bind(state)
                    .bind(binding)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            })
        } else {
            with_writer!(&self.db, |pool| {
                let mut tx = pool.begin().await?;
                let rows = sqlx::query_as::<_, (i64, String)>(REDRIVE)
                    .bind(state)
                    .bind(binding)
                    .bind(limit)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                // Lanes in one order, so concurrent redrives lock them without deadlock.
                let lanes: std::collections::BTreeSet<&str> = rows.iter().map(|(_, lane)| lane.as_str()).collect();
                let mut lanes: Vec<&str> = lanes.into_iter().collect();
                lanes.sort_by_key(|lane| queue::lane_lock_key(lane));
                for lane in lanes {
                    queue::reopen_lane!(tx, backend, &OUTBOX, lane);
                }
                tx.commit().await?;
                rows.into_iter().map(|(id, _)| id).collect()
            })
        };
        ids.sort_unstable();
        Ok(ids.into_iter().map(OutboxId).collect())
    }

    /// The outbox backlog of every binding that has open or dead rows, by binding id.
    pub async fn delivery_backlog(&self) -> Result<Vec<BindingBacklog>, StoreError> {
        let rows = with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, (String, String, i64, Option<i64>)>(BACKLOG).fetch_all(pool).await?
        });
        let mut out: Vec<BindingBacklog> = Vec::new();
        for (binding_id, state, count, oldest) in rows {
            if out.last().is_none_or(|b| b.binding_id != binding_id) {
                out.push(BindingBacklog { binding_id: binding_id.clone(), ..BindingBacklog::default() });
            }
            let Some(backlog) = out.last_mut() else { continue };
            let count = u64::try_from(count).unwrap_or(0);
            let open = match state.as_str() {
                "pending" | "queued" => Some(&mut backlog.pending),
                "claimed" => Some(&mut backlog.claimed),
                "failed" => Some(&mut backlog.retrying),
                _ => None,
            };
            match open {
                Some(counter) => {
                    *counter += count;
                    backlog.oldest_open_created_at = match (backlog.oldest_open_created_at, oldest) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                None => backlog.dead = count,
            }
        }
        Ok(out)
    }

    /// The changed row, or why nothing changed (no row, or its state).
    async fn applied_or_why_not(&self, id: OutboxId, row: Option<DeliveryRow>) -> Result<OperatorChange, StoreError> {
        if let Some(row) = row {
            return Ok(OperatorChange::Applied(Box::new(row.decode()?)));
        }
        let state = with_reader!(&self.db, |pool| {
            sqlx::query_scalar::<_, String>(STATE_OF).bind(id.0).fetch_optional(pool).await?
        });
        Ok(match state.as_deref().map(DeliveryState::stored) {
            None => OperatorChange::NotFound,
            Some(Some(state)) => OperatorChange::Conflict(state),
            Some(None) => return Err(StoreError::Corrupt(format!("outbox row {} has an unknown state", id.0))),
        })
    }
}
