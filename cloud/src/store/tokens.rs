//! API tokens (keyed hashes only), their channel-binding grants, and the server's token key.

use super::CloudStore;
use super::audit::{AuditEvent, record_audit};
use crate::auth::{MintedToken, Scopes, TokenId};
use crate::config::Secret;
use crate::error::StoreError;

/// The `cloud_server_keys` row holding the token-hashing key when none is configured.
const TOKEN_KEY_NAME: &str = "api_token_hash";

/// A stored API token, without its hash.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRecord {
    /// The token id.
    pub id: TokenId,
    /// A name to tell it by.
    pub name: String,
    /// What it may do.
    pub scopes: Scopes,
    /// The token's last four characters.
    pub last4: String,
    /// When it stops working, unix ms.
    pub expires_at: i64,
    /// When it was revoked, unix ms.
    pub revoked_at: Option<i64>,
    /// When it was last used (to within a minute), unix ms.
    pub last_used_at: Option<i64>,
    /// When it was minted, unix ms.
    pub created_at: i64,
    /// When it last changed, unix ms.
    pub updated_at: i64,
    /// The channel bindings a gateway token may act on, sorted.
    pub channel_binding_ids: Vec<String>,
}

/// What authenticating a presented token needs.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenCredential {
    /// The stored keyed hash.
    pub token_hash: String,
    /// The stored scopes.
    pub scopes: String,
    /// When it expires, unix ms.
    pub expires_at: i64,
    /// When it was revoked, unix ms.
    pub revoked_at: Option<i64>,
    /// When it was last used, unix ms.
    pub last_used_at: Option<i64>,
}

/// A new token to store.
#[derive(Debug)]
pub struct NewToken<'a> {
    /// The minted token (only its hash and last four characters are stored).
    pub minted: &'a MintedToken,
    /// Its name.
    pub name: &'a str,
    /// Its scopes.
    pub scopes: &'a Scopes,
    /// When it expires, unix ms.
    pub expires_at: i64,
    /// The bindings it may act on (they must exist).
    pub channel_binding_ids: &'a [String],
    /// Who minted it, for the audit trail.
    pub actor: (&'static str, &'a str),
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    token_id: String,
    name: String,
    scopes: String,
    last4: String,
    expires_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TokenRow {
    fn into_record(self, channel_binding_ids: Vec<String>) -> TokenRecord {
        TokenRecord {
            id: TokenId::from_stored(self.token_id),
            name: self.name,
            scopes: Scopes::from_stored(&self.scopes),
            last4: self.last4,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            channel_binding_ids,
        }
    }
}

const TOKEN_COLUMNS: &str =
    "token_id, name, scopes, last4, expires_at, revoked_at, last_used_at, created_at, updated_at";

/// How stale `last_used_at` may get before a request refreshes it: one write per token per
/// minute at most, not one per request.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

