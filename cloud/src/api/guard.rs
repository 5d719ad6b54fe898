//! Request guardrails around authentication: an authentication back-off per address and per
//! presented credential (10 failed authentications in a minute block it for a minute), then a
//! rate limit per token (or person) and per client address; a gateway token (a trusted service that sends
//! every channel's traffic from one address) has a limit of its own instead. All answer 429 with
//! `Retry-After`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::ApiError;
use crate::auth::{Principal, Scope};
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
    /// Requests per window of each gateway token
    /// (`OPEN_COWORK_CLOUD_GATEWAY_RATE_LIMIT_MAX_REQUESTS`, default 6 000; 0 turns it off).
    pub gateway_max_requests: u32,
    /// The window (`OPEN_COWORK_CLOUD_RATE_LIMIT_WINDOW_MS`, default 60 s).
    pub window: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self { max_requests: 600, gateway_max_requests: 6_000, window: Duration::from_secs(60) }
    }
}

/// The limiter state of the process.
pub struct Guard {
    requests: Option<KeyedLimit<String>>,
    gateways: Option<KeyedLimit<String>>,
    backoff: AuthBackoff<String>,
}

impl Guard {
    /// Limiters for `limits`.
    pub fn new(limits: RequestLimits) -> Self {
        let limiter = |max: u32| (max > 0).then(|| KeyedLimit::new(max, limits.window));
        Self {
            requests: limiter(limits.max_requests),
            gateways: limiter(limits.gateway_max_requests),
            backoff: AuthBackoff::new(AUTH_FAILURES, AUTH_WINDOW),
        }
    }

    /// Before authenticating: refuses a blocked address or credential.
    pub fn before_auth(&self, client: IpAddr, authorization: Option<&str>) -> Result<(), ApiError> {
        let now = Instant::now();
        let blocked = self
            .backoff
            .blocked_for(&format!("ip:{client}"), now)
            .or_else(|| authorization.and_then(|value| self.backoff.blocked_for(&credential_key(value), now)));
        match blocked {
            Some(wait) => Err(limited("auth.backoff", "Too many failed authentications; retry later.", wait)),
            None => Ok(()),
        }
    }

    /// After a failed authentication: counts it against the address and the credential.
    pub fn auth_failed(&self, client: IpAddr, authorization: Option<&str>) {
        let now = Instant::now();
        self.backoff.record_failure(format!("ip:{client}"), now);
        if let Some(value) = authorization {
            self.backoff.record_failure(credential_key(value), now);
        }
    }

    /// After authenticating: a gateway token's own rate, or the address's and the token's.
    pub fn after_auth(&self, client: IpAddr, principal: &Principal) -> Result<(), ApiError> {
        match principal {
            Principal::Token { id, scopes } if scopes.contains(Scope::Gateway) => {
                rate(self.gateways.as_ref(), format!("token:{id}"))
            }
            Principal::Token { id, .. } => {
                rate(self.requests.as_ref(), format!("ip:{client}"))?;
                rate(self.requests.as_ref(), format!("token:{id}"))
            }
            Principal::Human(human) => {
                rate(self.requests.as_ref(), format!("ip:{client}"))?;
                rate(self.requests.as_ref(), format!("user:{}:{}", human.source.as_str(), human.user_id))
            }
            Principal::LocalOwner => rate(self.requests.as_ref(), format!("ip:{client}")),
            Principal::CommandLine => Ok(()),
        }
    }
}

fn rate(limit: Option<&KeyedLimit<String>>, key: String) -> Result<(), ApiError> {
    match limit {
        Some(limit) => limit
            .check(&key)
            .map_err(|wait| limited("rate_limit.http_exceeded", "Too many requests; retry later.", wait)),
        None => Ok(()),
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
    use crate::auth::{Scopes, TokenId};

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

    fn token(scopes: &[&str]) -> Principal {
        let id = TokenId::parse("tok_AAAAAAAAAAAAAAAA").expect("id");
        Principal::Token { id, scopes: Scopes::parse(scopes.iter().copied()).expect("scopes") }
    }

    #[test]
    fn the_rate_limit_answers_429_with_a_wait_and_can_be_off() {
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let limits = RequestLimits { max_requests: 2, gateway_max_requests: 3, window: Duration::from_secs(60) };
        let guard = Guard::new(limits);
        let admin = token(&["admin"]);
        assert!(guard.after_auth(ip, &admin).is_ok() && guard.after_auth(ip, &admin).is_ok());
        let error = guard.after_auth(ip, &admin).expect_err("over the limit");
        assert_eq!(error.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(matches!(error, ApiError::RateLimited { retry_after_ms, .. } if retry_after_ms > 1_000));
        // A gateway token from the same address has its own, larger budget.
        let gateway = token(&["gateway"]);
        assert!((0..3).all(|_| guard.after_auth(ip, &gateway).is_ok()));
        assert!(guard.after_auth(ip, &gateway).is_err());
        let off =
            Guard::new(RequestLimits { max_requests: 0, gateway_max_requests: 0, window: Duration::from_secs(60) });
        assert!((0..1000).all(|_| off.after_auth(ip, &admin).is_ok()));
    }
}
