//! The dispatcher: claims the head row of each outbox lane under a lease, delivers it through its
//! provider, and records the outcome. A later row of a lane never overtakes an earlier one that
//! is still retrying, because only lane heads are claimable.

pub mod circuit;
mod deliver;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::services::Services;
use crate::store::{DeliveryOutcome, Millis, OutboxItem, StoreError, WorkerId};
use crate::worker_loop::{self, QueueStage};

/// Delivers the outbox.
pub struct Dispatcher {
    services: Arc<Services>,
    owner: WorkerId,
}

impl Dispatcher {
    /// A dispatcher with a unique lease owner id.
    pub fn new(services: Arc<Services>) -> Self {
        Self { services, owner: WorkerId(format!("dispatch-{}", uuid::Uuid::new_v4().simple())) }
    }

    /// Runs until `shutdown`, finishing the deliveries in flight.
    pub async fn run(self, shutdown: CancellationToken) {
        let wake = self.services.wake.outbox.clone();
        worker_loop::run(&self, &self.services, wake, shutdown).await;
    }
}

#[async_trait]
impl QueueStage for Dispatcher {
    type Item = OutboxItem;
    const NAME: &'static str = "outbox";

    async fn claim(&self, now: Millis, lease_ms: i64, max: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.services.store.claim_outbox(&self.owner, now, lease_ms, max).await
    }

    async fn next_due(&self) -> Result<Option<Millis>, StoreError> {
        self.services.store.next_outbox_due().await
    }

    async fn process(&self, item: &OutboxItem) {
        let s = &self.services;
        let outcome = deliver::deliver(s, item).await;
        match &outcome {
            DeliveryOutcome::Sent { .. } => tracing::debug!(outbox_id = item.id.0, "delivered"),
            DeliveryOutcome::Retry { at, error } => {
                tracing::warn!(outbox_id = item.id.0, attempt = item.attempts + 1, retry_at_ms = at, error = %error, "delivery failed; will retry")
            }
            DeliveryOutcome::Defer { .. } => {}
            DeliveryOutcome::Dead { reason } => {
                tracing::error!(outbox_id = item.id.0, provider = %item.provider_id, reason = %reason, "delivery dead-lettered")
            }
        }
        // A send that succeeded is recorded as sent even if the lease was lost meanwhile (the
        // store guarantees that); a failed write of the outcome is tried again a few times.
        for _ in 0..3 {
            match s.store.record_delivery(item.id, &self.owner, outcome.clone(), s.clock.now_ms()).await {
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(outbox_id = item.id.0, error = %error, "could not record delivery outcome")
                }
            }
        }
    }
}
