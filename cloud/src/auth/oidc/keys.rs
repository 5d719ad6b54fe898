//! The issuer's signing keys: its discovery document (cached 10 min) names the JWKS (cached
//! 5 min). A token signed with a key id the cache lacks refetches the JWKS once, at most every
//! 30 s, so rotated keys are picked up without letting unknown ids hammer the issuer. After a
//! failed fetch the last keys stay in use and the issuer is left alone for 10 s.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::clock::Clock;

/// How long the discovery document is reused.
const DISCOVERY_TTL_MS: i64 = 10 * 60 * 1000;
/// How long the JWKS is reused.
const JWKS_TTL_MS: i64 = 5 * 60 * 1000;
/// The least time between refetches for an unknown key id.
const UNKNOWN_KID_REFETCH_MS: i64 = 30 * 1000;
/// How long a failed fetch leaves the issuer alone.
const FAILURE_BACKOFF_MS: i64 = 10 * 1000;
/// The whole time one fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest discovery document or JWKS read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Why the issuer's keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed (unreachable, timed out, unreadable).
    #[error("request to the issuer failed")]
    Http(#[from] reqwest::Error),
    /// The issuer answered with an error status.
    #[error("the issuer answered {0}")]
    Status(u16),
    /// The document is larger than the limit.
    #[error("the issuer's document is too large")]
    TooLarge,
    /// The document is not the JSON expected.
    #[error("the issuer's document is not valid")]
    Invalid(#[from] serde_json::Error),
    /// The discovery document names another issuer.
    #[error("the discovery document names another issuer")]
    IssuerMismatch,
    /// The JWKS URL is not https (or loopback http).
    #[error("the JWKS URL is not https")]
    InsecureJwksUri,
    /// A recent fetch failed; the issuer is left alone for a while.
    #[error("the issuer failed recently")]
    BackingOff,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

/// One of the JWKS's RSA signing keys; other keys are ignored.
#[derive(Deserialize)]
struct RsaJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    n: String,
    e: String,
}

struct Key {
    kid: Option<String>,
    alg: Option<String>,
    key: DecodingKey,
}

#[derive(Default)]
struct State {
    jwks_uri: Option<(Url, i64)>,
    keys: Option<(Vec<Key>, i64)>,
    last_unknown_kid_refetch: Option<i64>,
    failed_at: Option<i64>,
}

/// The issuer's keys, fetched on demand and cached.
pub struct KeySource {
    issuer: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl KeySource {
    /// Keys of `issuer` (no trailing slash), fetched with `http`.
    pub fn new(issuer: String, http: reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        Self { issuer, http, clock, state: Mutex::new(State::default()) }
    }

    /// The key that verifies a token with `kid` and `alg`: `Ok(None)` when the issuer has no
    /// such key even after a refetch.
    pub async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Option<DecodingKey>, FetchError> {
        // One fetch at a time: concurrent requests wait for it instead of each fetching.
        let mut state = self.state.lock().await;
        let now = self.clock.now_ms();
        let fresh = state.keys.as_ref().is_some_and(|(_, at)| now - at < JWKS_TTL_MS);
        if !fresh {
            self.refresh_or_keep(&mut state, now).await?;
        }
        if let Some(key) = find(&state, kid, alg) {
            return Ok(Some(key));
        }
        let may_refetch = state.last_unknown_kid_refetch.is_none_or(|at| now - at >= UNKNOWN_KID_REFETCH_MS);
        if fresh && may_refetch {
            state.last_unknown_kid_refetch = Some(now);
            self.refresh_or_keep(&mut state, now).await?;
            return Ok(find(&state, kid, alg));
        }
        Ok(None)
    }

    /// Refetches the keys; on failure keeps the previous ones if there are any.
    async fn refresh_or_keep(&self, state: &mut State, now: i64) -> Result<(), FetchError> {
        if state.failed_at.is_some_and(|at| now - at < FAILURE_BACKOFF_MS) {
            return if state.keys.is_some() { Ok(()) } else { Err(FetchError::BackingOff) };
        }
        match self.refresh(state, now).await {
            Ok(()) => {
                state.failed_at = None;
                Ok(())
            }
            Err(error) => {
                state.failed_at = Some(now);
                if state.keys.is_some() {
                    tracing::warn!(error = %error, issuer = %self.issuer, "OIDC key refresh failed; keeping the last keys");
                    Ok(())
                } else {
                    Err(error)
                }
            }
        }
    }

    async fn refresh(&self, state: &mut State, now: i64) -> Result<(), FetchError> {
        let jwks_uri = match &state.jwks_uri {
            Some((uri, at)) if now - at < DISCOVERY_TTL_MS => uri.clone(),
            _ => {
                let uri = self.discover().await?;
                state.jwks_uri = Some((uri.clone(), now));
                uri
            }
        };
        let set: JwkSet = serde_json::from_slice(&self.fetch(jwks_uri).await?)?;
        let keys = set.keys.into_iter().filter_map(rsa_key).collect();
        state.keys = Some((keys, now));
        Ok(())
    }

    async fn discover(&self) -> Result<Url, FetchError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let url = Url::parse(&url).map_err(|_| FetchError::IssuerMismatch)?;
        let discovery: Discovery = serde_json::from_slice(&self.fetch(url).await?)?;
        if discovery.issuer.trim_end_matches('/') != self.issuer {
            return Err(FetchError::IssuerMismatch);
        }
        let jwks_uri = Url::parse(&discovery.jwks_uri).map_err(|_| FetchError::InsecureJwksUri)?;
        let loopback = crate::config::auth::is_loopback_url(&jwks_uri);
        if jwks_uri.scheme() != "https" && !(jwks_uri.scheme() == "http" && loopback) {
            return Err(FetchError::InsecureJwksUri);
        }
        Ok(jwks_uri)
    }

    async fn fetch(&self, url: Url) -> Result<Vec<u8>, FetchError> {
        let mut response = self.http.get(url).header("accept", "application/json").send().await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Keys already fetched, for tests that verify without an issuer.
    #[cfg(test)]
    pub(crate) async fn seed(&self, keys: &serde_json::Value, now: i64) {
        let keys = keys["keys"].as_array().cloned().unwrap_or_default();
        self.state.lock().await.keys = Some((keys.into_iter().filter_map(rsa_key).collect(), now));
    }
}

/// An RSA signing key from one JWKS entry; `None` for other keys and malformed ones.
fn rsa_key(value: serde_json::Value) -> Option<Key> {
    let jwk: RsaJwk = serde_json::from_value(value).ok()?;
    if jwk.kty != "RSA" || jwk.usage.as_deref().is_some_and(|usage| usage != "sig") {
        return None;
    }
    let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e).ok()?;
    Some(Key { kid: jwk.kid, alg: jwk.alg, key })
}

/// The key for `kid` (or the only key, for a token without one) that may sign with `alg`.
fn find(state: &State, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
    let (keys, _) = state.keys.as_ref()?;
    let alg_name = format!("{alg:?}");
    let usable = |key: &&Key| key.alg.as_deref().is_none_or(|a| a == alg_name);
    match kid {
        Some(kid) => keys.iter().filter(usable).find(|key| key.kid.as_deref() == Some(kid)),
        None => match keys.as_slice() {
            [only] => Some(only).filter(usable),
            _ => None,
        },
    }
    .map(|key| key.key.clone())
}
