//! Ingress protection for `/webhooks/*`: a generous per-source rate limit (platforms share egress
//! addresses) and a hard back-off for sources that keep failing authentication (as Open Cowork:
//! 20 failures in 60 s block the source for 60 s). Both answer 429 with `Retry-After`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::source::ProxyTrust;
use super::{AppState, IngressError};

/// Failures that trigger the back-off.
const AUTH_FAILURES: u32 = 20;
/// The window they are counted in, and how long the block lasts.
const AUTH_WINDOW: Duration = Duration::from_secs(60);
/// Sources remembered by the auth back-off before old, unblocked ones are forgotten.
const MAX_TRACKED_SOURCES: usize = 10_000;

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

#[derive(Clone, Copy, Debug)]
struct FailureWindow {
    started: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

/// The limiter state of the process.
pub struct Protection {
    limits: IngressLimits,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    failures: Mutex<HashMap<IpAddr, FailureWindow>>,
    requests: AtomicU64,
}

impl Protection {
    /// Builds the limiters.
    pub fn new(limits: IngressLimits) -> Self {
        let per_second = NonZeroU32::new(limits.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst));
        Self { limits, limiter, failures: Mutex::default(), requests: AtomicU64::new(0) }
    }

    fn blocked_for(&self, source: IpAddr, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().ok()?;
        let until = failures.get(&source)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    fn record_auth_failure(&self, source: IpAddr, now: Instant) {
        let Ok(mut failures) = self.failures.lock() else { return };
        if failures.len() >= MAX_TRACKED_SOURCES {
            failures.retain(|_, w| w.blocked_until.is_some_and(|u| u > now) || now - w.started < AUTH_WINDOW);
        }
        let window = failures.entry(source).or_insert(FailureWindow { started: now, failures: 0, blocked_until: None });
        if now - window.started >= AUTH_WINDOW {
            *window = FailureWindow { started: now, failures: 0, blocked_until: None };
        }
        window.failures += 1;
        if window.failures >= AUTH_FAILURES {
            window.blocked_until = Some(now + AUTH_WINDOW);
        }
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
    if let Some(wait) = protection.blocked_for(source, now) {
        return too_many(wait, IngressError::AuthBackoff);
    }
    if let Err(not_until) = protection.limiter.check_key(&source) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        return too_many(wait, IngressError::RateLimited);
    }
    // The keyed limiter keeps a cell per source; forget idle ones now and then.
    if protection.requests.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
        protection.limiter.retain_recent();
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        protection.record_auth_failure(source, Instant::now());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_failures_in_a_minute_block_the_source_for_a_minute() {
        let protection = Protection::new(IngressLimits::default());
        let source: IpAddr = "198.51.100.7".parse().unwrap();
        let start = Instant::now();
        for _ in 0..19 {
            protection.record_auth_failure(source, start);
        }
        assert_eq!(protection.blocked_for(source, start), None);
        protection.record_auth_failure(source, start);
        assert_eq!(protection.blocked_for(source, start), Some(AUTH_WINDOW));
        assert_eq!(protection.blocked_for(source, start + AUTH_WINDOW), None, "the block ends");
        let other: IpAddr = "198.51.100.8".parse().unwrap();
        assert_eq!(protection.blocked_for(other, start), None);
    }

    #[test]
    fn failures_spread_over_more_than_a_window_do_not_block() {
        let protection = Protection::new(IngressLimits::default());
        let source: IpAddr = "198.51.100.7".parse().unwrap();
        let start = Instant::now();
        for i in 0..40u64 {
            protection.record_auth_failure(source, start + Duration::from_secs(i * 4));
        }
        assert_eq!(protection.blocked_for(source, start + Duration::from_secs(160)), None);
    }
}
