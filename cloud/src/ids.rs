//! Deterministic ids: the same inputs always name the same session, identity or command, which
//! is what makes binding and submitting race-safe and idempotent.

use sha2::{Digest, Sha256};

use cowork_cloud_client::{CommandId, IdentityId, SessionId};

/// `prefix` + the first 32 hex digits of sha256 over `parts` joined by NUL.
pub(crate) fn stable_id(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (index, part) in parts.iter().enumerate() {
        // NUL cannot occur in the ids we hash, so joining by it cannot make two inputs collide.
        if index > 0 {
            hasher.update([0u8]);
        }
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut id = String::with_capacity(prefix.len() + 32);
    id.push_str(prefix);
    for byte in digest.iter().take(16) {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// The session of a channel thread.
pub fn session_id(binding_id: &str, chat_id: &str, thread_id: &str) -> SessionId {
    SessionId::new(stable_id("sess_", &[binding_id, chat_id, thread_id]))
}

/// The identity of a sender on a channel binding.
pub fn identity_id(binding_id: &str, external_user_id: &str) -> IdentityId {
    IdentityId::new(stable_id("idn_", &[binding_id, external_user_id]))
}

/// The command submitted to a session under an idempotency key.
pub fn command_id(session: &SessionId, idempotency_key: &str) -> CommandId {
    CommandId::new(stable_id("cmd_", &[session.as_str(), idempotency_key]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = session_id("b", "c", "t");
        assert_eq!(a, session_id("b", "c", "t"));
        assert_eq!(a.as_str().len(), "sess_".len() + 32);
        assert_ne!(a, session_id("b", "ct", ""));
        assert_ne!(command_id(&a, "k1"), command_id(&a, "k2"));
    }
}
