//! The gateway's durable store: inbox, render cursors, outbox, message refs, interaction
//! handles and the fake provider's transcript, on SQLite or Postgres.
//!
//! [`GatewayStore`] is one concrete type over a [`Database`]; each method is one domain
//! operation. Conventions every method follows:
//!
//! - SQL is written once and runs on both engines (`$n` placeholders, `ON CONFLICT`,
//!   `RETURNING`); where the engines differ (claims, lane locks) the text is picked with
//!   [`Database::backend`]. Runtime-checked queries only.
//! - A write touching several rows is one transaction on the writer pool; pure reads use the
//!   reader pool.
//! - Times are unix milliseconds passed in by the caller (`now`); the store never reads the
//!   clock, except the fake transcript's `recorded_at`, which its trait leaves to the store.
//! - JSON columns hold serde_json of the domain types; queue states are the lower-case strings
//!   `pending`, `claimed`, `failed`, `dead`, plus `new` and `done` (inbox: accepted but not yet
//!   in its lane, and processed) and `sent` (outbox).
//!
//! The queues (inbox and outbox) are ordered per lane: only a lane's head is ever claimed
//! (see `queue.rs`).

mod accept;
mod attempts;
mod error;
pub(crate) mod fence;
mod inbox;
mod interactions;
mod operator;
mod outbox;
mod ownership;
mod queue;
mod render;
mod retention;
mod thread_context;
mod transcript;
mod types;

#[cfg(test)]
mod tests;

use cowork_cloud::database::{Database, GroupCommit};

pub use attempts::{AttemptOutcome, DeliveryAttempt};
pub use error::StoreError;
pub use fence::Fences;
pub use operator::{BindingBacklog, DeliveryFilter, DeliveryRecord, DeliveryState, OperatorChange, RedriveRequest};
pub use outbox::OutboxStanding;
pub use ownership::{Incarnation, MemberRow, OwnerRow};
pub use types::*;

/// The gateway's durable state on one database; cheap to clone.
#[derive(Clone)]
pub struct GatewayStore {
    db: Database,
    fences: Option<std::sync::Arc<dyn Fences>>,
    /// Concurrent writes of one kind, committed together (shared by the fenced copies).
    batches: std::sync::Arc<Batches>,
}

/// The group commits of the hot per-row writes: inbox outcomes and sent deliveries.
#[derive(Default)]
struct Batches {
    inbox_outcomes: GroupCommit<queue::RecordRequest, Result<queue::Recorded, StoreError>>,
    sent: GroupCommit<outbox::SentRequest, Result<bool, StoreError>>,
}

impl std::fmt::Debug for GatewayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayStore").field("db", &self.db).field("fenced", &self.fences.is_some()).finish()
    }
}

impl GatewayStore {
    /// A store on a connected, migrated database, acting on every binding.
    pub fn new(db: Database) -> Self {
        Self { db, fences: None, batches: std::sync::Arc::new(Batches::default()) }
    }

    /// The same store acting only on the bindings `fences` holds (see `fence.rs`).
    pub fn with_fences(&self, fences: std::sync::Arc<dyn Fences>) -> Self {
        Self { db: self.db.clone(), fences: Some(fences), batches: self.batches.clone() }
    }

    /// The held set for a fenced statement (`None`: unfenced).
    fn fence_param(&self) -> Option<String> {
        self.fences.as_ref().map(fence::held_json)
    }

    /// Reports a refused fenced write on `binding`.
    fn refused(&self, binding: &str) {
        if let Some(fences) = &self.fences {
            fences.refused(binding);
        }
    }

    /// Whether a recorded outcome changed its row; a refusal by the fence is reported and
    /// answered as [`StoreError::Fenced`].
    fn recorded(&self, recorded: queue::Recorded) -> Result<bool, StoreError> {
        match recorded {
            queue::Recorded::Changed => Ok(true),
            queue::Recorded::ClaimLost => Ok(false),
            queue::Recorded::Fenced(binding) => {
                self.refused(&binding);
                Err(StoreError::Fenced(binding))
            }
        }
    }

    /// The database behind the store.
    pub fn database(&self) -> &Database {
        &self.db
    }
}
