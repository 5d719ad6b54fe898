//! The durable inbox: accepting verified inbound events (deduplicated, one commit per batch),
//! claiming them per lane under a lease, and recording what became of them.

use cowork_cloud::with_writer;
use cowork_providers::{BindingId, InboundEvent, ProviderId};

use super::queue::{self, ClaimRequest, INBOX, InboxRow, Outcome};
use super::{
    Accepted, GatewayStore, InboxId, InboxItem, InboxOutcome, Millis, NewInbound, NewRequest, RequestOutcome,
    StoreError, WorkerId, lane_key,
};

const INSERT: &str = "INSERT INTO gw_inbox (binding_id, provider_id, provider_event_id, lane, \
     payload, state, attempts, next_attempt_at, received_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) \
     ON CONFLICT (binding_id, provider_event_id) DO NOTHING RETURNING id";

const FIND: &str = "SELECT id FROM gw_inbox WHERE binding_id = $1 AND provider_event_id = $2";

/// Takes a replay key unless a live one exists (an expired one is renewed); returns a row when taken.
const TAKE_REPLAY_KEY: &str = "INSERT INTO gw_replay_keys (provider_id, replay_key, expires_at) VALUES ($1, $2, $3) \
     ON CONFLICT (provider_id, replay_key) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE gw_replay_keys.expires_at <= $4 RETURNING expires_at";

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
    /// Stores a batch of inbound events in one transaction, without replay keys (see
    /// [`Self::accept_requests`]).
    pub async fn accept_inbound(&self, batch: &[NewInbound], now: Millis) -> Result<Vec<Accepted>, StoreError> {
        let request = NewRequest { events: batch.to_vec(), replay: None };
        match self.accept_requests(std::slice::from_ref(&request), now).await?.pop() {
            Some(RequestOutcome::Accepted(accepted)) => Ok(accepted),
            _ => Ok(Vec::new()),
        }
    }

    /// Stores the events of several requests in one transaction (one commit: the group-commit
    /// path). Per request, in order: when every event is already stored it is a redelivery
    /// (all duplicates, nothing changes); otherwise a live replay key refuses the whole request
    /// ([`RequestOutcome::Replayed`], nothing stored); otherwise the key is taken and each event
    /// inserted, an event whose (binding, provider event id) is already stored (in the inbox or
    /// earlier in the batch) being reported as a duplicate with the existing row.
    pub async fn accept_requests(
        &self,
        requests: &[NewRequest],
        now: Millis,
    ) -> Result<Vec<RequestOutcome>, StoreError> {
        let encoded = requests
            .iter()
            .map(|r| r.events.iter().map(InboxInsert::encode).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        if encoded.iter().all(Vec::is_empty) && requests.iter().all(|r| r.replay.is_none()) {
            return Ok(requests.iter().map(|_| RequestOutcome::Accepted(Vec::new())).collect());
        }
        let lock = queue::lane_lock_sql(self.db.backend());
        let keys = queue::lane_lock_keys(encoded.iter().flatten().map(|row| row.lane.as_str()));
        let outcomes = with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            if let Some(lock) = lock {
                for key in &keys {
                    sqlx::query(lock).bind(*key).execute(&mut *tx).await?;
                }
            }
            let mut outcomes = Vec::with_capacity(requests.len());
            for (request, rows) in requests.iter().zip(&encoded) {
                if let Some(replay) = &request.replay {
                    let mut known = Vec::with_capacity(rows.len());
                    for row in rows {
                        let id: Option<i64> = sqlx::query_scalar(FIND)
                            .bind(row.binding_id)
                            .bind(row.provider_event_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        known.push(id);
                    }
                    if !rows.is_empty() && known.iter().all(Option::is_some) {
                        let all = known.into_iter().flatten().map(|id| Accepted { id: InboxId(id), duplicate: true });
                        outcomes.push(RequestOutcome::Accepted(all.collect()));
                        continue;
                    }
                    let taken: Option<i64> = sqlx::query_scalar(TAKE_REPLAY_KEY)
                        .bind(replay.provider_id.as_str())
                        .bind(replay.key.as_str())
                        .bind(replay.expires_at)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if taken.is_none() {
                        outcomes.push(RequestOutcome::Replayed);
                        continue;
                    }
                }
                let mut accepted = Vec::with_capacity(rows.len());
                for row in rows {
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
                outcomes.push(RequestOutcome::Accepted(accepted));
            }
            tx.commit().await?;
            outcomes
        });
        Ok(outcomes)
    }

    /// Deletes replay keys whose window has passed.
    pub async fn prune_replay_keys(&self, now: Millis) -> Result<u64, StoreError> {
        let deleted = with_writer!(&self.db, |pool| {
            sqlx::query("DELETE FROM gw_replay_keys WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted)
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
