//! Our outbound Message-IDs: `ocw.{payload}.{digest}@{domain of from}`.
//!
//! - `digest`: 32 hex digits of SHA-256 over the provider id and the delivery id, so a retried
//!   delivery re-sends the same Message-ID and receivers can drop the duplicate.
//! - `payload`: hex of what a reply needs without any storage (`0` when nothing fits), as lines:
//!   the thread root (the delivery's thread id, possibly empty), then, for a mail with buttons,
//!   the handles' longest common prefix and each handle's remaining suffix. A reply saying just
//!   `2` maps to the second button; a client that answers with In-Reply-To but drops References
//!   still lands in the thread (and in the chat the buttons were shown in). Gateway handles share
//!   their code (`Ab3dE9xYz1:y`, `Ab3dE9xYz1:n`), which keeps the id short. When root and handles
//!   do not both fit, the handles win (the root has References as a second source).
//!
//! Anyone can forge such an id in In-Reply-To; that only lets them name a thread of their own
//! chat and handles, which they can type anyway, and the gateway accepts a handle only in the chat
//! it was shown in.

use sha2::{Digest, Sha256};

use super::threading::normalize_id;

/// The local-part prefix that marks our ids.
const PREFIX: &str = "ocw.";
/// The longest hex payload put into an id (ids stay well inside the 998-byte line limit).
const MAX_PAYLOAD_HEX: usize = 600;

/// What one of our ids carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Carried {
    /// The thread root the mail was sent into.
    pub root: Option<String>,
    /// The button handles, in order.
    pub handles: Vec<String>,
}

/// Our Message-ID (without angle brackets) for one delivery.
pub fn outbound_id(provider_id: &str, delivery_id: &str, carried: &Carried, domain: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(provider_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(delivery_id.as_bytes());
    let digest = hex::encode(&hasher.finalize()[..16]);
    let root = carried.root.as_deref().and_then(normalize_id);
    // One handle we cannot carry makes the numbers unusable: then none are carried.
    let handles: &[String] = if carried.handles.iter().all(|h| is_encodable(h)) { &carried.handles } else { &[] };
    let payload = [(root.as_deref(), handles), (None, handles), (root.as_deref(), &[][..])]
        .into_iter()
        .filter_map(|(root, handles)| encode(root, handles))
        .find(|payload| payload.len() <= MAX_PAYLOAD_HEX)
        .unwrap_or_else(|| "0".to_owned());
    format!("{PREFIX}{payload}.{digest}@{domain}")
}

/// What one of our ids carries; `None` when the id is not ours (other domain or shape) or
/// carries nothing valid.
pub fn decode(id: &str, domain: &str) -> Option<Carried> {
    let (local, id_domain) = id.rsplit_once('@')?;
    if !id_domain.eq_ignore_ascii_case(domain) {
        return None;
    }
    let (payload, digest) = local.strip_prefix(PREFIX)?.split_once('.')?;
    if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) || payload.len() > MAX_PAYLOAD_HEX {
        return None;
    }
    let text = String::from_utf8(hex::decode(payload).ok()?).ok()?;
    let mut lines = text.split('\n');
    let root = match lines.next()? {
        "" => None,
        root => Some(normalize_id(root)?),
    };
    let handles: Vec<String> = match lines.next() {
        None => Vec::new(),
        Some(prefix) => lines.map(|suffix| format!("{prefix}{suffix}")).collect(),
    };
    if !handles.iter().all(|handle| is_encodable(handle)) || (root.is_none() && handles.is_empty()) {
        return None;
    }
    Some(Carried { root, handles })
}

