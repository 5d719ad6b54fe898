//! The cloud's clock: stores and workers take time from here, so tests move time instead of
//! sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time in unix milliseconds.
pub trait Clock: Send + Sync + 'static {
    /// Now, in unix milliseconds.
    fn now_ms(&self) -> i64;

    /// Milliseconds from an arbitrary start on a clock that only moves forward (for windows a
    /// wall-clock step must not stretch).
    fn monotonic_ms(&self) -> i64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        duration_ms(START.get_or_init(std::time::Instant::now).elapsed())
    }
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(duration_ms).unwrap_or(0)
    }
}

/// A clock tests move by hand; clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Starts at the given unix milliseconds.
    pub fn at(now_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now_ms)))
    }

    /// Starts at the current system time.
    pub fn new() -> Self {
        Self::at(SystemClock.now_ms())
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(duration_ms(by), Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn monotonic_ms(&self) -> i64 {
        self.now_ms()
    }
}

/// A duration in whole milliseconds, saturating instead of wrapping.
pub fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Unix milliseconds as an ISO 8601 UTC timestamp with milliseconds (`2026-12-03T12:00:00.000Z`),
/// the form Open Cowork's API uses for every time.
pub fn iso8601(ms: i64) -> String {
    use time::macros::format_description;
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

pub use cowork_cloud_client::timestamp::parse_rfc3339;

#[cfg(test)]
mod iso_tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_in_open_coworks_form() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_796_299_200_123), "2026-12-03T12:00:00.123Z");
        assert_eq!(parse_rfc3339("2026-12-03T12:00:00.123Z"), Some(1_796_299_200_123));
        assert_eq!(parse_rfc3339("2026-12-03T13:00:00+01:00"), Some(1_796_299_200_000));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2026-13-03T12:00:00Z"), None);
    }
}
