//! Channel bindings, sender identities and the thread-to-session map.

use cowork_cloud_client::{BindThread, IdentityId, SessionId};

use super::CloudStore;
use crate::error::StoreError;
use crate::ids;

impl CloudStore {
    /// Creates or updates a channel binding (the gateway provisions one per provider at start).
    pub async fn provision_binding(
        &self,
        binding_id: &str,
        provider_id: &str,
        agent: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        crate::with_writer!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO cloud_channel_bindings (binding_id, provider_id, agent, created_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (binding_id) DO UPDATE \
                 SET provider_id = excluded.provider_id, agent = excluded.agent",
            )
            .bind(binding_id)
            .bind(provider_id)
            .bind(agent)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The default agent of a binding, or `None` when it was never provisioned.
    pub async fn binding_agent(&self, binding_id: &str) -> Result<Option<String>, StoreError> {
        let agent = crate::with_reader!(&self.db, |pool| {
            sqlx::query_scalar("SELECT agent FROM cloud_channel_bindings WHERE binding_id = $1")
                .bind(binding_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(agent)
    }

    /// The identity of a sender on a binding, created on first sight.
    pub async fn resolve_identity(
        &self,
        binding_id: &str,
        external_user_id: &str,
        now: i64,
    ) -> Result<IdentityId, StoreError> {
        let known: Option<String> = crate::with_reader!(&self.db, |pool| {
            sqlx::query_scalar(
                "SELECT identity_id FROM cloud_identities \
                 WHERE binding_id = $1 AND external_user_id = $2",
            )
            .bind(binding_id)
            .bind(external_user_id)
            .fetch_optional(pool)
            .await?
        });
        if let Some(id) = known {
            return Ok(IdentityId::new(id));
        }
        self.require_binding(binding_id).await?;
        let id = ids::identity_id(binding_id, external_user_id);
        // Two first messages of one sender may race; the loser's insert is a no-op and both
        // answer the same deterministic id.
        crate::with_writer!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO cloud_identities (identity_id, binding_id, external_user_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(binding_id)
            .bind(external_user_id)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(id)
    }

    /// The session of a channel thread, created (with the binding's agent when the request names
    /// none) on first use. Fails with `NotFound` when the binding was never provisioned.
    pub async fn bind_thread(&self, request: &BindThread, now: i64) -> Result<SessionId, StoreError> {
        if let Some(session) = self.find_thread_session(request, false).await? {
            return Ok(session);
        }
        let binding_agent = self.require_binding(&request.channel_binding_id).await?;
        let agent = if request.agent.is_empty() { binding_agent } else { request.agent.clone() };
        let id = ids::session_id(&request.channel_binding_id, &request.chat_id, &request.thread_id);
        let inserted = crate::with_writer!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO cloud_sessions (session_id, binding_id, chat_id, thread_id, agent, \
                 title, status, next_sequence, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'idle', 1, $7, $7) ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(&request.channel_binding_id)
            .bind(&request.chat_id)
            .bind(&request.thread_id)
            .bind(&agent)
            .bind(&request.title)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if inserted == 1 {
            return Ok(id);
        }
        // A concurrent first bind won: its row now exists; read it back from the writer so a
        // lagging reader cannot miss it.
        self.find_thread_session(request, true)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("session of thread {}", request.thread_id)))
    }

    /// Whether a session exists.
    pub async fn session_exists(&self, session: &SessionId) -> Result<bool, StoreError> {
        let found: Option<String> = crate::with_reader!(&self.db, |pool| {
            sqlx::query_scalar("SELECT session_id FROM cloud_sessions WHERE session_id = $1")
                .bind(session.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }

    async fn find_thread_session(
        &self,
        request: &BindThread,
        from_writer: bool,
    ) -> Result<Option<SessionId>, StoreError> {
        const SQL: &str = "SELECT session_id FROM cloud_sessions \
                           WHERE binding_id = $1 AND chat_id = $2 AND thread_id = $3";
        macro_rules! find {
            ($pool:expr) => {
                sqlx::query_scalar::<_, String>(SQL)
                    .bind(&request.channel_binding_id)
                    .bind(&request.chat_id)
                    .bind(&request.thread_id)
                    .fetch_optional($pool)
                    .await?
            };
        }
        let found = if from_writer {
            crate::with_writer!(&self.db, |pool| find!(pool))
        } else {
            crate::with_reader!(&self.db, |pool| find!(pool))
        };
        Ok(found.map(SessionId::new))
    }

    /// The binding's default agent, or `NotFound`.
    async fn require_binding(&self, binding_id: &str) -> Result<String, StoreError> {
        self.binding_agent(binding_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("channel binding {binding_id}")))
    }
}
