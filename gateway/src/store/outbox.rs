//! The durable outbox: enqueuing planned operations, claiming them per lane under a lease,
//! recording delivery outcomes, and the platform message ids later edits need.

use std::collections::HashMap;

use cowork_cloud::database::{Database, all_or_none, interrupted};
use cowork_cloud::{with_reader, with_writer};
use cowork_providers::{BindingId, ChatRef, ProviderId};
use sqlx::QueryBuilder;

use super::attempts::{AttemptOutcome, INSERT_ATTEMPT};
use super::queue::{self, ClaimRequest, OUTBOX, OutboxRow, Outcome};
use super::{
    DeliveryOutcome, DeliveryState, GatewayStore, Millis, NewOutbound, OutboxId, OutboxItem, PlannedOp, StoreError,
    WorkerId, lane_key,
};

const MARK_SENT: &str = "UPDATE gw_outbox SET state = 'sent', provider_message_id = $1, \
     lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 \
     WHERE id = $3 AND state <> 'sent' RETURNING binding_id, message_key, operation, lane";

const SET_MESSAGE_ID: &str = "INSERT INTO gw_message_refs (binding_id, message_key, \
     provider_message_id) VALUES ($1, $2, $3) ON CONFLICT (binding_id, message_key) \
     DO UPDATE SET provider_message_id = excluded.provider_message_id";

const MESSAGE_REF: &str = "SELECT provider_message_id FROM gw_message_refs \
     WHERE binding_id = $1 AND message_key = $2";

/// Where one outbox row stands, found by its dedupe key.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxStanding {
    /// The row.
    pub id: OutboxId,
    /// Its state.
    pub state: DeliveryState,
    /// Why its last attempt failed (a dead row's reason).
    pub last_error: Option<String>,
}

impl GatewayStore {
    /// Inserts outbox rows in one transaction; rows whose dedupe key is known are ignored.
    pub async fn enqueue_outbound(&self, items: &[NewOutbound], now: Millis) -> Result<(), StoreError> {
        self.write_render(None, items, &[], &[], now).await?;
        Ok(())
    }

    /// Claims up to `max` due outbox rows for `owner` until `now + lease_ms`, oldest first: only
    /// the head of each lane, and only when it is due and not under a live lease.
    pub async fn claim_outbox(
        &self,
        owner: &WorkerId,
        now: Millis,
        lease_ms: i64,
        max: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let fence = self.fence_param();
        let request = ClaimRequest { owner, now, lease_ms, max, fence: fence.as_deref() };
        queue::claim(&self.db, &OUTBOX, request, decode_item).await
    }

    /// The rows with these dedupe keys, by key (unknown keys are absent).
    pub async fn outbox_standing(&self, keys: &[String]) -> Result<HashMap<String, OutboxStanding>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = with_reader!(&self.db, |pool| {
            let mut select =
                QueryBuilder::new("SELECT dedupe_key, id, state, last_error FROM gw_outbox WHERE dedupe_key IN (");
            let mut keys_list = select.separated(", ");
            for key in keys {
                keys_list.push_bind(key.as_str());
            }
            select.push(")");
            let rows: Vec<(String, i64, String, Option<String>)> = select.build_query_as().fetch_all(pool).await?;
            rows
        });
        rows.into_iter()
            .map(|(key, id, state, last_error)| {
                let state = DeliveryState::stored(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("outbox row {id} has state {state}")))?;
                Ok((key, OutboxStanding { id: OutboxId(id), state, last_error }))
            })
            .collect()
    }

    /// The platform message id remembered for `key`: `None` when the key is unknown,
    /// `Some(None)` while its send has not been delivered yet.
    pub async fn message_ref(&self, binding: &BindingId, key: &str) -> Result<Option<Option<String>>, StoreError> {
        let found = with_reader!(&self.db, |pool| {
            sqlx::query_scalar::<_, Option<String>>(MESSAGE_REF)
                .bind(binding.as_str())
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(found)
    }

    /// Whether a later row of `item`'s lane changes the same message and still waits (so the
    /// edit in `item` is moot).
    pub async fn later_edit_waiting(&self, item: &OutboxItem) -> Result<bool, StoreError> {
        let Some(key) = &item.message_key else { return Ok(false) };
        let lane = lane_key(&item.binding_id, &item.chat);
        let found = with_reader!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT id FROM gw_outbox WHERE lane = $1 AND id > $2 AND message_key = $3 \
                 AND state IN ('queued', 'pending', 'claimed', 'failed') LIMIT 1",
            )
            .bind(lane)
            .bind(item.id.0)
            .bind(key)
            .fetch_optional(pool)
            .await?
        });
        Ok(found.is_some())
    }

    /// Records one delivery attempt and its `gw_delivery_attempts` history row in one
    /// transaction; returns whether a row changed.
    ///
    /// `Sent` is recorded even when the lease was lost meanwhile (a delivered message must never
    /// end up failed or dead), unless the row is already sent; for a send with a message key it
    /// also stores the platform id for later edits, in the same transaction. `Retry`, `Defer` and
    /// `Dead` apply only while `owner` holds the claim.
    pub async fn record_delivery(
        &self,
        id: OutboxId,
        owner: &WorkerId,
        outcome: DeliveryOutcome,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let (outcome, attempt) = match outcome {
            DeliveryOutcome::Sent { provider_message_id } => {
                return self.mark_sent(id, &provider_message_id, now).await;
            }
            DeliveryOutcome::Retry { at, error } => (
                Outcome { state: "failed", attempts: 1, next_attempt_at: Some(at), last_error: Some(error) },
                AttemptOutcome::Retry,
            ),
            DeliveryOutcome::Defer { at } => (
                Outcome { state: "pending", attempts: 0, next_attempt_at: Some(at), last_error: None },
                AttemptOutcome::Deferred,
            ),
            DeliveryOutcome::Dead { reason } => (
                Outcome { state: "dead", attempts: 1, next_attempt_at: None, last_error: Some(reason) },
                AttemptOutcome::Dead,
            ),
        };
        self.record_outbox_outcome(id, owner, outcome, attempt, now).await
    }

    /// The earliest time an outbox lane head becomes claimable; `None` when nothing is open.
    pub async fn next_outbox_due(&self) -> Result<Option<Millis>, StoreError> {
        queue::next_due(&self.db, &OUTBOX).await
    }

    async fn mark_sent(&self, id: OutboxId, provider_message_id: &str, now: Millis) -> Result<bool, StoreError> {
        let request = SentRequest { id, provider_message_id: provider_message_id.to_owned(), now };
        let db = self.db.clone();
        self.batches.sent.submit(request, move |requests| mark_sent_batch(db, requests), interrupted).await
    }
}

