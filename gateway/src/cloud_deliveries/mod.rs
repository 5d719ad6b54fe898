//! The cloud's delivery queue, relayed through the outbox (split mode). Deliveries claimed over
//! the cloud's delivery stream become outbox rows (one per delivery, by dedupe key), so they go
//! out in order with the replies of the same chat, under the outbox's retries and operator
//! tools. The claim is renewed while its row is open and acked when the row settles: `sent`
//! once delivered, `dead` once given up.
//!
//! Nothing is kept but the outbox: after a restart the cloud offers the unacked deliveries again
//! once their claims lapse, and each maps onto its existing row, so a delivered one is acked
//! `sent` without a second send. A delivery offered again whose row is dead (retried in the
//! cloud, or its `dead` ack was lost) gets its row retried: the cloud's attempt budget bounds it.

mod plan;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use cowork_cloud_client::http::{ClaimedDelivery, CloudClient, CloudError, DeliveryAck, DeliveryStreamRequest};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::services::Services;
use crate::store::{DeliveryState, Millis, OutboxStanding};

pub use plan::dedupe_key;

/// How often open claims are checked against their rows.
const SETTLE_EVERY: Duration = Duration::from_millis(250);

/// How many deliveries one outbox transaction takes.
const BATCH: usize = 64;

/// How many renewals and acks run at once.
const CALLS_IN_FLIGHT: usize = 16;

/// The reason given when a dead row has none.
const GAVE_UP: &str = "The gateway gave up delivering it.";

/// The relay's settings.
#[derive(Clone, Debug)]
pub struct RelaySettings {
    /// The bindings whose deliveries this gateway takes.
    pub channel_binding_ids: Vec<String>,
    /// How long a claim lasts between renewals.
    pub claim_ttl: Duration,
    /// The most claims held at once (reading the stream pauses beyond it).
    pub max_open_claims: usize,
}

/// Relays the cloud's deliveries into the outbox.
pub struct CloudDeliveries {
    services: Arc<Services>,
    client: CloudClient,
    settings: RelaySettings,
    feed: tokio::sync::mpsc::Receiver<ClaimedDelivery>,
}

/// A claim this gateway holds.
struct OpenClaim {
    delivery: ClaimedDelivery,
    /// When to renew it next.
    renew_at: Millis,
    /// Whether its row has been looked at since the claim (a dead row at first sight is retried).
    seen: bool,
}

/// What to do about one open claim.
enum Step {
    Ack(DeliveryAck),
    Renew,
    Retry(crate::store::OutboxId),
    Forget,
}

impl CloudDeliveries {
    /// Opens the delivery stream (under a claimant name of its own) until `shutdown`, keeping
    /// `connected` telling whether it is open.
    pub fn open(
        services: Arc<Services>,
        client: CloudClient,
        settings: RelaySettings,
        connected: Arc<AtomicBool>,
        shutdown: CancellationToken,
    ) -> Self {
        let request = DeliveryStreamRequest {
            claimed_by: format!("gateway:{}", uuid::Uuid::new_v4().simple()),
            ttl: settings.claim_ttl,
            channel_binding_ids: settings.channel_binding_ids.clone(),
        };
        let feed = client.follow_deliveries(request, BATCH, connected, shutdown);
        Self { services, client, settings, feed }
    }

