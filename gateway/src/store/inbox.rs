//! The durable inbox after acceptance (see `accept.rs`): claiming events per lane under a
//! lease, recording what became of them, and forgetting expired replay keys.

use cowork_cloud::database::interrupted;
use cowork_cloud::with_writer;
use cowork_cloud_client::TraceParent;
use cowork_providers::{BindingId, InboundEvent, ProviderId};

use super::queue::{self, ClaimRequest, INBOX, InboxRow, Outcome};
use super::{GatewayStore, InboxId, InboxItem, InboxOutcome, Millis, StoreError, WorkerId};

impl GatewayStore {
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
        let fence = self.fence_param();
        let request = ClaimRequest { owner, now, lease_ms, max, fence: fence.as_deref() };
        queue::claim(&self.db, &INBOX, request, decode_item).await
    }

    /// Records what became of a claimed inbox row; false (and nothing changes) when `owner` no
    /// longer holds the claim. A lease that expired but was not taken over still counts. On a
    /// fenced store, [`StoreError::Fenced`] when the row's binding moved.
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
        let request = queue::RecordRequest {
            sql: &INBOX,
            id: id.0,
            owner: owner.clone(),
            outcome,
            now,
            fence: self.fence_param(),
        };
        let db = self.db.clone();
        let recorded = self
            .batches
            .inbox_outcomes
            .submit(request, move |requests| queue::record_batch(db, requests), interrupted)
            .await?;
        self.recorded(recorded)
    }

    /// The earliest time an inbox lane head becomes claimable; `None` when nothing is open.
    pub async fn next_inbox_due(&self) -> Result<Option<Millis>, StoreError> {
        queue::next_due(&self.db, &INBOX).await
    }
}

fn decode_item(row: InboxRow) -> (i64, Result<InboxItem, String>) {
    let (id, binding_id, provider_id, payload, attempts, trace) = row;
    let item = serde_json::from_str::<InboundEvent>(&payload)
        .map(|event| InboxItem {
            id: InboxId(id),
            binding_id: BindingId::new(binding_id),
            provider_id: ProviderId::new(provider_id),
            event,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            trace: trace.as_deref().and_then(TraceParent::parse),
        })
        .map_err(|e| format!("inbound event payload: {e}"));
    (id, item)
}
