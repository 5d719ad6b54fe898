//! The configured human auth mode: what resolves a request that carries no API token (tokens
//! are always tried first, and a bad token is refused, never passed on to the mode).

use std::sync::Arc;

use axum::http::HeaderMap;

use super::Principal;
use super::header::{HeaderAuth, HeaderAuthError};
use super::oidc::{OidcAuth, OidcError, OidcSetupError};
use crate::clock::Clock;
use crate::config::auth::{AuthConfig, AuthMode};

/// Why a request without an API token was refused (always a 401 to the caller; the reason is
/// only logged).
#[derive(Debug, thiserror::Error)]
pub enum HumanAuthError {
    /// The mode accepts API tokens only, or the request carries no credentials for it.
    #[error("no credentials")]
    NoCredentials,
    /// Identity headers refused.
    #[error("header auth: {0}")]
    Header(#[from] HeaderAuthError),
    /// Bearer JWT refused.
    #[error("oidc: {0}")]
    Oidc(#[from] OidcError),
}

/// The resolver of the configured mode.
#[derive(Debug)]
pub enum HumanAuth {
    /// API tokens only.
    Tokens,
    /// Everyone without a token is the local owner.
    LocalOwner,
    /// Signed identity headers.
    Header(HeaderAuth),
    /// OIDC bearer JWTs.
    Oidc(Box<OidcAuth>),
}

impl HumanAuth {
    /// The resolver for `config`.
    pub fn new(config: &AuthConfig, clock: Arc<dyn Clock>) -> Result<Self, OidcSetupError> {
        Ok(match config.mode {
            AuthMode::Token => Self::Tokens,
            AuthMode::None => Self::LocalOwner,
            AuthMode::Header => Self::Header(HeaderAuth::new(&config.header, clock)),
            AuthMode::Oidc => Self::Oidc(Box::new(OidcAuth::new(&config.oidc, clock)?)),
        })
    }

    /// The mode.
    pub fn mode(&self) -> AuthMode {
        match self {
            Self::Tokens => AuthMode::Token,
            Self::LocalOwner => AuthMode::None,
            Self::Header(_) => AuthMode::Header,
            Self::Oidc(_) => AuthMode::Oidc,
        }
    }

    /// Whether API tokens are the only credentials.
    pub fn tokens_only(&self) -> bool {
        matches!(self, Self::Tokens)
    }

    /// The principal of a request without an API token: `bearer` is its `Authorization: Bearer`
    /// value, if any.
    pub async fn authenticate(&self, headers: &HeaderMap, bearer: Option<&str>) -> Result<Principal, HumanAuthError> {
        match self {
            Self::Tokens => Err(HumanAuthError::NoCredentials),
            Self::LocalOwner => Ok(Principal::LocalOwner),
            Self::Header(auth) => Ok(Principal::Human(auth.authenticate(headers)?)),
            Self::Oidc(auth) => {
                let token = bearer.ok_or(HumanAuthError::NoCredentials)?;
                Ok(Principal::Human(auth.authenticate(token).await?))
            }
        }
    }
}

/// The bearer value of an `Authorization` header (`Bearer` in any case).
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    let value = authorization?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim()).filter(|token| !token.is_empty())
}
