//! Inbox workers: claim the head event of each chat thread under a lease, route it, record the
//! outcome (done, retry with backoff, or dead after the attempt budget).

use std::sync::Arc;

use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::router::{RouteError, Router};
use crate::services::Services;
use crate::store::{InboxItem, InboxOutcome, WorkerId};
use crate::worker_loop::{Round, run_rounds, until};

/// Processes the inbox.
pub struct InboxWorker {
    services: Arc<Services>,
    router: Router,
    owner: WorkerId,
}

impl InboxWorker {
    /// A worker with a unique lease owner id.
    pub fn new(services: Arc<Services>) -> Self {
        let owner = WorkerId(format!("inbox-{}", uuid::Uuid::new_v4().simple()));
        Self { router: Router::new(services.clone()), services, owner }
    }

    /// Runs until `shutdown`, finishing the events it holds.
    pub async fn run(self, shutdown: CancellationToken) {
        let wake = self.services.wake.inbox.clone();
        let poll = self.services.settings.poll_interval;
        run_rounds(shutdown, wake, poll, || self.round()).await;
    }

    /// Processes every event that is due now; returns when none is left (for tests).
    pub async fn run_until_idle(&self) {
        while let Round::Busy = self.round().await {}
    }

    async fn round(&self) -> Round {
        let s = &self.services;
        let now = s.clock.now_ms();
        let lease = s.settings.lease.as_millis() as i64;
        let items = match s.store.claim_inbox(&self.owner, now, lease, s.settings.batch).await {
            Ok(items) => items,
            Err(error) => {
                tracing::warn!(error = %error, "inbox claim failed; retrying");
                return Round::Idle(None);
            }
        };
        if items.is_empty() {
            let due = s.store.next_inbox_due().await.unwrap_or(None);
            return Round::Idle(until(due, s.clock.now_ms()));
        }
        join_all(items.iter().map(|item| self.process(item))).await;
        Round::Busy
    }

    async fn process(&self, item: &InboxItem) {
        let s = &self.services;
        let outcome = match self.router.route(item).await {
            Ok(()) => InboxOutcome::Done,
            Err(RouteError::Permanent(reason)) => InboxOutcome::Dead { reason },
            Err(RouteError::Retryable(error)) => {
                let attempt = item.attempts + 1;
                let policy = &s.settings.inbox_retry;
                if policy.exhausted(attempt) {
                    InboxOutcome::Dead { reason: format!("attempt budget exhausted: {error}") }
                } else {
                    let at = s.clock.now_ms() + policy.delay(attempt, None).as_millis() as i64;
                    InboxOutcome::Retry { at, error }
                }
            }
        };
        if let InboxOutcome::Dead { reason } = &outcome {
            tracing::error!(inbox_id = item.id.0, provider = %item.provider_id, reason = %reason, "inbound event dead-lettered");
        }
        if let Err(error) = s.store.record_inbox(item.id, &self.owner, outcome, s.clock.now_ms()).await {
            // The lease will expire and the event will be processed again; routing is idempotent.
            tracing::warn!(inbox_id = item.id.0, error = %error, "could not record inbox outcome");
        }
    }
}
