//! The durable inbox: accepting verified inbound events (deduplicated, one commit per batch),
//! claiming them per lane under a lease, and recording what became of them.

use cowork_cloud::with_writer;
use cowork_providers::{BindingId, InboundEvent, ProviderId};

use super::queue::{self, ClaimRequest, INBOX, InboxRow, Outcome};
use super::{
    Accepted, GatewayStore, InboxId, InboxItem, InboxOutcome, Millis, NewInbound, StoreError, WorkerId, lane_key,
};

const INSERT: &str = "INSERT INTO gw_inbox (binding_id, provider_id, provider_event_id, lane, \
     payload, state, attempts, next_attempt_at, received_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) \
     ON CONFLICT (binding_id, provider_event_id) DO NOTHING RETURNING id";

const FIND: &str = "SELECT id FROM gw_inbox WHERE binding_id = $1 AND provider_event_id = $2";

/// One inbound event, encoded for its row.
struct InboxInsert<'a> {
    binding_id: &'a str,
    provider_id: &'a str,
    provider_event_id: &'a str,
    lane: String,
    payload: String,
}

impl<'a> InboxInsert<'a> {
    fn encode(item: &'a NewInbound) -> Result<Self, StoreError> {
        let payload = serde_json::to_string(&item.event)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode inbound event: {e}")))?;
        Ok(Self {
            binding_id: item.binding_id.as_str(),
            provider_id: item.provider_id.as_str(),
            provider_event_id: &item.event.provider_event_id,
            lane: lane_key(&item.binding_id, &item.event.chat),
            payload,
        })
    }
}

impl GatewayStore {
    /// Stores a batch of inbound events in one transaction (one commit, the group-commit path).
    /// An event whose (binding, provider event id) is already stored, in the inbox or earlier in
    /// the batch, is reported as a duplicate with the existing row and changes nothing.
    pub async fn accept_inbound(&self, batch: &[NewInbound], now: Millis) -> Result<Vec<Accepted>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let rows = batch.iter().map(InboxInsert::encode).collect::<Result<Vec<_>, _>>()?;
        let lock = queue::lane_lock_sql(self.db.backend());
        let keys = queue::lane_lock_keys(rows.iter().map(|row| row.lane.as_str()));
        let accepted = with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            if let Some(lock) = lock {
                for key in &keys {
                    sqlx::query(lock).bind(*key).execute(&mut *tx).await?;
                }
            }
            let mut accepted = Vec::with_capacity(rows.len());
            for row in &rows {
                let inserted = sqlx::query_scalar::<_, i64>(INSERT)
                    .bind(row.binding_id)
                    .bind(row.provider_id)
                    .bind(row.provider_event_id)
                    .bind(row.lane.as_str())
                    .bind(row.payload.as_str())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let result = match inserted {
                    Some(id) => Accepted { id: InboxId(id), duplicate: false },
                    None => {
                        let id = sqlx::query_scalar::<_, i64>(FIND)
                            .bind(row.binding_id)
                            .bind(row.provider_event_id)
                            .fetch_one(&mut *tx)
                            .await?;
                        Accepted { id: InboxId(id), duplicate: true }
                    }
                };
                accepted.push(result);
            }
            tx.commit().await?;
            accepted
        });
        Ok(accepted)
    }

    /// Claims up to `max` due inbox rows for `owner` until `now + lease_ms`, oldest first: only
    /// the head of each lane, and only when it is due and not under a live lease.
    pub async fn claim_inbox(
        &self,
        owner: &WorkerId,
        now: Millis,
        lease_ms: i64,
        max: usize,
    ) -> Result<Vec<InboxItem>, StoreError> {
        let request = ClaimRequest { owner, now, lease_ms, max };
        queue::claim(&self.db, &INBOX, request, decode_item).await
    }

    /// Records what became of a claimed inbox row; false (and nothing changes) when `owner` no
    /// longer holds the claim. A lease that expired but was not taken over still counts.
    pub async fn record_inbox(
        &self,
        id: InboxId,
        owner: &WorkerId,
        outcome: InboxOutcome,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let outcome = match outcome {
            InboxOutcome::Done => Outcome { state: "done", attempts: 0, next_attempt_at: None, last_error: None },
            InboxOutcome::Retry { at, error } => {
                Outcome { state: "failed", attempts: 1, next_attempt_at: Some(at), last_error: Some(error) }
            }
            InboxOutcome::Dead { reason } => {
                Outcome { state: "dead", attempts: 1, next_attempt_at: None, last_error: Some(reason) }
            }
        };
        queue::record(&self.db, &INBOX, id.0, owner, outcome, now).await
    }

    /// The earliest time an inbox lane head becomes claimable; `None` when nothing is open.
    pub async fn next_inbox_due(&self) -> Result<Option<Millis>, StoreError> {
        queue::next_due(&self.db, &INBOX).await
    }
}

fn decode_item(row: InboxRow) -> (i64, Result<InboxItem, String>) {
    let (id, binding_id, provider_id, payload, attempts) = row;
    let item = serde_json::from_str::<InboundEvent>(&payload)
        .map(|event| InboxItem {
            id: InboxId(id),
            binding_id: BindingId::new(binding_id),
            provider_id: ProviderId::new(provider_id),
            event,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        })
        .map_err(|e| format!("inbound event payload: {e}"));
    (id, item)
}
