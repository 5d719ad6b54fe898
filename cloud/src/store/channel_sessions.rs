//! The channel API's records: session bindings (a thread's session and the gateway's render
//! cursor), channel identities with their role and status, and what the API shows of a session.

use super::CloudStore;
use crate::error::StoreError;

/// A session binding: one thread of one channel binding, and its session.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct SessionBindingRecord {
    /// The session binding id.
    pub binding_id: String,
    /// The channel binding the thread belongs to.
    pub channel_binding_id: String,
    /// The provider id.
    pub provider: String,
    /// The platform workspace (empty when the platform has none).
    pub external_workspace_id: String,
    /// The chat.
    pub external_chat_id: String,
    /// The thread.
    pub external_thread_id: String,
    /// The session.
    pub session_id: String,
    /// The last session event the gateway rendered.
    pub last_event_sequence: i64,
    /// The last workspace event the gateway rendered.
    pub last_workspace_sequence: i64,
    /// The last chat message the gateway posted.
    pub last_chat_message_id: Option<String>,
    /// `active` or `archived`.
    pub status: String,
    /// When it was made, unix ms.
    pub created_at: i64,
    /// When it last changed, unix ms.
    pub updated_at: i64,
}

/// A channel identity: a sender on one channel binding.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct IdentityRecord {
    /// The identity id.
    pub identity_id: String,
    /// The channel binding.
    pub binding_id: String,
    /// The provider id.
    pub provider: String,
    /// The platform workspace (empty when none).
    pub external_workspace_id: String,
    /// The sender's platform user id.
    pub external_user_id: String,
    /// `owner`, `admin`, `member`, `approver` or `viewer`.
    pub role: String,
    /// `active`, `disabled` or `pending`.
    pub status: String,
    /// Metadata, as JSON text.
    pub metadata: String,
    /// When it was made, unix ms.
    pub created_at: i64,
    /// When it last changed, unix ms.
    pub updated_at: i64,
}

/// What the API shows of a session.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct SessionRecord {
    /// The session id.
    pub session_id: String,
    /// The channel binding it serves.
    pub binding_id: String,
    /// Its title.
    pub title: String,
    /// `idle`, `running`, ...
    pub status: String,
    /// The runtime agent.
    pub agent: String,
    /// When it was made, unix ms.
    pub created_at: i64,
    /// When it last changed, unix ms.
    pub updated_at: i64,
}

/// The outcome of a cursor update.
#[derive(Clone, Debug, PartialEq)]
pub enum CursorUpdate {
    /// The cursor moved (or stayed where it was asked to be).
    Advanced(SessionBindingRecord),
    /// The stored cursor is ahead of the one given: it stays.
    Stale(SessionBindingRecord),
}

/// A new identity's defaults, and what an admin sets explicitly.
#[derive(Clone, Debug)]
pub struct IdentityUpsert<'a> {
    /// The channel binding.
    pub binding_id: &'a str,
    /// The provider id.
    pub provider: &'a str,
    /// The platform workspace.
    pub external_workspace_id: &'a str,
    /// The sender.
    pub external_user_id: &'a str,
    /// Role and status of a new identity.
    pub new_role_status: (&'a str, &'a str),
    /// Role and status to set on an existing one too (admins only).
    pub set_role: Option<&'a str>,
    /// Status to set on an existing one too (admins only).
    pub set_status: Option<&'a str>,
    /// Metadata to store, as JSON text.
    pub metadata: Option<&'a str>,
}

const SESSION_BINDING_COLUMNS: &str = "binding_id, channel_binding_id, provider, external_workspace_id, \
    external_chat_id, external_thread_id, session_id, last_event_sequence, last_workspace_sequence, \
    last_chat_message_id, status, created_at, updated_at";

const IDENTITY_COLUMNS: &str = "identity_id, binding_id, provider, external_workspace_id, external_user_id, \
    role, status, metadata, created_at, updated_at";

