//! Inbox workers: claim the head event of each chat thread under a lease, route it, record the
//! outcome (done, retry with backoff, or dead after the attempt budget).

use std::sync::Arc;

use async_trait::async_trait;
use cowork_cloud::telemetry::{Span, SpanKind};
use tokio_util::sync::CancellationToken;

use crate::router::{RouteError, Router};
use crate::services::Services;
use crate::store::{InboxItem, InboxOutcome, Millis, StoreError, WorkerId};
use crate::worker_loop::{self, QueueStage};

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
        worker_loop::run(&self, &self.services, wake, shutdown).await;
    }

    fn outcome(&self, item: &InboxItem, result: Result<(), RouteError>) -> InboxOutcome {
        let s = &self.services;
        match result {
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
        }
    }
}

#[async_trait]
impl QueueStage for InboxWorker {
    type Item = InboxItem;
    const NAME: &'static str = "inbox";

    async fn claim(&self, now: Millis, lease_ms: i64, max: usize) -> Result<Vec<InboxItem>, StoreError> {
        self.services.store.claim_inbox(&self.owner, now, lease_ms, max).await
    }

    async fn next_due(&self) -> Result<Option<Millis>, StoreError> {
        self.services.store.next_inbox_due().await
    }

    async fn process(&self, item: &InboxItem) {
        let s = &self.services;
        let span = Span::start("inbox", SpanKind::Consumer, item.trace.as_ref());
        span.set("cowork.inbox.id", item.id.0);
        span.set("cowork.attempt", i64::from(item.attempts) + 1);
        let result = self.router.route(item, &span).await;
        if let Err(error) = &result {
            span.fail(error.kind());
        }
        let outcome = self.outcome(item, result);
        if let InboxOutcome::Dead { reason } = &outcome {
            tracing::error!(inbox_id = item.id.0, provider = %item.provider_id, reason = %reason, "inbound event dead-lettered");
        }
        match s.store.record_inbox(item.id, &self.owner, outcome, s.clock.now_ms()).await {
            // The binding's new owner processes the event again; routing is idempotent.
            Ok(_) | Err(StoreError::Fenced(_)) => {}
            Err(error) => {
                // The lease will expire and the event will be processed again.
                tracing::warn!(inbox_id = item.id.0, error = %error, "could not record inbox outcome");
            }
        }
    }
}
