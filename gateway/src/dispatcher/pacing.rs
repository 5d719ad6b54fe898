//! Pacing to a platform's speed (for example Slack: about one update per message and one new
//! message per channel per second): the dispatcher defers a delivery until the pace allows it,
//! without spending an attempt. Deferred edits pile up behind the head of their lane, and the
//! dispatcher then skips straight to the latest one, so a streamed reply is edited at the
//! platform's pace and still ends with its exact final text. Pace is not state worth keeping:
//! it starts empty after a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::Millis;

/// Keys remembered before old ones are forgotten.
const MAX_KEYS: usize = 10_000;

/// When each paced key last went out.
#[derive(Debug, Default)]
pub struct Pacer {
    last: Mutex<HashMap<String, Millis>>,
}

impl Pacer {
    /// When `key` may go next, if that is later than `now`.
    pub fn wait_until(&self, key: &str, interval_ms: i64, now: Millis) -> Option<Millis> {
        let last = self.last.lock().ok()?;
        let next = last.get(key)? + interval_ms;
        (next > now).then_some(next)
    }

    /// Holds `key` until `until` (a platform asked us to wait): `wait_until(key, 0, now)` answers
    /// `until` while it lies ahead.
    pub fn hold(&self, key: String, until: Millis) {
        self.mark(key, until, 0);
    }

    /// Takes `key`'s turn at `now` unless its interval has not passed: `Err(when)` then. The
    /// check and the take are one step, so deliveries of several lanes paced by one key (new
    /// messages in one channel) cannot all pass at once.
    pub fn reserve(&self, key: &str, interval_ms: i64, now: Millis) -> Result<(), Millis> {
        let Ok(mut last) = self.last.lock() else { return Ok(()) };
        if let Some(next) = last.get(key).map(|at| at + interval_ms).filter(|next| *next > now) {
            return Err(next);
        }
        if last.len() >= MAX_KEYS {
            last.retain(|_, at| now - *at < interval_ms);
        }
        last.insert(key.to_owned(), now);
        Ok(())
    }

    /// Records that `key` went out at `now`.
    pub fn mark(&self, key: String, now: Millis, interval_ms: i64) {
        let Ok(mut last) = self.last.lock() else { return };
        if last.len() >= MAX_KEYS {
            last.retain(|_, at| now - *at < interval_ms);
        }
        last.insert(key, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_waits_out_its_interval_and_others_do_not() {
        let pacer = Pacer::default();
        assert_eq!(pacer.wait_until("a", 1000, 0), None);
        pacer.mark("a".into(), 100, 1000);
        assert_eq!(pacer.wait_until("a", 1000, 500), Some(1100));
        assert_eq!(pacer.wait_until("a", 1000, 1100), None);
        assert_eq!(pacer.wait_until("b", 1000, 500), None);
    }

    #[test]
    fn a_reservation_takes_the_turn_so_a_second_one_waits() {
        let pacer = Pacer::default();
        assert_eq!(pacer.reserve("channel", 1000, 0), Ok(()));
        assert_eq!(pacer.reserve("channel", 1000, 10), Err(1000), "the second lane waits its turn");
        assert_eq!(pacer.reserve("other", 1000, 10), Ok(()));
        assert_eq!(pacer.reserve("channel", 1000, 1000), Ok(()));
    }

    #[test]
    fn a_hold_lasts_until_its_end() {
        let pacer = Pacer::default();
        pacer.hold("chat".into(), 5_000);
        assert_eq!(pacer.wait_until("chat", 0, 1_000), Some(5_000));
        assert_eq!(pacer.wait_until("chat", 0, 5_000), None);
    }
}
