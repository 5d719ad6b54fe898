//! Channel interactions: a pending permission or question a gateway rendered as buttons, with a
//! single-use token of which only a keyed hash is kept. Resolving one marks it used in the same
//! transaction that queues its command (see [`CloudStore::submit_resolving`]).

use super::CloudStore;
use crate::error::StoreError;

/// A stored interaction.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct InteractionRecord {
    /// `channel_interaction_…`.
    pub interaction_id: String,
    /// The headless agent.
    pub agent_id: String,
    /// The channel binding.
    pub channel_binding_id: String,
    /// The session binding (thread) it was rendered in.
    pub session_binding_id: String,
    /// The session.
    pub session_id: String,
    /// The provider id.
    pub provider: String,
    /// The platform's id of the rendered prompt, when the gateway has one.
    pub external_interaction_id: Option<String>,
    /// The keyed hash of the token.
    pub token_hash: String,
    /// `permission` or `question`.
    pub kind: String,
    /// The permission id or question request id answered.
    pub target_id: String,
    /// `pending`, `used`, `expired` or `revoked`.
    pub status: String,
    /// Who resolved it.
    pub resolved_by_identity_id: Option<String>,
    /// The command its resolution queued.
    pub command_id: Option<String>,
    /// When it lapses, unix ms.
    pub expires_at: i64,
    /// When it was resolved, unix ms.
    pub used_at: Option<i64>,
    /// When it was made, unix ms.
    pub created_at: i64,
    /// When it last changed, unix ms.
    pub updated_at: i64,
}

/// Marking an interaction used, as part of submitting its command.
#[derive(Clone, Copy, Debug)]
pub struct InteractionUse<'a> {
    /// The interaction.
    pub interaction_id: &'a str,
    /// Who resolved it.
    pub identity_id: &'a str,
}

/// Why an interaction could not be created.
#[derive(Debug)]
pub enum InsertOutcome {
    /// Stored.
    Created(Box<InteractionRecord>),
    /// The id or the external id is already taken.
    Taken,
}

const COLUMNS: &str = "interaction_id, agent_id, channel_binding_id, session_binding_id, session_id, provider, \
    external_interaction_id, token_hash, kind, target_id, status, resolved_by_identity_id, command_id, expires_at, \
    used_at, created_at, updated_at";

/// The update that uses a pending, unexpired interaction (`$1` id, `$2` identity, `$3` command,
/// `$4` now); no row changes when it is not pending any more.
pub(super) const USE_SQL: &str = "UPDATE cloud_channel_interactions SET status = 'used', \
    resolved_by_identity_id = $2, command_id = $3, used_at = $4, updated_at = $4 \
    WHERE interaction_id = $1 AND status = 'pending' AND expires_at > $4";

impl CloudStore {
    /// Stores a new interaction; [`InsertOutcome::Taken`] when its id or external id exists.
    pub async fn insert_interaction(&self, record: &InteractionRecord) -> Result<InsertOutcome, StoreError> {
        crate::with_writer!(&self.db, |pool| {
            let inserted = sqlx::query(&format!(
                "INSERT INTO cloud_channel_interactions ({COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                 ON CONFLICT DO NOTHING"
            ))
            .bind(&record.interaction_id)
            .bind(&record.agent_id)
            .bind(&record.channel_binding_id)
            .bind(&record.session_binding_id)
            .bind(&record.session_id)
            .bind(&record.provider)
            .bind(&record.external_interaction_id)
            .bind(&record.token_hash)
            .bind(&record.kind)
            .bind(&record.target_id)
            .bind(&record.status)
            .bind(&record.resolved_by_identity_id)
            .bind(&record.command_id)
            .bind(record.expires_at)
            .bind(record.used_at)
            .bind(record.created_at)
            .bind(record.updated_at)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(if inserted > 0 { InsertOutcome::Created(Box::new(record.clone())) } else { InsertOutcome::Taken })
        })
    }

    /// One interaction.
    pub async fn interaction(&self, interaction_id: &str) -> Result<Option<InteractionRecord>, StoreError> {
        let select = format!("SELECT {COLUMNS} FROM cloud_channel_interactions WHERE interaction_id = $1");
        let found = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(&select).bind(interaction_id).fetch_optional(pool).await?
        });
        Ok(found)
    }

    /// The interactions with this provider and external id (one per channel binding at most).
    pub async fn interactions_by_external_id(
        &self,
        provider: &str,
        external_interaction_id: &str,
    ) -> Result<Vec<InteractionRecord>, StoreError> {
        let select = format!(
            "SELECT {COLUMNS} FROM cloud_channel_interactions WHERE provider = $1 AND external_interaction_id = $2"
        );
        let found = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(&select).bind(provider).bind(external_interaction_id).fetch_all(pool).await?
        });
        Ok(found)
    }

    /// Marks a pending interaction past its expiry `expired`.
    pub async fn expire_interaction(&self, interaction_id: &str, now: i64) -> Result<(), StoreError> {
        crate::with_writer!(&self.db, |pool| {
            sqlx::query(
                "UPDATE cloud_channel_interactions SET status = 'expired', updated_at = $2 \
                 WHERE interaction_id = $1 AND status = 'pending' AND expires_at <= $2",
            )
            .bind(interaction_id)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
