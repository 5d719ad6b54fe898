//! The checks on a verified ID token's claims (§5.2): issuer, audience, expiry and not-before
//! with 60 s of clock skew, a verified email in an allowed domain; and the person they name.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::human::{Human, HumanRole, HumanSource};

/// The clock skew allowed on `exp` and `nbf`, in seconds.
pub const SKEW_SECS: f64 = 60.0;

/// What a token must match.
#[derive(Clone, Debug)]
pub struct ClaimRules {
    /// The configured issuer, without a trailing slash.
    pub issuer: String,
    /// The client id the audience must contain.
    pub client_id: String,
    /// Allowed email domains, lowercase; empty allows any.
    pub allowed_email_domains: Vec<String>,
}

/// Why a token's claims were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The claims are not a JSON object.
    #[error("claims are not an object")]
    NotAnObject,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` does not contain the client id.
    #[error("wrong audience")]
    Audience,
    /// `exp` is missing or not a number.
    #[error("no expiry")]
    MissingExpiry,
    /// `exp` has passed (beyond the skew).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the skew), or not a number.
    #[error("token not yet valid")]
    NotYetValid,
    /// `sub` is missing.
    #[error("no subject")]
    MissingSubject,
    /// `email` is missing.
    #[error("no email")]
    MissingEmail,
    /// `email_verified` is not `true`.
    #[error("email not verified")]
    EmailUnverified,
    /// The email's domain is not allowed.
    #[error("email domain not allowed")]
    DomainNotAllowed,
}

impl ClaimRules {
    /// The person `claims` name, if they pass every check at `now_secs`.
    pub fn check(&self, claims: &Value, now_secs: i64) -> Result<Human, ClaimError> {
        let claims = claims.as_object().ok_or(ClaimError::NotAnObject)?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
        let issuer = text("iss").ok_or(ClaimError::Issuer)?;
        if issuer.trim_end_matches('/') != self.issuer {
            return Err(ClaimError::Issuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.client_id,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(self.client_id.as_str())),
            _ => false,
        };
        if !audience_ok {
            return Err(ClaimError::Audience);
        }
        let now = now_secs as f64;
        let expires = claims.get("exp").and_then(Value::as_f64).ok_or(ClaimError::MissingExpiry)?;
        if now > expires + SKEW_SECS {
            return Err(ClaimError::Expired);
        }
        if let Some(not_before) = claims.get("nbf") {
            let not_before = not_before.as_f64().ok_or(ClaimError::NotYetValid)?;
            if now + SKEW_SECS < not_before {
                return Err(ClaimError::NotYetValid);
            }
        }
        let subject = text("sub").ok_or(ClaimError::MissingSubject)?;
        let email = text("email").ok_or(ClaimError::MissingEmail)?;
        // Exactly `true`: a string "true" or a missing claim is not a verified address.
        if claims.get("email_verified") != Some(&Value::Bool(true)) {
            return Err(ClaimError::EmailUnverified);
        }
        let domain = email.rsplit_once('@').map(|(_, domain)| domain.to_ascii_lowercase()).unwrap_or_default();
        if !self.allowed_email_domains.is_empty() && !self.allowed_email_domains.contains(&domain) {
            return Err(ClaimError::DomainNotAllowed);
        }
        // Memberships are not stored yet: a role claim the issuer sets counts, else member.
        let role = text("role").and_then(HumanRole::parse).unwrap_or(HumanRole::Member);
        let tenant = ["tenant_id", "tid", "hd"].into_iter().find_map(text).map_or(domain, str::to_owned);
        Ok(Human {
            user_id: user_id(&self.issuer, subject),
            email: email.to_owned(),
            tenant_id: tenant,
            role,
            source: HumanSource::Oidc,
        })
    }
}

/// Open Cowork's user id for an OIDC subject: the first 32 hex digits of
/// sha256(`issuer \0 sub`), so the same person keeps one id and two issuers never collide.
pub fn user_id(issuer: &str, subject: &str) -> String {
    let digest = Sha256::new().chain_update(issuer).chain_update([0]).chain_update(subject).finalize();
    hex::encode(digest)[..32].to_owned()
}