    /// Runs until `shutdown`. Claims still open then lapse in the cloud and come back.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut open: HashMap<String, OpenClaim> = HashMap::new();
        let mut tick = tokio::time::interval(SETTLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let room = self.settings.max_open_claims.saturating_sub(open.len());
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = self.feed.recv(), if room > 0 => {
                    let Some(first) = received else { return };
                    let mut batch = vec![first];
                    while batch.len() < BATCH.min(room) {
                        let Ok(next) = self.feed.try_recv() else { break };
                        batch.push(next);
                    }
                    self.accept(batch, &mut open).await;
                    self.settle(&mut open).await;
                }
                _ = tick.tick() => self.settle(&mut open).await,
            }
        }
    }

    /// Writes the batch's rows in one transaction and holds their claims; a delivery that can
    /// never go out here is acked dead at once.
    async fn accept(&self, batch: Vec<ClaimedDelivery>, open: &mut HashMap<String, OpenClaim>) {
        let now = self.services.clock.now_ms();
        let mut rows = Vec::with_capacity(batch.len());
        let mut held = Vec::with_capacity(batch.len());
        for delivery in batch {
            match plan::outbound(&delivery, &self.services.providers) {
                Ok(row) => {
                    rows.push(row);
                    held.push(delivery);
                }
                Err(reason) => {
                    tracing::warn!(delivery = %delivery.delivery_id, %reason, "cloud delivery cannot be delivered");
                    if let Err(error) = self.client.ack_delivery(&delivery, &DeliveryAck::Dead(reason)).await {
                        tracing::warn!(delivery = %delivery.delivery_id, %error, "acking a cloud delivery dead failed");
                    }
                }
            }
        }
        if rows.is_empty() {
            return;
        }
        // Not stored, not held: the claims lapse and the cloud offers them again.
        if let Err(error) = self.services.store.enqueue_outbound(&rows, now).await {
            tracing::warn!(%error, count = rows.len(), "cloud deliveries could not be written to the outbox");
            return;
        }
        self.services.wake.outbox.notify_one();
        let renew_at = now + self.renew_after();
        for delivery in held {
            open.insert(dedupe_key(&delivery), OpenClaim { delivery, renew_at, seen: false });
        }
    }

    /// Acks the claims whose rows settled, renews those due, retries dead rows offered again.
    async fn settle(&self, open: &mut HashMap<String, OpenClaim>) {
        if open.is_empty() {
            return;
        }
        let keys: Vec<String> = open.keys().cloned().collect();
        let standing = match self.services.store.outbox_standing(&keys).await {
            Ok(standing) => standing,
            Err(error) => {
                tracing::warn!(%error, "reading the outbox for cloud deliveries failed");
                return;
            }
        };
        let now = self.services.clock.now_ms();
        let mut steps = Vec::new();
        for (key, claim) in open.iter_mut() {
            let first_sight = !std::mem::replace(&mut claim.seen, true);
            if let Some(step) = next_step(standing.get(key), first_sight, now >= claim.renew_at) {
                steps.push((key.clone(), claim.delivery.clone(), step));
            }
        }
        let results: Vec<(String, Result<Step, CloudError>)> = futures::stream::iter(steps)
            .map(|(key, delivery, step)| async move {
                let result = self.perform(&delivery, &step, now).await.map(|()| step);
                (key, result)
            })
            .buffer_unordered(CALLS_IN_FLIGHT)
            .collect()
            .await;
        for (key, result) in results {
            match result {
                Ok(Step::Renew) => {
                    if let Some(claim) = open.get_mut(&key) {
                        claim.renew_at = now + self.renew_after();
                    }
                }
                Ok(Step::Retry(_)) => {}
                Ok(Step::Ack(_) | Step::Forget) => {
                    open.remove(&key);
                }
                // The claim lapsed, or the delivery changed in the cloud: the row still goes out
                // (or has), and if the cloud offers it again it maps onto the same row.
                Err(CloudError::NotFound(_)) => {
                    tracing::info!(key, "the claim on a cloud delivery is gone; letting it go");
                    open.remove(&key);
                }
                Err(error) => tracing::warn!(key, %error, "updating a cloud delivery failed; trying again"),
            }
        }
    }

    async fn perform(&self, delivery: &ClaimedDelivery, step: &Step, now: Millis) -> Result<(), CloudError> {
        match step {
            Step::Ack(ack) => self.client.ack_delivery(delivery, ack).await,
            Step::Renew => self.client.renew_delivery(delivery, self.settings.claim_ttl).await,
            Step::Retry(id) => {
                match self.services.store.retry_delivery(*id, now).await {
                    Ok(_) => self.services.wake.outbox.notify_one(),
                    Err(error) => tracing::warn!(%error, "retrying the outbox row of a cloud delivery failed"),
                }
                Ok(())
            }
            Step::Forget => Ok(()),
        }
    }

    /// Renewals come at half the claim's life, so one lost renewal still leaves time for another.
    fn renew_after(&self) -> Millis {
        i64::try_from(self.settings.claim_ttl.as_millis() / 2).unwrap_or(i64::MAX)
    }
}

/// What an open claim needs, given its row: `None` while nothing is due.
fn next_step(row: Option<&OutboxStanding>, first_sight: bool, renewal_due: bool) -> Option<Step> {
    let Some(row) = row else {
        // The row is gone (pruned long after it was sent): nothing here to settle it by.
        return Some(Step::Forget);
    };
    match row.state {
        DeliveryState::Sent => Some(Step::Ack(DeliveryAck::Sent)),
        DeliveryState::Dead if first_sight => Some(Step::Retry(row.id)),
        DeliveryState::Dead => {
            Some(Step::Ack(DeliveryAck::Dead(row.last_error.clone().unwrap_or_else(|| GAVE_UP.into()))))
        }
        DeliveryState::Pending | DeliveryState::Claimed | DeliveryState::Failed => renewal_due.then_some(Step::Renew),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OutboxId;

    fn row(state: DeliveryState, last_error: Option<&str>) -> OutboxStanding {
        OutboxStanding { id: OutboxId(7), state, last_error: last_error.map(str::to_owned) }
    }

    #[test]
    fn a_claim_is_acked_as_its_row_settles_and_renewed_while_it_is_open() {
        let sent = row(DeliveryState::Sent, None);
        assert!(matches!(next_step(Some(&sent), true, false), Some(Step::Ack(DeliveryAck::Sent))));
        let dead = row(DeliveryState::Dead, Some("400 from the platform"));
        assert!(matches!(next_step(Some(&dead), true, false), Some(Step::Retry(OutboxId(7)))), "offered again: retry");
        assert!(matches!(
            next_step(Some(&dead), false, false),
            Some(Step::Ack(DeliveryAck::Dead(reason))) if reason == "400 from the platform"
        ));
        for state in [DeliveryState::Pending, DeliveryState::Claimed, DeliveryState::Failed] {
            assert!(next_step(Some(&row(state, None)), false, false).is_none());
            assert!(matches!(next_step(Some(&row(state, None)), false, true), Some(Step::Renew)));
        }
        assert!(matches!(next_step(None, false, false), Some(Step::Forget)));
    }
}
