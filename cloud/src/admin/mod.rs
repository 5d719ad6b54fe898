//! Setting the cloud up: headless agents, channel bindings and API tokens, for the admin API and
//! the command line alike. Every operation checks the principal, validates its input (400 with
//! the field's name), writes its change and audit event in one transaction, and answers the
//! public shape of the record (Open Cowork's JSON, secrets left out).

pub mod agents;
pub mod bindings;
pub mod public;
pub mod tokens;
pub mod validate;

use std::sync::Arc;

use crate::api::ApiError;
use crate::auth::{PresentedToken, Principal, Scopes, TokenHasher, token::MIN_KEY_BYTES};
use crate::billing::Billing;
use crate::clock::Clock;
use crate::config::Secret;
use crate::store::CloudStore;

/// The one organization this cloud serves (Open Cowork's single-org mode).
pub const ORG_ID: &str = "default";

/// The admin operations over one store.
#[derive(Clone)]
pub struct Admin {
    store: CloudStore,
    clock: Arc<dyn Clock>,
    hasher: TokenHasher,
    billing: Billing,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("hasher", &self.hasher).finish_non_exhaustive()
    }
}

/// Why the token-hashing key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The configured key is too short.
    #[error("OPEN_COWORK_CLOUD_TOKEN_HASH_KEY must be at least {MIN_KEY_BYTES} bytes")]
    TooShort,
    /// The stored key could not be read or made.
    #[error("cannot read the token key from the database")]
    Store(#[from] crate::StoreError),
}

impl Admin {
    /// The admin operations, hashing tokens under `configured_key` or, without one, under the
    /// key stored in the database (made on first use).
    pub async fn open(
        store: CloudStore,
        clock: Arc<dyn Clock>,
        configured_key: Option<&Secret>,
    ) -> Result<Self, KeyError> {
        let key = match configured_key {
            Some(key) if key.expose().len() < MIN_KEY_BYTES => return Err(KeyError::TooShort),
            Some(key) => key.clone(),
            None => store.token_key(clock.now_ms()).await?,
        };
        Ok(Self { store, clock, hasher: TokenHasher::new(key), billing: Billing::None })
    }

    /// These operations, with creating agents and bindings gated by `billing`.
    pub fn with_billing(mut self, billing: Billing) -> Self {
        self.billing = billing;
        self
    }

    /// The token hasher (interaction tokens are hashed under the same key).
    pub fn hasher(&self) -> &TokenHasher {
        &self.hasher
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The principal behind an `Authorization` header value: a valid, unexpired, unrevoked API
    /// token. Every failure is the same 401, so a caller learns nothing about which tokens exist.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        const REFUSED: ApiError = ApiError::Unauthorized("A valid API token is required.");
        let presented = authorization
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .and_then(PresentedToken::parse)
            .ok_or(REFUSED)?;
        let credential = self.store.token_credential(&presented.id).await?.ok_or(REFUSED)?;
        // Hash before looking at expiry and revocation, so every refusal costs the same.
        let matches = self.hasher.verify(&presented, &credential.token_hash);
        let now = self.now();
        if !matches || credential.revoked_at.is_some() || credential.expires_at <= now {
            return Err(REFUSED);
        }
        if let Err(error) = self.store.touch_token(&presented.id, credential.last_used_at, now).await {
            // Bookkeeping only: a failed write must not refuse a valid token.
            tracing::warn!(%error, "could not record API token use");
        }
        Ok(Principal::Token { id: presented.id, scopes: Scopes::from_stored(&credential.scopes) })
    }
}
