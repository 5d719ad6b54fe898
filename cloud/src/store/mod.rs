//! The cloud store: agents, channel bindings, identities, API tokens, the audit trail, quota
//! counters, sessions, event logs and the command queue, written once for SQLite and Postgres
//! (the SQL text is shared; only row locks differ).

mod aborts;
mod agents;
mod audit;
mod binding_admin;
mod bindings;
mod channel_sessions;
mod commands;
mod deliveries;
pub(crate) mod events;
mod interactions;
mod provider_events;
mod tokens;
mod types;
mod usage;

pub use aborts::aborted_event_id;
pub use agents::AgentRecord;
pub use audit::{AuditEvent, StoredAuditEvent};
pub use binding_admin::{BindingChanges, BindingRecord};
pub use channel_sessions::{CursorUpdate, IdentityRecord, IdentityUpsert, SessionBindingRecord, SessionRecord};
pub use commands::{ALREADY_RESOLVED, GAVE_UP_MESSAGE, error_event_id};
pub use deliveries::{ClaimDelivery, DeliveryChange, DeliveryClaim, DeliveryFilter, DeliveryRecord, gave_up_message};
pub use interactions::{InsertOutcome, InteractionRecord, InteractionUse};
pub use provider_events::{ProviderEventClaim, ProviderEventRecord};
pub use tokens::{NewToken, TokenCredential, TokenRecord};
pub use types::{
    AbortRecord, Appended, Claim, ClaimRequest, ClaimScope, ClaimedCommand, CommandFence, CommandOutcome,
    CommandStatus, Submitted,
};

use std::borrow::Cow;
use std::sync::Arc;

use crate::database::{Backend, Database, GroupCommit};
use crate::error::StoreError;

/// Durable state of the cloud; cheap to clone (it shares the pools).
#[derive(Clone, Debug)]
pub struct CloudStore {
    db: Database,
    /// Concurrent event appends, committed together.
    appends: Arc<GroupCommit<events::AppendRequest, Result<Appended, StoreError>>>,
    /// Concurrent ends of runs, committed together.
    finishes: Arc<GroupCommit<commands::FinishRequest, Result<bool, StoreError>>>,
}

impl CloudStore {
    /// A store over a connected, migrated database.
    pub fn new(db: Database) -> Self {
        Self { db, appends: Arc::default(), finishes: Arc::default() }
    }

    /// The database behind the store.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// The statement as run on `backend`: Postgres gets the row-lock clause `lock`; SQLite needs
/// none, because its single writer connection already serializes every write transaction.
pub(crate) fn locked(backend: Backend, sql: &'static str, lock: &'static str) -> Cow<'static, str> {
    match backend {
        Backend::Sqlite => Cow::Borrowed(sql),
        Backend::Postgres => Cow::Owned(format!("{sql} {lock}")),
    }
}
