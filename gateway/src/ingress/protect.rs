//! Ingress protection for `/webhooks/*`: a generous per-source rate limit (platforms share egress
//! addresses) and a hard back-off for sources that keep failing authentication (as Open Cowork:
//! 20 failures in 60 s block the source for 60 s). Both answer 429 with `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cowork_cloud::http::limits::{AuthBackoff, KeyedLimit};

use super::source::ProxyTrust;
use super::{AppState, IngressError};

/// Failures that trigger the back-off.
const AUTH_FAILURES: u32 = 20;
/// The window they are counted in, and how long the block lasts.
const AUTH_WINDOW: Duration = Duration::from_secs(60);

/// Per-source limits.
#[derive(Clone, Debug, PartialEq)]
pub struct IngressLimits {
    /// Sustained requests per second per source.
    pub per_second: u32,
    /// Burst per source.
    pub burst: u32,
    /// Where the client address comes from.
    pub proxies: ProxyTrust,
}

impl Default for IngressLimits {
    fn default() -> Self {
        Self { per_second: 100, burst: 200, proxies: ProxyTrust::default() }
    }
}

/// The limiter state of the process.
pub struct Protection {
    limits: IngressLimits,
    limiter: KeyedLimit<IpAddr>,
    backoff: AuthBackoff<IpAddr>,
}

impl Protection {
    /// Builds the limiters.
    pub fn new(limits: IngressLimits) -> Self {
        // `burst` at once, refilled at `per_second`.
        let refill = Duration::from_secs_f64(f64::from(limits.burst.max(1)) / f64::from(limits.per_second.max(1)));
        let limiter = KeyedLimit::new(limits.burst, refill);
        Self { limits, limiter, backoff: AuthBackoff::new(AUTH_FAILURES, AUTH_WINDOW) }
    }
}

fn too_many(wait: Duration, error: IngressError) -> Response {
    let mut response = error.into_response();
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The middleware in front of the webhook route.
pub(super) async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let protection = &state.protection;
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |info| info.0);
    let source = protection.limits.proxies.client(peer, request.headers());
    let now = Instant::now();
    if let Some(wait) = protection.backoff.blocked_for(&source, now) {
        return too_many(wait, IngressError::AuthBackoff);
    }
    if let Err(wait) = protection.limiter.check(&source) {
        return too_many(wait, IngressError::RateLimited);
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        protection.backoff.record_failure(source, Instant::now());
    }
    response
}
