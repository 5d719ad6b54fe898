//! API tokens: `GET|POST /api/api-tokens`, `POST /api/api-tokens/{id}/channel-bindings`,
//! `DELETE /api/api-tokens/{id}` and `open-cowork-cloud tokens`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ORG_ID, public, validate};
use crate::api::ApiError;
use crate::auth::{Principal, Scope, Scopes, TokenId};
use crate::clock::iso8601;
use crate::config::Secret;
use crate::store::NewToken;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a token lives when its expiry is not given.
pub const DEFAULT_TTL_DAYS: i64 = 90;

/// The longest a token may live.
pub const MAX_TTL_DAYS: i64 = 365;

/// A new token, as the API takes it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTokenRequest {
    /// A name to tell it by (required).
    pub name: Option<String>,
    /// `gateway`, `admin`, `operator` (at least one).
    pub scopes: Option<Vec<String>>,
    /// When it expires (RFC 3339; default in 90 days, at most 365).
    pub expires_at: Option<String>,
    /// The bindings a gateway token may act on.
    pub channel_binding_ids: Option<Vec<String>>,
}

/// A token just minted: its public record and the plaintext, shown once.
#[derive(Debug)]
pub struct IssuedToken {
    /// The public record.
    pub token: Value,
    /// The whole token.
    pub plaintext: Secret,
}

impl IssuedToken {
    /// The API's 201 body `{token, plaintext}`.
    pub fn body(&self) -> Value {
        json!({ "token": self.token, "plaintext": self.plaintext.expose() })
    }
}

impl Admin {
    /// Mints a token; `expires_at` (unix ms) defaults to 90 days from now.
    pub async fn issue_token(
        &self,
        principal: &Principal,
        name: Option<&str>,
        scopes: &[String],
        expires_at: Option<i64>,
        channel_binding_ids: &[String],
    ) -> Result<IssuedToken, ApiError> {
        principal.require_admin("API token administration")?;
        let name = validate::required_text("name", name)?;
        let scopes = Scopes::parse(scopes.iter().map(String::as_str))
            .map_err(|reason| validate::invalid(format!("scopes: {reason}.")))?;
        let now = self.now();
        let expires_at = expires_at.unwrap_or(now + DEFAULT_TTL_DAYS * DAY_MS);
        if expires_at <= now {
            return Err(validate::invalid("API token expiration must be in the future."));
        }
        if expires_at - now > MAX_TTL_DAYS * DAY_MS {
            return Err(validate::invalid(format!(
                "API token expiration cannot be more than {MAX_TTL_DAYS} days in the future."
            )));
        }
        let mut bindings: Vec<String> = channel_binding_ids.iter().map(|id| id.trim().to_owned()).collect();
        bindings.retain(|id| !id.is_empty());
        bindings.sort();
        bindings.dedup();
        if !bindings.is_empty() && !scopes.contains(Scope::Gateway) {
            return Err(validate::invalid("Channel binding grants require a gateway-scoped API token."));
        }
        for binding in &bindings {
            self.require_binding(binding).await?;
        }
        let minted = self.hasher.mint();
        let stored = self
            .store
            .insert_token(
                NewToken {
                    minted: &minted,
                    name: &name,
                    scopes: &scopes,
                    expires_at,
                    channel_binding_ids: &bindings,
                    actor: principal.actor(),
                },
                now,
            )
            .await?;
        Ok(IssuedToken { token: public::token(&stored), plaintext: minted.plaintext })
    }

    /// [`Admin::issue_token`] from the API's body, whose `expiresAt` is an RFC 3339 time.
    pub async fn issue_token_request(
        &self,
        principal: &Principal,
        request: NewTokenRequest,
    ) -> Result<IssuedToken, ApiError> {
        let expires_at = validate::instant("expiresAt", request.expires_at.as_deref())?;
        let scopes = request.scopes.unwrap_or_default();
        let bindings = request.channel_binding_ids.unwrap_or_default();
        self.issue_token(principal, request.name.as_deref(), &scopes, expires_at, &bindings).await
    }

    /// Tokens, newest first.
    pub async fn list_tokens(&self, principal: &Principal, limit: u32) -> Result<Vec<Value>, ApiError> {
        principal.require_admin("API token administration")?;
        Ok(self.store.tokens(limit).await?.iter().map(public::token).collect())
    }

    /// Revokes a token: it stops working on the next request (200 `{token, revoked: true}`).
    pub async fn revoke_token(&self, principal: &Principal, token_id: &str) -> Result<Value, ApiError> {
        principal.require_admin("API token administration")?;
        let id = TokenId::parse(token_id.trim()).ok_or_else(token_not_found)?;
        let revoked = self.store.revoke_token(&id, principal.actor(), self.now()).await?.ok_or_else(token_not_found)?;
        Ok(json!({ "token": public::token(&revoked), "revoked": true }))
    }

    /// Lets a gateway token act on one more binding (200 `{grant, token}`).
    pub async fn grant_binding(
        &self,
        principal: &Principal,
        token_id: &str,
        channel_binding_id: Option<&str>,
    ) -> Result<Value, ApiError> {
        principal.require_admin("API token administration")?;
        let binding = validate::required_text("channelBindingId", channel_binding_id)?;
        let id = TokenId::parse(token_id.trim()).ok_or_else(token_not_found)?;
        let token = self.store.token(&id).await?.ok_or_else(token_not_found)?;
        if !token.scopes.contains(Scope::Gateway) {
            return Err(validate::invalid("Channel binding grants require a gateway-scoped API token."));
        }
        self.require_binding(&binding).await?;
        let created_at = self.store.grant_binding(&id, &binding, principal.actor(), self.now()).await?;
        let token = self.store.token(&id).await?.ok_or_else(token_not_found)?;
        Ok(json!({
            "grant": {
                "orgId": ORG_ID,
                "tokenId": id,
                "channelBindingId": binding,
                "createdAt": iso8601(created_at),
            },
            "token": public::token(&token),
        }))
    }

    async fn require_binding(&self, binding_id: &str) -> Result<(), ApiError> {
        match self.store.binding(binding_id).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound("Channel binding was not found.".into())),
        }
    }
}

fn token_not_found() -> ApiError {
    ApiError::NotFound("API token was not found.".into())
}
