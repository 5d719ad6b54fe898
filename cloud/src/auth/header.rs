//! Header auth (§5.2): a trusted proxy names the person in `x-open-cowork-*` headers and signs
//! them, `v1=<hex HMAC-SHA256(secret, "v1\n<ts>\n<tenant-id>\n<tenant-name>\n<user-id>\n
//! <user-email>\n<user-role>")>`, with the timestamp in unix seconds. Unlike Open Cowork the
//! secret itself need not travel (a `x-open-cowork-header-auth-secret` header is still checked,
//! in constant time, when sent), and each signature is accepted once inside its window. Without
//! a secret (loopback, or the unsigned override) only members are accepted.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use cowork_providers::signature::{self, SignatureError};
use subtle::ConstantTimeEq;

use super::human::{Human, HumanRole, HumanSource};
use super::replay::{DEFAULT_CAPACITY, ReplayCache, ReplayError};
use crate::clock::{Clock, duration_ms};
use crate::config::Secret;
use crate::config::auth::HeaderAuthConfig;

/// The identity headers, in signing order.
pub const TENANT_ID: &str = "x-open-cowork-tenant-id";
/// The tenant's display name.
pub const TENANT_NAME: &str = "x-open-cowork-tenant-name";
/// The user id.
pub const USER_ID: &str = "x-open-cowork-user-id";
/// The email address.
pub const USER_EMAIL: &str = "x-open-cowork-user-email";
/// The role (`owner`, `admin`, `member`).
pub const USER_ROLE: &str = "x-open-cowork-user-role";
/// The signing time, unix seconds.
pub const TIMESTAMP: &str = "x-open-cowork-header-auth-timestamp";
/// `v1=<hex>`.
pub const SIGNATURE: &str = "x-open-cowork-header-auth-signature";
/// The shared secret, as Open Cowork's proxies send it (optional here).
pub const SECRET: &str = "x-open-cowork-header-auth-secret";

/// The signature's version prefix and first signed line.
const VERSION: &str = "v1";

/// The tenant when the proxy names none.
const DEFAULT_TENANT: &str = "default";

/// Why identity headers were refused; every variant is the same 401 to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderAuthError {
    /// No user id header.
    #[error("no user id header")]
    MissingIdentity,
    /// A header is repeated or not visible ASCII.
    #[error("garbled identity header")]
    Garbled,
    /// The role is not owner, admin or member.
    #[error("unknown role")]
    UnknownRole,
    /// Owner and admin need signed headers.
    #[error("unsigned headers may only name members")]
    UnsignedPrivileged,
    /// A secret is configured and no timestamp or signature came.
    #[error("missing signature")]
    MissingSignature,
    /// A secret header came and does not match.
    #[error("secret mismatch")]
    SecretMismatch,
    /// The timestamp or signature did not verify.
    #[error("{0}")]
    Signature(#[from] SignatureError),
    /// The signature was used before, or cannot be remembered.
    #[error("{0}")]
    Replay(#[from] ReplayError),
}

/// The header-auth verifier of the process.
pub struct HeaderAuth {
    secret: Option<Secret>,
    max_age: Duration,
    replays: ReplayCache,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for HeaderAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderAuth").field("signed", &self.secret.is_some()).field("max_age", &self.max_age).finish()
    }
}

impl HeaderAuth {
    /// A verifier for `config`, telling time by `clock`.
    pub fn new(config: &HeaderAuthConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            secret: config.secret.clone(),
            max_age: config.max_signature_age,
            replays: ReplayCache::new(DEFAULT_CAPACITY),
            clock,
        }
    }

    /// Whether headers must be signed.
    pub fn signed(&self) -> bool {
        self.secret.is_some()
    }

    /// The person the headers name, once their signature (when a secret is set), timestamp and
    /// freshness check out.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Human, HeaderAuthError> {
        let [tenant_id, tenant_name, user_id, email, role] =
            [TENANT_ID, TENANT_NAME, USER_ID, USER_EMAIL, USER_ROLE].map(|name| text(headers, name));
        let (tenant_id, tenant_name, user_id, email, role) = (tenant_id?, tenant_name?, user_id?, email?, role?);
        if user_id.is_empty() {
            return Err(HeaderAuthError::MissingIdentity);
        }
        let parsed_role = HumanRole::parse(role).ok_or(HeaderAuthError::UnknownRole)?;
        match &self.secret {
            Some(secret) => {
                let signed = [tenant_id, tenant_name, user_id, email, role];
                self.verify_signature(secret, headers, signed)?;
            }
            None if parsed_role.administers() => return Err(HeaderAuthError::UnsignedPrivileged),
            None => {}
        }
        let tenant_id = if tenant_id.is_empty() { DEFAULT_TENANT } else { tenant_id };
        Ok(Human {
            user_id: user_id.to_owned(),
            email: email.to_owned(),
            tenant_id: tenant_id.to_owned(),
            role: parsed_role,
            source: HumanSource::Header,
        })
    }

    fn verify_signature(&self, secret: &Secret, headers: &HeaderMap, fields: [&str; 5]) -> Result<(), HeaderAuthError> {
        let key = secret.expose().as_bytes();
        let presented_secret = text(headers, SECRET)?;
        if !presented_secret.is_empty() && !bool::from(presented_secret.as_bytes().ct_eq(key)) {
            return Err(HeaderAuthError::SecretMismatch);
        }
        let timestamp = text(headers, TIMESTAMP)?;
        let presented = text(headers, SIGNATURE)?;
        if timestamp.is_empty() || presented.is_empty() {
            return Err(HeaderAuthError::MissingSignature);
        }
        let now = self.clock.now_ms();
        let max_age_ms = duration_ms(self.max_age);
        let seconds = signature::check_timestamp_ms(timestamp, now, max_age_ms)?;
        let [tenant_id, tenant_name, user_id, email, role] = fields.map(str::as_bytes);
        let lines = [VERSION.as_bytes(), timestamp.as_bytes(), tenant_id, tenant_name, user_id, email, role];
        let signature = signature::verify_joined(key, VERSION, b"\n", &lines, presented)?;
        // Only a verified signature is remembered, so forgeries cannot fill the cache; it
        // matters until its timestamp leaves the window.
        let expires_at = seconds.saturating_mul(1000).saturating_add(max_age_ms);
        self.replays.first_use(signature, expires_at, now)?;
        Ok(())
    }
}

/// A header's value, or empty when absent; repeated or non-ASCII values are refused.
fn text<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, HeaderAuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else { return Ok("") };
    if values.next().is_some() {
        return Err(HeaderAuthError::Garbled);
    }
    value.to_str().map(str::trim).map_err(|_| HeaderAuthError::Garbled)
}

/// Signs identity headers as a proxy must: the `v1=<hex>` value for `fields` (tenant id,
/// tenant name, user id, email, role) at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: &str, fields: [&str; 5]) -> String {
    let [tenant_id, tenant_name, user_id, email, role] = fields.map(str::as_bytes);
    let lines = [VERSION.as_bytes(), timestamp.as_bytes(), tenant_id, tenant_name, user_id, email, role];
    format!("{VERSION}={}", hex::encode(signature::sign_joined(secret, b"\n", &lines)))
}

#[cfg(test)]
mod tests;
