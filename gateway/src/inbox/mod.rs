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
use crate::store::{Accepted, GatewayStore, NewInbound};

/// Most events committed in one transaction.
const MAX_GROUP_EVENTS: usize = 512;

/// The inbox could not commit.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("inbox unavailable")]
pub struct InboxUnavailable;

struct PendingAccept {
    batch: Vec<NewInbound>,
    reply: oneshot::Sender<Result<Vec<Accepted>, InboxUnavailable>>,
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

    /// Commits `batch` durably; returns once it is on disk.
    pub async fn accept(&self, batch: Vec<NewInbound>) -> Result<Vec<Accepted>, InboxUnavailable> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(PendingAccept { batch, reply }).await.map_err(|_| InboxUnavailable)?;
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
            let mut group = vec![first];
            let mut events = group[0].batch.len();
            while events < MAX_GROUP_EVENTS {
                match self.rx.try_recv() {
                    Ok(next) => {
                        events += next.batch.len();
                        group.push(next);
                    }
                    Err(_) => break,
                }
            }
            self.commit(group).await;
        }
    }

    async fn commit(&self, group: Vec<PendingAccept>) {
        let all: Vec<NewInbound> = group.iter().flat_map(|p| p.batch.iter().cloned()).collect();
        match self.store.accept_inbound(&all, self.clock.now_ms()).await {
            Ok(accepted) => {
                let mut rest = accepted.into_iter();
                for pending in group {
                    let mine: Vec<Accepted> = rest.by_ref().take(pending.batch.len()).collect();
                    let _ = pending.reply.send(Ok(mine));
                }
                self.wake.notify_one();
            }
            Err(error) => {
                tracing::error!(error = %error, events = all.len(), "inbox commit failed; requests answered 503");
                for pending in group {
                    let _ = pending.reply.send(Err(InboxUnavailable));
                }
            }
        }
    }
}
