//! The dispatcher: claims the head row of each outbox lane under a lease, delivers it through its
//! provider, and records the outcome. A later row of a lane never overtakes an earlier one that
//! is still retrying, because only lane heads are claimable.

mod deliver;

use std::sync::Arc;

use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::services::Services;
use crate::store::{DeliveryOutcome, OutboxItem, WorkerId};
use crate::worker_loop::{Round, run_rounds, until};

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
        let poll = self.services.settings.poll_interval;
        run_rounds(shutdown, wake, poll, || self.round()).await;
    }

    /// Delivers every row that is due now; returns when none is left (for tests).
    pub async fn run_until_idle(&self) {
        while let Round::Busy = self.round().await {}
    }

    async fn round(&self) -> Round {
        let s = &self.services;
        let now = s.clock.now_ms();
        let lease = s.settings.lease.as_millis() as i64;
        let items = match s.store.claim_outbox(&self.owner, now, lease, s.settings.batch).await {
            Ok(items) => items,
            Err(error) => {
                tracing::warn!(error = %error, "outbox claim failed; retrying");
                return Round::Idle(None);
            }
        };
        if items.is_empty() {
            let due = s.store.next_outbox_due().await.unwrap_or(None);
            return Round::Idle(until(due, s.clock.now_ms()));
        }
        join_all(items.iter().map(|item| self.process(item))).await;
        Round::Busy
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
        // A send that succeeded is recorded as sent even if the lease was lost meanwhile; the
        // store guarantees that, so a bookkeeping hiccup never turns a delivered message dead.
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
