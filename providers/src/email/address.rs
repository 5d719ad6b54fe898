//! Mail addresses as this provider compares them: parsed with lettre's RFC 5322 parser, then
//! lowercased whole (local parts are case-sensitive in theory, never in practice, and a chat id
//! must not split one person into two sessions).

use lettre::Address;
use lettre::message::Mailbox;

/// The longest address accepted, in bytes (RFC 5321 §4.5.3.1.3 path limit).
pub const MAX_ADDRESS_BYTES: usize = 254;
/// The longest display name kept, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// A parsed sender: the lowercased address and the display name, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// `local@domain`, lowercased.
    pub address: String,
    /// The display name, control characters removed, empty as `None`.
    pub name: Option<String>,
}

/// Parses a bare address (`local@domain`); `None` when it is not one.
pub fn parse_address(raw: &str) -> Option<Address> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_ADDRESS_BYTES || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    raw.to_lowercase().parse::<Address>().ok()
}

/// Parses `Name <local@domain>`, `"Name" <local@domain>`, `<local@domain>` or a bare address.
pub fn parse_mailbox(raw: &str) -> Option<Sender> {
    let raw = raw.trim();
    if raw.len() > MAX_ADDRESS_BYTES + MAX_NAME_BYTES + 8 || raw.contains(['\r', '\n']) {
        return None;
    }
    if let Some(address) = parse_address(raw.trim_start_matches('<').trim_end_matches('>')) {
        return Some(Sender { address: address.to_string(), name: None });
    }
    let mailbox: Mailbox = raw.parse().ok()?;
    let address = parse_address(mailbox.email.as_ref())?;
    Some(Sender { address: address.to_string(), name: mailbox.name.as_deref().and_then(clean_name) })
}

/// A display name with control characters replaced by spaces, trimmed and bounded; `None`
/// when nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let cleaned: String = name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let cleaned = cleaned.trim().trim_matches('"').trim();
    if cleaned.is_empty() {
        return None;
    }
    Some(super::mail::within_bytes(cleaned, MAX_NAME_BYTES).to_owned())
}

/// The domain part of a lowercased address (`""` when there is no `@`).
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, domain)| domain).unwrap_or_default()
}

/// The local part of a lowercased address.
pub fn local_part_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(local, _)| local).unwrap_or(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_in_every_common_form() {
        let ann = |name: Option<&str>| Sender { address: "ann@example.com".into(), name: name.map(str::to_owned) };
        assert_eq!(parse_mailbox("Ann@Example.COM"), Some(ann(None)));
        assert_eq!(parse_mailbox("<ann@example.com>"), Some(ann(None)));
        assert_eq!(parse_mailbox("Ann Lee <ann@example.com>"), Some(ann(Some("Ann Lee"))));
        assert_eq!(parse_mailbox("\"Lee, Ann\" <ann@example.com>"), Some(ann(Some("Lee, Ann"))));
        assert_eq!(domain_of("ann@example.com"), "example.com");
        assert_eq!(local_part_of("ann@example.com"), "ann");
    }

    #[test]
    fn garbage_and_injection_are_refused() {
        for raw in ["", "ann", "ann@", "@example.com", "a b@example.com", "ann@example.com\r\nBcc: x@y.z", "<>"] {
            assert_eq!(parse_mailbox(raw), None, "{raw:?}");
        }
        assert_eq!(parse_address(&format!("{}@example.com", "a".repeat(250))), None);
        assert_eq!(clean_name("Ann\r\nBcc: evil@x.y").as_deref(), Some("Ann  Bcc: evil@x.y"));
        assert_eq!(clean_name(" \u{7} "), None);
    }
}
