//! The replay cache of signed identity headers: each signature is accepted once while its
//! timestamp is inside the window. Entries expire with the window, and the cache is bounded;
//! when it is full of live entries it refuses (fails closed) rather than forgetting one.

use std::collections::HashMap;
use std::sync::Mutex;

/// How many live signatures the cache holds at most (about 5 MB).
pub const DEFAULT_CAPACITY: usize = 65_536;

/// Why a signature was not accepted as new.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The signature was seen before inside its window.
    #[error("signature replayed")]
    Replayed,
    /// The cache is full of live signatures.
    #[error("replay cache full")]
    Full,
}

/// Signatures seen, with the unix ms at which each stops mattering.
#[derive(Debug)]
pub struct ReplayCache {
    seen: Mutex<HashMap<[u8; 32], i64>>,
    capacity: usize,
}

impl ReplayCache {
    /// An empty cache of at most `capacity` live entries.
    pub fn new(capacity: usize) -> Self {
        Self { seen: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    /// Records `signature` as used until `expires_at_ms`; refuses one already recorded and
    /// still live at `now_ms`.
    pub fn first_use(&self, signature: [u8; 32], expires_at_ms: i64, now_ms: i64) -> Result<(), ReplayError> {
        // A poisoned lock only means another request panicked mid-insert; the map is still whole.
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.get(&signature).is_some_and(|&expires| expires >= now_ms) {
            return Err(ReplayError::Replayed);
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, expires| *expires >= now_ms);
            if seen.len() >= self.capacity {
                return Err(ReplayError::Full);
            }
        }
        seen.insert(signature, expires_at_ms);
        Ok(())
    }

    /// How many entries are held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_accepted_once_within_its_window() {
        let cache = ReplayCache::new(8);
        assert_eq!(cache.first_use([1; 32], 1_000, 0), Ok(()));
        assert_eq!(cache.first_use([1; 32], 1_000, 500), Err(ReplayError::Replayed));
        assert_eq!(cache.first_use([2; 32], 1_000, 500), Ok(()));
        // Past its window the entry no longer matters (the timestamp check refuses it anyway).
        assert_eq!(cache.first_use([1; 32], 3_000, 1_001), Ok(()));
    }

    #[test]
    fn a_full_cache_sweeps_expired_entries_and_otherwise_refuses() {
        let cache = ReplayCache::new(2);
        assert!(cache.first_use([1; 32], 100, 0).is_ok() && cache.first_use([2; 32], 200, 0).is_ok());
        assert_eq!(cache.first_use([3; 32], 300, 50), Err(ReplayError::Full));
        assert_eq!(cache.first_use([3; 32], 300, 150), Ok(()), "the first entry expired and was swept");
        assert_eq!(cache.len(), 2);
    }
}
