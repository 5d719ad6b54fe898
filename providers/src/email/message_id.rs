//! Our outbound Message-IDs: `ocw.{handles}.{digest}@{domain of from}`.
//!
//! - `digest`: 32 hex digits of SHA-256 over the provider id and the delivery id, so a retried
//!   delivery re-sends the same Message-ID and receivers can drop the duplicate.
//! - `handles`: the button handles of the mail, hex-encoded (`0` when it has none), so a reply
//!   saying just `2` maps to the second button without any storage. The text is the handles'
//!   longest common prefix, a newline, then the remaining suffixes newline-separated: gateway
//!   handles share their code (`Ab3dE9xYz1:y`, `Ab3dE9xYz1:n`), which keeps the id short.
//!
//! Anyone can forge such an id in In-Reply-To; that only lets them name handles, which they can
//! type anyway, and the gateway accepts a handle only in the chat it was shown in.

use sha2::{Digest, Sha256};

/// The local-part prefix that marks our ids.
const PREFIX: &str = "ocw.";
/// The longest hex payload put into an id; more buttons than fit are answered by handle only.
const MAX_PAYLOAD_HEX: usize = 600;

/// Our Message-ID (without angle brackets) for one delivery.
pub fn outbound_id(provider_id: &str, delivery_id: &str, handles: &[String], domain: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(provider_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(delivery_id.as_bytes());
    let digest = hex::encode(&hasher.finalize()[..16]);
    let payload = encode_handles(handles).unwrap_or_else(|| "0".to_owned());
    format!("{PREFIX}{payload}.{digest}@{domain}")
}

/// The handles carried by one of our ids; `None` when the id is not ours (other domain or
/// shape) or carries no handles.
pub fn handles_in(id: &str, domain: &str) -> Option<Vec<String>> {
    let (local, id_domain) = id.rsplit_once('@')?;
    if !id_domain.eq_ignore_ascii_case(domain) {
        return None;
    }
    let (payload, digest) = local.strip_prefix(PREFIX)?.split_once('.')?;
    if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) || payload.len() > MAX_PAYLOAD_HEX {
        return None;
    }
    let text = String::from_utf8(hex::decode(payload).ok()?).ok()?;
    let (prefix, suffixes) = text.split_once('\n')?;
    let handles: Vec<String> = suffixes.split('\n').map(|suffix| format!("{prefix}{suffix}")).collect();
    let valid = handles.iter().all(|handle| is_encodable(handle));
    (valid && !handles.is_empty()).then_some(handles)
}

/// The payload for `handles`; `None` when there are none, one cannot be carried (empty, too
/// long, not visible ASCII) or they do not fit.
fn encode_handles(handles: &[String]) -> Option<String> {
    if handles.is_empty() || !handles.iter().all(|handle| is_encodable(handle)) {
        return None;
    }
    let first = handles[0].as_str();
    let prefix_len = handles.iter().fold(first.len(), |len, handle| {
        first.bytes().zip(handle.bytes()).take(len).take_while(|(a, b)| a == b).count()
    });
    let mut text = first[..prefix_len].to_owned();
    for handle in handles {
        text.push('\n');
        text.push_str(&handle[prefix_len..]);
    }
    let payload = hex::encode(text);
    (payload.len() <= MAX_PAYLOAD_HEX).then_some(payload)
}

/// A handle we can carry: non-empty visible ASCII within the handle limit.
fn is_encodable(handle: &str) -> bool {
    !handle.is_empty() && handle.len() <= crate::MAX_HANDLE_BYTES && handle.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handles(list: &[&str]) -> Vec<String> {
        list.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn ids_are_deterministic_per_delivery_and_carry_the_handles() {
        let buttons = handles(&["Ab3dE9xYz1:y", "Ab3dE9xYz1:n", "Ab3dE9xYz1:r"]);
        let id = outbound_id("mail", "dlv-1", &buttons, "example.com");
        assert_eq!(id, outbound_id("mail", "dlv-1", &buttons, "example.com"));
        assert_ne!(id, outbound_id("mail", "dlv-2", &buttons, "example.com"));
        assert_ne!(id, outbound_id("other", "dlv-1", &buttons, "example.com"));
        assert!(id.starts_with("ocw.") && id.ends_with("@example.com"), "{id}");
        assert!(id.len() < 100, "{id}");
        assert_eq!(handles_in(&id, "EXAMPLE.com"), Some(buttons));
        assert_eq!(handles_in(&id, "other.com"), None);
    }

    #[test]
    fn without_handles_or_with_unusual_ones() {
        let plain = outbound_id("mail", "dlv-1", &[], "example.com");
        assert!(plain.starts_with("ocw.0."), "{plain}");
        assert_eq!(handles_in(&plain, "example.com"), None);
        let mixed = handles(&["abc", "xyz:1", "abd"]);
        assert_eq!(handles_in(&outbound_id("m", "d", &mixed, "x.io"), "x.io"), Some(mixed));
        let single = handles(&["only:y"]);
        assert_eq!(handles_in(&outbound_id("m", "d", &single, "x.io"), "x.io"), Some(single));
        let spaced = handles(&["has space"]);
        assert!(outbound_id("m", "d", &spaced, "x.io").starts_with("ocw.0."));
        let many: Vec<String> = (0..12).map(|i| format!("{i:0>2}{}", "q".repeat(30))).collect();
        assert!(outbound_id("m", "d", &many, "x.io").starts_with("ocw.0."));
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
            assert_eq!(handles_in(id, "x.io"), None, "{id}");
        }
    }
}
