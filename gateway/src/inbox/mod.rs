//! The durable inbox: accepted inbound events are committed here before the sender gets its
//! 2xx, then processed by [`InboxWorker`]s in per-thread order.
//!
//! Group commit: concurrent requests hand their events to one writer task, which commits
//! everything waiting in a single transaction and answers each request. A commit is on disk
//! before it returns (WAL + `synchronous=FULL`, or `synchronous_commit=on`), so batching keeps
//! acks fast without weakening durability.

mod worker;

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

pub use worker::InboxWorker;

use crate::clock::Clock;
use crate::store::{GatewayStore, NewRequest, RequestOutcome};

/// Most events committed in one transaction.
const MAX_GROUP_EVENTS: usize = 512;

/// The inbox could not commit.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("inbox unavailable")]
pub struct InboxUnavailable;

struct PendingAccept {
    request: NewRequest,
    reply: oneshot::Sender<Result<RequestOutcome, InboxUnavailable>>,
}

/// The handle ingress uses to accept events.
#[derive(Clone)]
pub struct Inbox {
    tx: mpsc::Sender<PendingAccept>,
}

impl Inbox {
    /// Creates the handle and its writer; run the writer on a task. The writer stops once every
    /// handle is dropped and all queued events are committed.
    pub fn new(store: GatewayStore, clock: Arc<dyn Clock>, wake: Arc<Notify>) -> (Self, InboxWriter) {
        let (tx, rx) = mpsc::channel(4096);
        (Self { tx }, InboxWriter { rx, store, clock, wake })
    }

    /// Commits a request's events durably; returns once they are on disk.
    pub async fn accept(&self, request: NewRequest) -> Result<RequestOutcome, InboxUnavailable> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(PendingAccept { request, reply }).await.map_err(|_| InboxUnavailable)?;
        answer.await.map_err(|_| InboxUnavailable)?
    }
}

/// The group-commit writer task.
pub struct InboxWriter {
    rx: mpsc::Receiver<PendingAccept>,
    store: GatewayStore,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl InboxWriter {
    /// Commits groups until every [`Inbox`] handle is gone.
    pub async fn run(mut self) {
        while let Some(first) = self.rx.recv().await {
            let mut events = first.request.events.len();
            let mut group = vec![first];
            while events < MAX_GROUP_EVENTS {
                match self.rx.try_recv() {
                    Ok(next) => {
                        events += next.request.events.len();
                        group.push(next);
                    }
                    Err(_) => break,
                }
            }
            self.commit(group).await;
        }
    }

    async fn commit(&self, group: Vec<PendingAccept>) {
        let (requests, replies): (Vec<NewRequest>, Vec<_>) = group.into_iter().map(|p| (p.request, p.reply)).unzip();
        match self.store.accept_requests(&requests, self.clock.now_ms()).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                self.wake.notify_one();
            }
            Err(error) => {
                tracing::error!(error = %error, requests = requests.len(), "inbox commit failed; requests answered 503");
                for reply in replies {
                    let _ = reply.send(Err(InboxUnavailable));
                }
            }
        }
    }
}
