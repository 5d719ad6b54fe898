//! The one retry schedule: exponential backoff with jitter, `Retry-After` clamped, and an
//! attempt budget. Used by the gateway's dispatcher (outbound) and inbox workers (inbound), and
//! (with full jitter) by the cloud client's stream reconnects.

use std::time::Duration;

use rand::Rng;

/// When to try again, and when to give up.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts before a row is dead-lettered.
    pub attempt_budget: u32,
    /// The delay after the first failure.
    pub initial: Duration,
    /// The largest delay.
    pub cap: Duration,
    /// Relative jitter (0.2 = ±20 %).
    pub jitter: f64,
    /// `Retry-After` values are clamped into this range.
    pub retry_after_min: Duration,
    /// See `retry_after_min`.
    pub retry_after_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempt_budget: 8,
            initial: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            jitter: 0.2,
            retry_after_min: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// True when `attempts_made` failures use up the budget.
    pub fn exhausted(&self, attempts_made: u32) -> bool {
        attempts_made >= self.attempt_budget
    }

    /// The wait after failure number `attempt` (1-based); a platform's `Retry-After` wins,
    /// clamped, without jitter (the platform chose it).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.clamp(self.retry_after_min, self.retry_after_max);
        }
        let exponent = attempt.saturating_sub(1).min(30);
        let base = self.initial.saturating_mul(1u32 << exponent).min(self.cap);
        let factor =
            if self.jitter > 0.0 { rand::rng().random_range(1.0 - self.jitter..=1.0 + self.jitter) } else { 1.0 };
        base.mul_f64(factor).min(self.cap.mul_f64(1.0 + self.jitter))
    }

    /// The wait before reconnect number `attempt` (1-based) with full jitter: uniformly random
    /// between zero and the exponential bound, so many clients cut off at once do not return
    /// in step.
    pub fn full_jitter(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let bound = self.initial.saturating_mul(1u32 << exponent).min(self.cap);
        bound.mul_f64(rand::rng().random_range(0.0..=1.0))
    }

    /// The stream reconnect schedule: full jitter from 250 ms up to 30 s.
    pub fn reconnect() -> Self {
        Self {
            attempt_budget: u32::MAX,
            initial: Duration::from_millis(250),
            cap: Duration::from_secs(30),
            jitter: 1.0,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_up_to_the_cap_within_jitter() {
        let policy = RetryPolicy::default();
        for (attempt, expected) in [(1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0), (10, 300.0), (40, 300.0)] {
            let got = policy.delay(attempt, None).as_secs_f64();
            assert!(got >= expected * 0.8 - 1e-9 && got <= expected * 1.2 + 1e-9, "attempt {attempt}: {got}");
        }
    }

    #[test]
    fn retry_after_is_clamped_and_not_jittered() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(policy.delay(1, Some(Duration::ZERO)), Duration::from_secs(1));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(86_400))), Duration::from_secs(3600));
    }

    #[test]
    fn full_jitter_stays_under_the_exponential_bound() {
        let policy = RetryPolicy::reconnect();
        for (attempt, bound) in [(1, 0.25), (2, 0.5), (5, 4.0), (8, 30.0), (30, 30.0)] {
            for _ in 0..50 {
                let got = policy.full_jitter(attempt).as_secs_f64();
                assert!((0.0..=bound + 1e-9).contains(&got), "attempt {attempt}: {got}");
            }
        }
    }

    #[test]
    fn budget_counts_attempts_made() {
        let policy = RetryPolicy { attempt_budget: 3, ..RetryPolicy::default() };
        assert!(!policy.exhausted(2));
        assert!(policy.exhausted(3));
    }
}