impl CloudStore {
    /// The stored token-hashing key, made (by whichever process asks first) if there is none.
    pub async fn token_key(&self, now: i64) -> Result<Secret, StoreError> {
        const SELECT: &str = "SELECT value FROM cloud_server_keys WHERE name = $1";
        let known: Option<String> = crate::with_reader!(&self.db, |pool| {
            sqlx::query_scalar(SELECT).bind(TOKEN_KEY_NAME).fetch_optional(pool).await?
        });
        if let Some(value) = known {
            return Ok(Secret::new(value));
        }
        let fresh = crate::auth::TokenHasher::generate_key();
        let value: String = crate::with_writer!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO cloud_server_keys (name, value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(TOKEN_KEY_NAME)
            .bind(fresh.expose())
            .bind(now)
            .execute(pool)
            .await?;
            sqlx::query_scalar(SELECT).bind(TOKEN_KEY_NAME).fetch_one(pool).await?
        });
        Ok(Secret::new(value))
    }

    /// Stores a minted token and its grants, with their audit events, in one transaction.
    pub async fn insert_token(&self, token: NewToken<'_>, now: i64) -> Result<TokenRecord, StoreError> {
        let (actor_type, actor_id) = token.actor;
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO cloud_api_tokens (token_id, name, token_hash, scopes, last4, created_by, \
                 expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(token.minted.id.as_str())
            .bind(token.name)
            .bind(&token.minted.hash)
            .bind(token.scopes.to_stored())
            .bind(&token.minted.last4)
            .bind(actor_id)
            .bind(token.expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let created = AuditEvent {
                event_type: "api_token.created",
                actor_type,
                actor_id: actor_id.to_owned(),
                target_type: "api_token",
                target_id: token.minted.id.to_string(),
                metadata: serde_json::json!({
                    "name": token.name,
                    "scopes": token.scopes.names(),
                    "expiresAt": token.expires_at,
                    "channelBindingIds": token.channel_binding_ids,
                }),
            };
            record_audit!(tx, &created, now);
            for binding in token.channel_binding_ids {
                sqlx::query(
                    "INSERT INTO cloud_api_token_grants (token_id, channel_binding_id, created_at) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(token.minted.id.as_str())
                .bind(binding)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let granted = grant_event(actor_type, actor_id, &token.minted.id, binding);
                record_audit!(tx, &granted, now);
            }
            tx.commit().await?;
        });
        self.token(&token.minted.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("API token {}", token.minted.id)))
    }

    /// Tokens, newest first, with their grants.
    pub async fn tokens(&self, limit: u32) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM cloud_api_tokens ORDER BY created_at DESC, token_id LIMIT $1");
        let rows: Vec<TokenRow> = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(&sql).bind(i64::from(limit)).fetch_all(pool).await?
        });
        let mut tokens = Vec::with_capacity(rows.len());
        for row in rows {
            let grants = self.token_grants(&row.token_id).await?;
            tokens.push(row.into_record(grants));
        }
        Ok(tokens)
    }

    /// One token with its grants. Read from the writer, so a token just minted or revoked is
    /// seen at once.
    pub async fn token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM cloud_api_tokens WHERE token_id = $1");
        let row: Option<TokenRow> = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(pool).await?
        });
        match row {
            Some(row) => {
                let grants = self.token_grants(&row.token_id).await?;
                Ok(Some(row.into_record(grants)))
            }
            None => Ok(None),
        }
    }

    async fn token_grants(&self, token_id: &str) -> Result<Vec<String>, StoreError> {
        let grants = crate::with_writer!(&self.db, |pool| {
            sqlx::query_scalar(
                "SELECT channel_binding_id FROM cloud_api_token_grants WHERE token_id = $1 \
                 ORDER BY channel_binding_id",
            )
            .bind(token_id)
            .fetch_all(pool)
            .await?
        });
        Ok(grants)
    }

    /// Revokes a token (a second revoke changes nothing); `None` when there is no such token.
    pub async fn revoke_token(
        &self,
        id: &TokenId,
        actor: (&'static str, &str),
        now: i64,
    ) -> Result<Option<TokenRecord>, StoreError> {
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let revoked = sqlx::query(
                "UPDATE cloud_api_tokens SET revoked_at = $2, updated_at = $2 \
                 WHERE token_id = $1 AND revoked_at IS NULL",
            )
            .bind(id.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if revoked > 0 {
                let event = AuditEvent {
                    event_type: "api_token.revoked",
                    actor_type: actor.0,
                    actor_id: actor.1.to_owned(),
                    target_type: "api_token",
                    target_id: id.to_string(),
                    metadata: serde_json::json!({}),
                };
                record_audit!(tx, &event, now);
            }
            tx.commit().await?;
        });
        self.token(id).await
    }

    /// Grants a token a channel binding (granting twice is one grant).
    pub async fn grant_binding(
        &self,
        id: &TokenId,
        channel_binding_id: &str,
        actor: (&'static str, &str),
        now: i64,
    ) -> Result<i64, StoreError> {
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO cloud_api_token_grants (token_id, channel_binding_id, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(channel_binding_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted > 0 {
                sqlx::query("UPDATE cloud_api_tokens SET updated_at = $2 WHERE token_id = $1")
                    .bind(id.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let event = grant_event(actor.0, actor.1, id, channel_binding_id);
                record_audit!(tx, &event, now);
            }
            let created_at: i64 = sqlx::query_scalar(
                "SELECT created_at FROM cloud_api_token_grants WHERE token_id = $1 AND channel_binding_id = $2",
            )
            .bind(id.as_str())
            .bind(channel_binding_id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(created_at)
        })
    }

    /// What authenticating `id` needs, read from the writer so a revocation counts at once.
    pub async fn token_credential(&self, id: &TokenId) -> Result<Option<TokenCredential>, StoreError> {
        let credential = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as::<_, TokenCredential>(
                "SELECT token_hash, scopes, expires_at, revoked_at, last_used_at \
                 FROM cloud_api_tokens WHERE token_id = $1",
            )
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(credential)
    }

    /// Records that a token was used now, unless that was recorded within the last minute.
    pub async fn touch_token(&self, id: &TokenId, last_used_at: Option<i64>, now: i64) -> Result<(), StoreError> {
        if last_used_at.is_some_and(|at| now - at < LAST_USED_RESOLUTION_MS) {
            return Ok(());
        }
        crate::with_writer!(&self.db, |pool| {
            sqlx::query(
                "UPDATE cloud_api_tokens SET last_used_at = $2 \
                 WHERE token_id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(id.as_str())
            .bind(now)
            .bind(now - LAST_USED_RESOLUTION_MS)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The channel bindings a token may act on now: its grants whose binding is active.
    pub async fn active_grants(&self, token_id: &str) -> Result<Vec<String>, StoreError> {
        let grants = crate::with_writer!(&self.db, |pool| {
            sqlx::query_scalar(
                "SELECT g.channel_binding_id FROM cloud_api_token_grants g \
                 JOIN cloud_channel_bindings b ON b.binding_id = g.channel_binding_id \
                 WHERE g.token_id = $1 AND b.status = 'active' ORDER BY g.channel_binding_id",
            )
            .bind(token_id)
            .fetch_all(pool)
            .await?
        });
        Ok(grants)
    }
}

fn grant_event(actor_type: &'static str, actor_id: &str, token: &TokenId, binding: &str) -> AuditEvent {
    AuditEvent {
        event_type: "api_token.channel_binding_granted",
        actor_type,
        actor_id: actor_id.to_owned(),
        target_type: "api_token",
        target_id: token.to_string(),
        metadata: serde_json::json!({ "channelBindingId": binding }),
    }
}
