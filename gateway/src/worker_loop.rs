//! The loop every queue worker shares: claim lane heads under a lease, process them (each lane's
//! head at the same time), and when idle sleep until woken, until the next row is due, or until
//! the fallback poll, whichever comes first; stop on shutdown. A round always finishes the rows
//! it claimed, so shutdown never abandons half-done work.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::services::Services;
use crate::store::{Millis, StoreError};

/// One queue a worker drains (the inbox, the outbox).
#[async_trait]
pub(crate) trait QueueStage: Send + Sync {
    /// A claimed row.
    type Item: Send + Sync;
    /// The queue's name in logs.
    const NAME: &'static str;
    /// Claims up to `max` lane heads that are due at `now`.
    async fn claim(&self, now: Millis, lease_ms: i64, max: usize) -> Result<Vec<Self::Item>, StoreError>;
    /// When the next lane head becomes due, if any row is open.
    async fn next_due(&self) -> Result<Option<Millis>, StoreError>;
    /// Processes one claimed row and records its outcome.
    async fn process(&self, item: &Self::Item);
}

/// What a round found.
pub(crate) enum Round {
    /// It did work; run another round at once.
    Busy,
    /// Nothing to do; the next row is due in this long (if known).
    Idle(Option<Duration>),
}

/// Claims and processes one batch.
pub(crate) async fn round<S: QueueStage>(stage: &S, services: &Services) -> Round {
    let now = services.clock.now_ms();
    let lease = services.settings.lease.as_millis() as i64;
    let items = match stage.claim(now, lease, services.settings.batch).await {
        Ok(items) => items,
        Err(error) => {
            tracing::warn!(queue = S::NAME, error = %error, "claim failed; retrying");
            return Round::Idle(None);
        }
    };
    if items.is_empty() {
        let due = stage.next_due().await.unwrap_or(None);
        let now = services.clock.now_ms();
        return Round::Idle(due.map(|due| Duration::from_millis(due.saturating_sub(now).max(0) as u64)));
    }
    join_all(items.iter().map(|item| stage.process(item))).await;
    Round::Busy
}

/// Runs rounds of `stage` until `shutdown` is cancelled.
pub(crate) async fn run<S: QueueStage>(stage: &S, services: &Services, wake: Arc<Notify>, shutdown: CancellationToken) {
    let poll = services.settings.poll_interval;
    while !shutdown.is_cancelled() {
        match round(stage, services).await {
            Round::Busy => tokio::task::yield_now().await,
            Round::Idle(next) => {
                let wait = next.map_or(poll, |due| due.min(poll));
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        }
    }
}
