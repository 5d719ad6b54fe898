//! `Retry-After` parsing of outbound answers: the generic webhook receiver's
//! (`providers/src/webhook/outbound.rs`: delay-seconds or an IMF-fixdate relative to now) and
//! Slack's (`providers/src/slack/api.rs`: whole seconds only).
//!
//! Input: four bytes of "now" (little-endian, times 4 seconds), then the header value.
//!
//! Invariants:
//! - Slack: a wait exactly when the trimmed value is 1 to 10 ASCII digits, of that many seconds;
//! - webhook: all digits is that many seconds (saturating at `u64::MAX`); otherwise a date the
//!   `httpdate` crate reads as an IMF-fixdate is the time from now until then (zero when past);
//!   a date the webhook parser accepts ends in ` GMT` and lies before the year 10000;
//! - a value that is not visible ASCII is no wait; nothing panics.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use cowork_providers::fuzzing::{slack_retry_after, webhook_retry_after};
use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// 10000-01-01T00:00:00Z plus a few days of slack for lenient day numbers.
const YEAR_10000: u64 = 253_402_300_800 + 4 * 86_400;

fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fuzz_target!(|data: &[u8]| {
    let Some((now, raw)) = data.split_first_chunk::<4>() else { return };
    let now = u64::from(u32::from_le_bytes(*now)) * 4;
    let Ok(value) = HeaderValue::from_bytes(raw) else { return };
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, value.clone());
    let slack = slack_retry_after(&headers);
    let webhook = webhook_retry_after(&headers, now);
    let Ok(text) = value.to_str() else {
        assert_eq!((slack, webhook), (None, None), "a value that is not visible ASCII");
        return;
    };
    let text = text.trim();

    let expected = (digits(text) && text.len() <= 10).then(|| Duration::from_secs(text.parse().expect("digits")));
    assert_eq!(slack, expected, "Slack Retry-After {text:?}");

    if digits(text) {
        assert_eq!(webhook, Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX))), "{text:?}");
        return;
    }
    let imf_shape = text.len() == 29 && text.as_bytes()[3] == b',' && text.ends_with(" GMT");
    if let (true, Ok(at)) = (imf_shape, httpdate::parse_http_date(text)) {
        match at.duration_since(UNIX_EPOCH) {
            Ok(at) => {
                assert_eq!(webhook, Some(Duration::from_secs(at.as_secs().saturating_sub(now))), "date {text:?}");
            }
            Err(_) => assert_eq!(webhook, None, "a date before 1970: {text:?}"),
        }
    }
    if let Some(wait) = webhook {
        assert!(text.ends_with(" GMT"), "a date without GMT accepted: {text:?}");
        assert!(wait.as_secs() < YEAR_10000, "{text:?}");
    }
});
