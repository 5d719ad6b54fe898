//! Circuit breakers per destination (a provider instance): after repeated transient failures the
//! circuit opens and deliveries to that destination are deferred, without spending attempts,
//! until a cooldown passes; then one probe delivery decides between closing and reopening.
//! Circuits are health, not state worth keeping: they start closed after a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use cowork_providers::ProviderId;

use crate::store::Millis;

/// How often deliveries held back by rejected credentials look again (they stay held until a
/// restart clears the state; the wait only bounds how long a claim sleeps).
const CREDENTIALS_RECHECK_MS: i64 = 60_000;

/// Thresholds of every circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitSettings {
    /// Consecutive transient failures that open a circuit.
    pub failure_threshold: u32,
    /// How long an open circuit defers deliveries, in milliseconds.
    pub cooldown_ms: i64,
}

impl Default for CircuitSettings {
    fn default() -> Self {
        Self { failure_threshold: 5, cooldown_ms: 30_000 }
    }
}

/// The state of one circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Deliveries flow; counts consecutive failures.
    Closed {
        /// Consecutive transient failures so far.
        failures: u32,
    },
    /// Deliveries wait until `until`.
    Open {
        /// End of the cooldown.
        until: Millis,
    },
    /// One probe delivery is in flight; others wait.
    HalfOpen,
    /// The platform refused our credentials: nothing is sent until the operator fixes them and
    /// restarts (deliveries wait; none is lost or dead-lettered for it).
    CredentialsRejected,
}

/// Whether a delivery may go now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go.
    Go,
    /// Wait until this time (the attempt is not spent).
    WaitUntil(Millis),
}

/// All circuits of the process.
#[derive(Debug, Default)]
pub struct Circuits {
    settings: CircuitSettings,
    states: Mutex<HashMap<ProviderId, CircuitState>>,
}

impl Circuits {
    /// Circuits with these thresholds.
    pub fn new(settings: CircuitSettings) -> Self {
        Self { settings, states: Mutex::default() }
    }

    /// Asks to deliver to `destination` at `now`.
    pub fn admit(&self, destination: &ProviderId, now: Millis) -> Admission {
        let Ok(mut states) = self.states.lock() else { return Admission::Go };
        let state = states.entry(destination.clone()).or_insert(CircuitState::Closed { failures: 0 });
        match *state {
            CircuitState::Closed { .. } => Admission::Go,
            CircuitState::Open { until } if now >= until => {
                *state = CircuitState::HalfOpen;
                Admission::Go
            }
            CircuitState::Open { until } => Admission::WaitUntil(until),
            CircuitState::CredentialsRejected => Admission::WaitUntil(now + CREDENTIALS_RECHECK_MS),
            // The probe decides soon; check again after a short pause.
            CircuitState::HalfOpen => Admission::WaitUntil(now + 1_000),
        }
    }

    /// Records a delivery that reached the destination (success, or a permanent refusal).
    pub fn record_success(&self, destination: &ProviderId) {
        if let Ok(mut states) = self.states.lock() {
            states.insert(destination.clone(), CircuitState::Closed { failures: 0 });
        }
    }

    /// Records that the destination refused our credentials; it stays refused until restart.
    pub fn record_credentials_rejected(&self, destination: &ProviderId) {
        if let Ok(mut states) = self.states.lock() {
            states.insert(destination.clone(), CircuitState::CredentialsRejected);
        }
    }

    /// Records a transient failure at `now`.
    pub fn record_failure(&self, destination: &ProviderId, now: Millis) {
        let Ok(mut states) = self.states.lock() else { return };
        let state = states.entry(destination.clone()).or_insert(CircuitState::Closed { failures: 0 });
        *state = match *state {
            CircuitState::Closed { failures } if failures + 1 < self.settings.failure_threshold => {
                CircuitState::Closed { failures: failures + 1 }
            }
            _ => CircuitState::Open { until: now + self.settings.cooldown_ms },
        };
    }

    /// Every circuit's state, for diagnostics.
    pub fn snapshot(&self) -> Vec<(ProviderId, CircuitState)> {
        let Ok(states) = self.states.lock() else { return Vec::new() };
        let mut all: Vec<_> = states.iter().map(|(k, v)| (k.clone(), *v)).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circuits() -> (Circuits, ProviderId) {
        (Circuits::new(CircuitSettings { failure_threshold: 3, cooldown_ms: 10_000 }), ProviderId::new("p"))
    }

    #[test]
    fn opens_after_the_threshold_and_defers_until_the_cooldown_ends() {
        let (c, p) = circuits();
        for _ in 0..2 {
            c.record_failure(&p, 0);
            assert_eq!(c.admit(&p, 0), Admission::Go);
        }
        c.record_failure(&p, 100);
        assert_eq!(c.admit(&p, 200), Admission::WaitUntil(10_100));
    }

    #[test]
    fn half_open_lets_one_probe_through_then_closes_or_reopens() {
        let (c, p) = circuits();
        for _ in 0..3 {
            c.record_failure(&p, 0);
        }
        assert_eq!(c.admit(&p, 10_000), Admission::Go, "the probe");
        assert_eq!(c.admit(&p, 10_001), Admission::WaitUntil(11_001), "others wait for the probe");
        c.record_failure(&p, 10_002);
        assert_eq!(c.admit(&p, 10_003), Admission::WaitUntil(20_002), "a failed probe reopens");
        assert_eq!(c.admit(&p, 20_002), Admission::Go);
        c.record_success(&p);
        assert_eq!(c.admit(&p, 20_003), Admission::Go);
        assert_eq!(c.snapshot(), vec![(p, CircuitState::Closed { failures: 0 })]);
    }

    #[test]
    fn rejected_credentials_hold_every_delivery() {
        let (c, p) = circuits();
        c.record_credentials_rejected(&p);
        assert_eq!(c.admit(&p, 5), Admission::WaitUntil(5 + CREDENTIALS_RECHECK_MS));
        assert_eq!(c.admit(&p, 10_000_000), Admission::WaitUntil(10_000_000 + CREDENTIALS_RECHECK_MS));
    }

    #[test]
    fn success_resets_the_count() {
        let (c, p) = circuits();
        c.record_failure(&p, 0);
        c.record_failure(&p, 0);
        c.record_success(&p);
        c.record_failure(&p, 0);
        c.record_failure(&p, 0);
        assert_eq!(c.admit(&p, 0), Admission::Go);
    }
}
