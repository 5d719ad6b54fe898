//! Fake provider settings, including injected send faults (latency; a status such as 429 with
//! `Retry-After`, or 503; for the first N sends) so retry paths can be tested end to end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;

use crate::ProviderError;

/// `settings` of a `kind: "fake"` provider.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FakeSettings {
    /// How many transcript entries to keep (oldest dropped first).
    pub transcript_limit: usize,
    /// A delay before every send, in milliseconds.
    pub send_latency_ms: u64,
    /// How many of the first sends fail.
    pub fail_first_sends: u64,
    /// The HTTP status those sends fail with (429, 5xx, 401, 403 or another 4xx).
    pub fail_status: u16,
    /// The `Retry-After` those failures carry, in seconds.
    pub fail_retry_after_seconds: Option<u64>,
}

impl Default for FakeSettings {
    fn default() -> Self {
        Self {
            transcript_limit: 1000,
            send_latency_ms: 0,
            fail_first_sends: 0,
            fail_status: 503,
            fail_retry_after_seconds: None,
        }
    }
}

impl FakeSettings {
    /// Parses the `settings` object; errors name the offending field.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let settings: Self = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        if settings.transcript_limit == 0 || settings.transcript_limit > 100_000 {
            return Err("transcriptLimit must be between 1 and 100000".into());
        }
        if !(400..=599).contains(&settings.fail_status) {
            return Err("failStatus must be an HTTP error status (400-599)".into());
        }
        Ok(settings)
    }
}

/// Counts sends so the first N can fail.
#[derive(Debug, Default)]
pub(super) struct FaultState {
    sends: AtomicU64,
}

impl FaultState {
    /// Waits the configured latency, then fails if this is one of the first N sends.
    pub(super) async fn apply(&self, settings: &FakeSettings) -> Result<(), ProviderError> {
        if settings.send_latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(settings.send_latency_ms)).await;
        }
        let n = self.sends.fetch_add(1, Ordering::SeqCst);
        if n >= settings.fail_first_sends {
            return Ok(());
        }
        let status = settings.fail_status;
        let retry_after = settings.fail_retry_after_seconds.map(Duration::from_secs);
        let message = format!("injected fault: HTTP {status}");
        Err(match status {
            401 | 403 => ProviderError { kind: crate::ProviderErrorKind::Unauthorized, retry_after: None, message },
            429 | 500..=599 => ProviderError::transient(message, retry_after),
            _ => ProviderError::permanent(message),
        })
    }
}
