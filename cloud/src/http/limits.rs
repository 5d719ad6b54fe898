//! Abuse limits both binaries apply: a keyed rate limit (GCRA, via `governor`) and an
//! authentication back-off that blocks a key after too many failed authentications in a window.

use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys remembered by the back-off before old, unblocked ones are forgotten.
const MAX_TRACKED_KEYS: usize = 10_000;

/// Requests per key: a sustained rate and a burst.
pub struct KeyedLimit<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    /// `burst` requests at once, refilled evenly over `period` (`burst` per `period` sustained).
    pub fn new(burst: u32, period: Duration) -> Self {
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let refill = period.checked_div(burst.get()).filter(|d| !d.is_zero()).unwrap_or(Duration::from_nanos(1));
        let quota = Quota::with_period(refill).unwrap_or_else(|| Quota::per_second(burst)).allow_burst(burst);
        Self { limiter: RateLimiter::keyed(quota), checks: AtomicU64::new(0) }
    }

    /// `Err(wait)` when `key` is over its limit.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        // The limiter keeps a cell per key; forget idle ones now and then.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()))
        })
    }
}

#[derive(Clone, Copy, Debug)]
struct FailureWindow {
    started: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

/// Blocks a key for `window` once it failed authentication `max_failures` times within it.
pub struct AuthBackoff<K: Hash + Eq> {
    max_failures: u32,
    window: Duration,
    keys: Mutex<HashMap<K, FailureWindow>>,
}

impl<K: Hash + Eq> AuthBackoff<K> {
    /// A back-off after `max_failures` failures in `window`, blocking for `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self { max_failures: max_failures.max(1), window, keys: Mutex::default() }
    }

    /// How long `key` stays blocked, if it is.
    pub fn blocked_for(&self, key: &K, now: Instant) -> Option<Duration> {
        let keys = self.keys.lock().ok()?;
        let until = keys.get(key)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failed authentication of `key`.
    pub fn record_failure(&self, key: K, now: Instant) {
        let Ok(mut keys) = self.keys.lock() else { return };
        if keys.len() >= MAX_TRACKED_KEYS {
            let window = self.window;
            keys.retain(|_, w| w.blocked_until.is_some_and(|u| u > now) || now - w.started < window);
        }
        let entry = keys.entry(key).or_insert(FailureWindow { started: now, failures: 0, blocked_until: None });
        if now - entry.started >= self.window {
            *entry = FailureWindow { started: now, failures: 0, blocked_until: None };
        }
        entry.failures += 1;
        if entry.failures >= self.max_failures {
            entry.blocked_until = Some(now + self.window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enough_failures_in_a_window_block_the_key_for_a_window() {
        let window = Duration::from_secs(60);
        let backoff = AuthBackoff::new(20, window);
        let start = Instant::now();
        for _ in 0..19 {
            backoff.record_failure("a", start);
        }
        assert_eq!(backoff.blocked_for(&"a", start), None);
        backoff.record_failure("a", start);
        assert_eq!(backoff.blocked_for(&"a", start), Some(window));
        assert_eq!(backoff.blocked_for(&"a", start + window), None, "the block ends");
        assert_eq!(backoff.blocked_for(&"b", start), None);
    }

    #[test]
    fn failures_spread_over_more_than_a_window_do_not_block() {
        let backoff = AuthBackoff::new(20, Duration::from_secs(60));
        let start = Instant::now();
        for i in 0..40u64 {
            backoff.record_failure("a", start + Duration::from_secs(i * 4));
        }
        assert_eq!(backoff.blocked_for(&"a", start + Duration::from_secs(160)), None);
    }

    #[test]
    fn a_burst_passes_and_the_next_request_waits() {
        let limit = KeyedLimit::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limit.check(&"k").is_ok());
        }
        let wait = limit.check(&"k").expect_err("over the limit");
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(limit.check(&"other").is_ok());
    }
}
