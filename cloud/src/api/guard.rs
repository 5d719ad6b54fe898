//! Request guardrails in front of authentication: a rate limit per client address and per
//! token, and an authentication back-off per address and per presented credential (10 failed
//! authentications in a minute block it for a minute), all answering 429 with `Retry-After`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::ApiError;
use crate::http::limits::{AuthBackoff, KeyedLimit};

/// Failed authentications that trigger the back-off, and the window (also the block's length).
const AUTH_FAILURES: u32 = 10;
const AUTH_WINDOW: Duration = Duration::from_secs(60);

/// The API's request limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Requests per window, per client address and per token (`OPEN_COWORK_CLOUD_RATE_LIMIT_MAX_REQUESTS`,
    /// default 600; 0 turns the limit off).
    pub max_requests: u32,
    /// The window (`OPEN_COWORK_CLOUD_RATE_LIMIT_WINDOW_MS`, default 60 s).
    pub window: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self { max_requests: 600, window: Duration::from_secs(60) }
    }
}

/// The limiter state of the process.
pub struct Guard {
    requests: Option<KeyedLimit<String>>,
    backoff: AuthBackoff<String>,
}

impl Guard {
    /// Limiters for `limits`.
    pub fn new(limits: RequestLimits) -> Self {
        let requests = (limits.max_requests > 0).then(|| KeyedLimit::new(limits.max_requests, limits.window));
        Self { requests, backoff: AuthBackoff::new(AUTH_FAILURES, AUTH_WINDOW) }
    }

    /// Before authenticating: refuses a blocked address or credential, and an address over its
    /// rate.
    pub fn before_auth(&self, client: IpAddr, authorization: Option<&str>) -> Result<(), ApiError> {
        let now = Instant::now();
        let blocked = self
            .backoff
            .blocked_for(&format!("ip:{client}"), now)
            .or_else(|| authorization.and_then(|value| self.backoff.blocked_for(&credential_key(value), now)));
        if let Some(wait) = blocked {
            return Err(limited("auth.backoff", "Too many failed authentications; retry later.", wait));
        }
        self.rate(format!("ip:{client}"))
    }

    /// After a failed authentication: counts it against the address and the credential.
    pub fn auth_failed(&self, client: IpAddr, authorization: Option<&str>) {
        let now = Instant::now();
        self.backoff.record_failure(format!("ip:{client}"), now);
        if let Some(value) = authorization {
            self.backoff.record_failure(credential_key(value), now);
        }
    }

    /// After authenticating: the token's own rate.
    pub fn token(&self, token_id: &str) -> Result<(), ApiError> {
        self.rate(format!("token:{token_id}"))
    }

    fn rate(&self, key: String) -> Result<(), ApiError> {
        match &self.requests {
            Some(limit) => limit
                .check(&key)
                .map_err(|wait| limited("rate_limit.http_exceeded", "Too many requests; retry later.", wait)),
            None => Ok(()),
        }
    }
}

/// A credential's back-off key: a hash, so presented secrets are never held in memory as keys.
fn credential_key(authorization: &str) -> String {
    let digest = Sha256::digest(authorization.as_bytes());
    format!("auth:{}", hex::encode(&digest[..8]))
}

fn limited(code: &'static str, message: &str, wait: Duration) -> ApiError {
    let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    ApiError::RateLimited { code, message: message.to_owned(), retry_after_ms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_block_the_address_and_the_credential() {
        let guard = Guard::new(RequestLimits::default());
        let (ip, other_ip): (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap());
        for _ in 0..10 {
            assert!(guard.before_auth(ip, Some("Bearer x")).is_ok());
            guard.auth_failed(ip, Some("Bearer x"));
        }
        let error = guard.before_auth(ip, Some("Bearer y")).expect_err("the address is blocked");
        assert_eq!(error.code(), "auth.backoff");
        // The same credential from elsewhere is blocked too; another credential is not.
        assert!(guard.before_auth(other_ip, Some("Bearer x")).is_err());
        assert!(guard.before_auth(other_ip, Some("Bearer z")).is_ok());
    }

    #[test]
    fn the_rate_limit_answers_429_with_a_wait_and_can_be_off() {
        let guard = Guard::new(RequestLimits { max_requests: 2, window: Duration::from_secs(60) });
        assert!(guard.token("t").is_ok() && guard.token("t").is_ok());
        let error = guard.token("t").expect_err("over the limit");
        assert_eq!(error.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(matches!(error, ApiError::RateLimited { retry_after_ms, .. } if retry_after_ms > 1_000));
        let off = Guard::new(RequestLimits { max_requests: 0, window: Duration::from_secs(60) });
        assert!((0..1000).all(|_| off.token("t").is_ok()));
    }
}