/// A sent delivery waiting for its group commit.
pub(super) struct SentRequest {
    id: OutboxId,
    provider_message_id: String,
    now: Millis,
}

/// Marks each row sent (unless it already is), closes its lane head, keeps the platform id of a
/// message it created and records the attempt, all in one transaction: a group commit, where a
/// database error fails every request.
async fn mark_sent_batch(db: Database, requests: Vec<SentRequest>) -> Vec<Result<bool, StoreError>> {
    let count = requests.len();
    let backend = db.backend();
    let written: Result<Vec<bool>, StoreError> = async {
        let changed = with_writer!(&db, |pool| {
            let mut tx = pool.begin().await?;
            let mut changed = Vec::with_capacity(count);
            for request in &requests {
                let row = sqlx::query_as::<_, (String, Option<String>, String, String)>(MARK_SENT)
                    .bind(&request.provider_message_id)
                    .bind(request.now)
                    .bind(request.id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((binding_id, message_key, operation, lane)) = row else {
                    changed.push(false);
                    continue;
                };
                queue::close_head!(tx, backend, &OUTBOX, &lane);
                if let Some(key) = sends_message(request.id, message_key, &operation) {
                    sqlx::query(SET_MESSAGE_ID)
                        .bind(binding_id)
                        .bind(key)
                        .bind(&request.provider_message_id)
                        .execute(&mut *tx)
                        .await?;
                }
                let sent = AttemptOutcome::Sent;
                sqlx::query(INSERT_ATTEMPT)
                    .bind(request.id.0)
                    .bind(sent.offset())
                    .bind(request.now)
                    .bind(sent.as_str())
                    .bind(None::<&str>)
                    .execute(&mut *tx)
                    .await?;
                changed.push(true);
            }
            tx.commit().await?;
            changed
        });
        Ok(changed)
    }
    .await;
    all_or_none(written, count)
}

/// The message key whose platform id a sent row establishes: a send's key, if any. An
/// undecodable operation is logged and skipped: the row is still recorded as sent.
fn sends_message(id: OutboxId, message_key: Option<String>, operation: &str) -> Option<String> {
    let key = message_key?;
    match serde_json::from_str::<PlannedOp>(operation) {
        Ok(PlannedOp::Send { .. }) => Some(key),
        Ok(PlannedOp::Edit { .. } | PlannedOp::File(_)) => None,
        Err(error) => {
            tracing::warn!(id = id.0, %error, "sent outbox row has an undecodable operation");
            None
        }
    }
}

fn decode_item(row: OutboxRow) -> (i64, Result<OutboxItem, String>) {
    let (id, dedupe_key, binding_id, provider_id, chat_id, thread_id, message_key, op, attempts, trace) = row;
    let item = serde_json::from_str::<PlannedOp>(&op)
        .map(|op| OutboxItem {
            id: OutboxId(id),
            dedupe_key,
            binding_id: BindingId::new(binding_id),
            provider_id: ProviderId::new(provider_id),
            chat: ChatRef { chat_id, thread_id },
            message_key,
            op,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            trace: trace.as_deref().and_then(cowork_cloud_client::TraceParent::parse),
        })
        .map_err(|e| format!("planned operation: {e}"));
    (id, item)
}

/// The lane an outbox row belongs to.
pub(super) fn outbound_lane(item: &NewOutbound) -> String {
    lane_key(&item.binding_id, &item.chat)
}
