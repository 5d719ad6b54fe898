//! The dispatcher: claims the head row of each outbox lane under a lease, delivers it through its
//! provider, and records the outcome. A later row of a lane never overtakes an earlier one that
//! is still retrying, because only lane heads are claimable.

pub mod circuit;
mod deliver;
pub mod pacing;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::redact::Redactor;
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
        // Every line logged while delivering (here, in the provider) carries the delivery id.
        let delivery_id = deliver::delivery_id(item);
        let span = tracing::info_span!("delivery", delivery_id = %delivery_id, provider = %item.provider_id);
        self.deliver_and_record(item, &delivery_id).instrument(span).await;
    }
}

impl Dispatcher {
    async fn deliver_and_record(&self, item: &OutboxItem, delivery_id: &str) {
        let s = &self.services;
        let outcome = redacted(deliver::deliver(s, item).await, &s.redactor);
        match &outcome {
            DeliveryOutcome::Sent { .. } => {
                s.metrics.delivery_sent(&item.provider_id);
                tracing::debug!(delivery_id, "delivered");
            }
            DeliveryOutcome::Retry { at, error } => {
                s.metrics.delivery_retried(&item.provider_id);
                tracing::warn!(delivery_id, attempt = item.attempts + 1, retry_at_ms = at, error = %error, "delivery failed; will retry");
            }
            DeliveryOutcome::Defer { .. } => {}
            DeliveryOutcome::Dead { reason } => {
                s.metrics.delivery_dead_lettered(&item.provider_id);
                tracing::error!(delivery_id, provider = %item.provider_id, reason = %reason, "delivery dead-lettered");
            }
        }
        // A send that succeeded is recorded as sent even if the lease was lost meanwhile (the
        // store guarantees that); a failure's outcome is refused once the binding moved (the new
        // owner decides); a failed write of the outcome is tried again a few times.
        for _ in 0..3 {
            match s.store.record_delivery(item.id, &self.owner, outcome.clone(), s.clock.now_ms()).await {
                Ok(_) | Err(StoreError::Fenced(_)) => return,
                Err(error) => {
                    tracing::warn!(delivery_id, error = %error, "could not record delivery outcome")
                }
            }
        }
    }
}

/// Failure texts come from platforms (error bodies, URLs, headers): they are redacted before
/// they are logged or stored as `lastError`.
fn redacted(outcome: DeliveryOutcome, redactor: &Redactor) -> DeliveryOutcome {
    match outcome {
        DeliveryOutcome::Retry { at, error } => DeliveryOutcome::Retry { at, error: redactor.redact(&error) },
        DeliveryOutcome::Dead { reason } => DeliveryOutcome::Dead { reason: redactor.redact(&reason) },
        other => other,
    }
}