/// The hex payload of a root and handles; `None` when there is nothing to carry.
fn encode(root: Option<&str>, handles: &[String]) -> Option<String> {
    if root.is_none() && handles.is_empty() {
        return None;
    }
    let mut text = root.unwrap_or_default().to_owned();
    if let Some(first) = handles.first() {
        let prefix_len = handles.iter().fold(first.len(), |len, handle| {
            first.bytes().zip(handle.bytes()).take(len).take_while(|(a, b)| a == b).count()
        });
        text.push('\n');
        text.push_str(&first[..prefix_len]);
        for handle in handles {
            text.push('\n');
            text.push_str(&handle[prefix_len..]);
        }
    }
    Some(hex::encode(text))
}

/// A handle we can carry: non-empty visible ASCII within the handle limit.
fn is_encodable(handle: &str) -> bool {
    !handle.is_empty() && handle.len() <= crate::MAX_HANDLE_BYTES && handle.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carried(root: Option<&str>, handles: &[&str]) -> Carried {
        Carried { root: root.map(str::to_owned), handles: handles.iter().map(|h| h.to_string()).collect() }
    }

    #[test]
    fn ids_are_deterministic_per_delivery_and_carry_root_and_handles() {
        let both =
            carried(Some("CAKx1m2f0bRoot=kq@mail.example.org"), &["Ab3dE9xYz1:y", "Ab3dE9xYz1:n", "Ab3dE9xYz1:r"]);
        let id = outbound_id("mail", "dlv-1", &both, "example.com");
        assert_eq!(id, outbound_id("mail", "dlv-1", &both, "example.com"));
        assert_ne!(id, outbound_id("mail", "dlv-2", &both, "example.com"));
        assert_ne!(id, outbound_id("other", "dlv-1", &both, "example.com"));
        assert!(id.starts_with("ocw.") && id.ends_with("@example.com") && id.len() < 200, "{id}");
        assert_eq!(decode(&id, "EXAMPLE.com"), Some(both));
        assert_eq!(decode(&id, "other.com"), None);
    }

    #[test]
    fn partial_payloads() {
        let plain = outbound_id("mail", "dlv-1", &Carried::default(), "example.com");
        assert!(plain.starts_with("ocw.0."), "{plain}");
        assert_eq!(decode(&plain, "example.com"), None);
        for value in [carried(Some("root@x"), &[]), carried(None, &["abc", "xyz:1", "abd"]), carried(None, &["only:y"])]
        {
            assert_eq!(decode(&outbound_id("m", "d", &value, "x.io"), "x.io"), Some(value));
        }
        let spaced = carried(Some("root@x"), &["has space"]);
        assert_eq!(decode(&outbound_id("m", "d", &spaced, "x.io"), "x.io"), Some(carried(Some("root@x"), &[])));
        let bad_root = carried(Some("bad root"), &["h:y"]);
        assert_eq!(decode(&outbound_id("m", "d", &bad_root, "x.io"), "x.io"), Some(carried(None, &["h:y"])));
    }

    #[test]
    fn handles_win_when_both_do_not_fit() {
        let long_root = format!("{}@x.io", "r".repeat(290));
        let value = carried(Some(&long_root), &["Ab3dE9xYz1:y", "Ab3dE9xYz1:n"]);
        assert_eq!(
            decode(&outbound_id("m", "d", &value, "x.io"), "x.io"),
            Some(carried(None, &["Ab3dE9xYz1:y", "Ab3dE9xYz1:n"]))
        );
        let many: Vec<String> = (0..12).map(|i| format!("{i:0>2}{}", "q".repeat(30))).collect();
        let many = Carried { root: Some("root@x".into()), handles: many };
        assert_eq!(decode(&outbound_id("m", "d", &many, "x.io"), "x.io"), Some(carried(Some("root@x"), &[])));
    }

    #[test]
    fn foreign_and_garbled_ids_carry_nothing() {
        for id in [
            "CAF=abc@mail.gmail.com",
            "ocw.zz.0123456789abcdef0123456789abcdef@x.io",
            "ocw.0a.short@x.io",
            "ocw.@x.io",
            "no-at-sign",
        ] {
            assert_eq!(decode(id, "x.io"), None, "{id}");
        }
    }
}
