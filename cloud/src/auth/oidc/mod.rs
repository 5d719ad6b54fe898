//! OIDC bearer auth (§5.2): a JWT from the configured issuer, signed RS256, RS384 or RS512 with
//! a key from the issuer's JWKS, whose claims pass [`ClaimRules`]. The token's header only picks
//! which RSA key to try: no other algorithm is ever attempted, so `none` and HMAC tokens (which
//! would make a public key a shared secret) cannot verify.

pub mod claims;
pub mod keys;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};

pub use claims::{ClaimError, ClaimRules};
pub use keys::{FetchError, KeySource};

use super::human::Human;
use crate::clock::Clock;
use crate::config::auth::OidcConfig;

/// The algorithms accepted.
const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];

/// Why a bearer JWT was refused; every variant is the same 401 to the caller.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Not a JWT (including `alg: none`, which this library does not parse).
    #[error("not a JWT")]
    Malformed,
    /// Signed with an algorithm other than RS256/384/512.
    #[error("algorithm not allowed")]
    Algorithm,
    /// The issuer has no key for the token.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// The claims fail a check.
    #[error("{0}")]
    Claims(#[from] ClaimError),
    /// The issuer's keys could not be fetched.
    #[error("issuer unavailable")]
    Unreachable(#[from] FetchError),
}

/// Why OIDC auth could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OidcSetupError {
    /// The issuer or client id is missing (the config check prevents this).
    #[error("OPEN_COWORK_CLOUD_OIDC_ISSUER and OPEN_COWORK_CLOUD_OIDC_CLIENT_ID are required")]
    Incomplete,
    /// The HTTP client could not be built.
    #[error("cannot build the OIDC HTTP client")]
    Client(#[from] reqwest::Error),
}

/// The OIDC verifier of the process.
pub struct OidcAuth {
    rules: ClaimRules,
    keys: KeySource,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for OidcAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcAuth").field("rules", &self.rules).finish_non_exhaustive()
    }
}

impl OidcAuth {
    /// A verifier for `config`.
    pub fn new(config: &OidcConfig, clock: Arc<dyn Clock>) -> Result<Self, OidcSetupError> {
        let (Some(issuer), Some(client_id)) = (&config.issuer, &config.client_id) else {
            return Err(OidcSetupError::Incomplete);
        };
        let http = reqwest::Client::builder()
            .timeout(keys::FETCH_TIMEOUT)
            .connect_timeout(keys::FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let issuer = issuer.trim_end_matches('/').to_owned();
        let rules = ClaimRules {
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            allowed_email_domains: config.allowed_email_domains.clone(),
        };
        Ok(Self { rules, keys: KeySource::new(issuer, http, clock.clone()), clock })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.rules.issuer
    }

    /// The person a bearer JWT names, once its signature and claims check out.
    pub async fn authenticate(&self, token: &str) -> Result<Human, OidcError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| OidcError::Malformed)?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(OidcError::Algorithm);
        }
        let key = self.keys.key(header.kid.as_deref(), header.alg).await?.ok_or(OidcError::UnknownKey)?;
        // Only the signature is checked here; the claims are checked below against our clock.
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(|error| match error
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => OidcError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => OidcError::Algorithm,
            _ => OidcError::Malformed,
        })?;
        let now_secs = self.clock.now_ms().div_euclid(1000);
        Ok(self.rules.check(&data.claims, now_secs)?)
    }

    /// Keys given directly, for tests that verify without an issuer.
    #[cfg(test)]
    pub(crate) async fn seed_keys(&self, jwks: &serde_json::Value) {
        self.keys.seed(jwks, self.clock.now_ms()).await;
    }
}

#[cfg(test)]
mod tests;