impl CloudStore {
    /// Stores a session binding unless its thread has one; answers the thread's binding.
    pub async fn insert_session_binding(
        &self,
        record: &SessionBindingRecord,
    ) -> Result<SessionBindingRecord, StoreError> {
        let select = format!(
            "SELECT {SESSION_BINDING_COLUMNS} FROM cloud_session_bindings WHERE channel_binding_id = $1 \
             AND provider = $2 AND external_workspace_id = $3 AND external_chat_id = $4 AND external_thread_id = $5"
        );
        crate::with_writer!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO cloud_session_bindings (binding_id, channel_binding_id, provider, \
                 external_workspace_id, external_chat_id, external_thread_id, session_id, last_event_sequence, \
                 last_workspace_sequence, last_chat_message_id, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $11) ON CONFLICT DO NOTHING",
            )
            .bind(&record.binding_id)
            .bind(&record.channel_binding_id)
            .bind(&record.provider)
            .bind(&record.external_workspace_id)
            .bind(&record.external_chat_id)
            .bind(&record.external_thread_id)
            .bind(&record.session_id)
            .bind(record.last_event_sequence)
            .bind(record.last_workspace_sequence)
            .bind(&record.last_chat_message_id)
            .bind(record.created_at)
            .execute(pool)
            .await?;
            let stored: SessionBindingRecord = sqlx::query_as(&select)
                .bind(&record.channel_binding_id)
                .bind(&record.provider)
                .bind(&record.external_workspace_id)
                .bind(&record.external_chat_id)
                .bind(&record.external_thread_id)
                .fetch_one(pool)
                .await?;
            Ok(stored)
        })
    }

    /// One session binding.
    pub async fn session_binding(&self, binding_id: &str) -> Result<Option<SessionBindingRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_BINDING_COLUMNS} FROM cloud_session_bindings WHERE binding_id = $1");
        let found =
            crate::with_writer!(&self.db, |pool| { sqlx::query_as(&sql).bind(binding_id).fetch_optional(pool).await? });
        Ok(found)
    }

    /// The session bindings of a session, over every channel binding.
    pub async fn session_bindings_of_session(&self, session_id: &str) -> Result<Vec<SessionBindingRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_BINDING_COLUMNS} FROM cloud_session_bindings WHERE session_id = $1 ORDER BY binding_id"
        );
        let found =
            crate::with_writer!(&self.db, |pool| { sqlx::query_as(&sql).bind(session_id).fetch_all(pool).await? });
        Ok(found)
    }

    /// The session bindings of a thread, over every channel binding.
    pub async fn session_bindings_of_thread(
        &self,
        provider: &str,
        external_workspace_id: &str,
        external_chat_id: &str,
        external_thread_id: &str,
    ) -> Result<Vec<SessionBindingRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_BINDING_COLUMNS} FROM cloud_session_bindings WHERE provider = $1 \
             AND external_workspace_id = $2 AND external_chat_id = $3 AND external_thread_id = $4 \
             ORDER BY channel_binding_id"
        );
        let found = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(&sql)
                .bind(provider)
                .bind(external_workspace_id)
                .bind(external_chat_id)
                .bind(external_thread_id)
                .fetch_all(pool)
                .await?
        });
        Ok(found)
    }

    /// Moves a render cursor forward: only when neither sequence goes back.
    pub async fn advance_cursor(
        &self,
        binding_id: &str,
        last_event_sequence: i64,
        last_workspace_sequence: i64,
        last_chat_message_id: Option<&str>,
        now: i64,
    ) -> Result<Option<CursorUpdate>, StoreError> {
        let moved = crate::with_writer!(&self.db, |pool| {
            sqlx::query(
                "UPDATE cloud_session_bindings SET last_event_sequence = $2, last_workspace_sequence = $3, \
                 last_chat_message_id = COALESCE($4, last_chat_message_id), updated_at = $5 \
                 WHERE binding_id = $1 AND last_event_sequence <= $2 AND last_workspace_sequence <= $3",
            )
            .bind(binding_id)
            .bind(last_event_sequence)
            .bind(last_workspace_sequence)
            .bind(last_chat_message_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(self
            .session_binding(binding_id)
            .await?
            .map(|record| if moved > 0 { CursorUpdate::Advanced(record) } else { CursorUpdate::Stale(record) }))
    }

    /// Creates a sender's identity on first sight, or updates what the caller may change.
    pub async fn upsert_identity(&self, upsert: &IdentityUpsert<'_>, now: i64) -> Result<IdentityRecord, StoreError> {
        let id = crate::ids::identity_id(upsert.binding_id, upsert.external_user_id);
        let select = format!("SELECT {IDENTITY_COLUMNS} FROM cloud_identities WHERE identity_id = $1");
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO cloud_identities (identity_id, binding_id, external_user_id, created_at, provider, \
                 external_workspace_id, role, status, metadata, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $4) ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(upsert.binding_id)
            .bind(upsert.external_user_id)
            .bind(now)
            .bind(upsert.provider)
            .bind(upsert.external_workspace_id)
            .bind(upsert.set_role.unwrap_or(upsert.new_role_status.0))
            .bind(upsert.set_status.unwrap_or(upsert.new_role_status.1))
            .bind(upsert.metadata.unwrap_or("{}"))
            .execute(&mut *tx)
            .await?;
            if upsert.set_role.is_some() || upsert.set_status.is_some() || upsert.metadata.is_some() {
                sqlx::query(
                    "UPDATE cloud_identities SET role = COALESCE($2, role), status = COALESCE($3, status), \
                     metadata = COALESCE($4, metadata), updated_at = $5 WHERE identity_id = $1",
                )
                .bind(id.as_str())
                .bind(upsert.set_role)
                .bind(upsert.set_status)
                .bind(upsert.metadata)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            let stored: IdentityRecord = sqlx::query_as(&select).bind(id.as_str()).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(stored)
        })
    }

    /// Identities (of one channel binding, when given), most recently changed first.
    pub async fn identities(&self, binding_id: Option<&str>, limit: u32) -> Result<Vec<IdentityRecord>, StoreError> {
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM cloud_identities WHERE ($1 IS NULL OR binding_id = $1) \
             ORDER BY updated_at DESC, identity_id LIMIT $2"
        );
        let found = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(&sql).bind(binding_id).bind(i64::from(limit)).fetch_all(pool).await?
        });
        Ok(found)
    }

    /// One identity.
    pub async fn identity(&self, identity_id: &str) -> Result<Option<IdentityRecord>, StoreError> {
        let sql = format!("SELECT {IDENTITY_COLUMNS} FROM cloud_identities WHERE identity_id = $1");
        let found = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(&sql).bind(identity_id).fetch_optional(pool).await?
        });
        Ok(found)
    }

    /// What the API shows of a session.
    pub async fn session_record(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let found = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT session_id, binding_id, title, status, agent, created_at, updated_at \
                 FROM cloud_sessions WHERE session_id = $1",
            )
            .bind(session_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(found)
    }
}
