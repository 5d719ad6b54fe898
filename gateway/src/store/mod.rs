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

use cowork_cloud::database::Database;

pub use attempts::{AttemptOutcome, DeliveryAttempt};
pub use error::StoreError;
pub use operator::{BindingBacklog, DeliveryFilter, DeliveryRecord, DeliveryState, OperatorChange, RedriveRequest};
pub use outbox::OutboxStanding;
pub use ownership::{Incarnation, MemberRow, OwnerRow};
pub use types::*;

/// The gateway's durable state on one database; cheap to clone.
#[derive(Clone, Debug)]
pub struct GatewayStore {
    db: Database,
}

impl GatewayStore {
    /// A store on a connected, migrated database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database behind the store.
    pub fn database(&self) -> &Database {
        &self.db
    }
}
