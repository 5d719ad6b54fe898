//! Threading (RFC 5322 §3.6.4): message ids normalized, the thread root a session is keyed by,
//! and the reply context the gateway keeps per thread so our reply carries `Re:`, In-Reply-To and
//! the References chain.
//!
//! The root is the first References id (clients keep it when they trim the chain), else the root
//! our answered mail carries in its Message-ID, else the In-Reply-To id, else a relay's
//! `threadId`, else the mail's own Message-ID (a new thread).

use serde::{Deserialize, Serialize};

use super::mail::{MAX_ID_BYTES, ParsedMail};

/// How many of the latest References ids a chain keeps after its root.
pub const MAX_CHAIN_TAIL: usize = 20;

/// A message id without angle brackets: trimmed, no whitespace or control characters, bounded.
pub fn normalize_id(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let inner = trimmed.strip_prefix('<').and_then(|rest| rest.strip_suffix('>')).unwrap_or(trimmed).trim();
    let valid = !inner.is_empty()
        && inner.len() <= MAX_ID_BYTES
        && !inner.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>'));
    valid.then(|| inner.to_owned())
}

/// The ids of a References or In-Reply-To value: `<a@b> <c@d>` (comments and junk between
/// brackets skipped), or whitespace- or comma-separated bare ids. Invalid ids are dropped.
pub fn parse_id_list(raw: &str) -> Vec<String> {
    if raw.contains('<') {
        raw.split('<')
            .skip(1)
            .filter_map(|part| part.split_once('>').map(|(id, _)| id))
            .filter_map(normalize_id)
            .collect()
    } else {
        raw.split(|c: char| c.is_whitespace() || c == ',').filter_map(normalize_id).collect()
    }
}

/// The root of `mail`'s thread: the session key. `carried_root` is the root one of our mails
/// carries in its Message-ID (when the mail answers one), for clients that drop References.
pub fn thread_root(mail: &ParsedMail, carried_root: Option<&str>) -> String {
    mail.references
        .first()
        .map(String::as_str)
        .or(carried_root)
        .or(mail.in_reply_to.as_deref())
        .or(mail.relay_thread_id.as_deref())
        .unwrap_or(&mail.message_id)
        .to_owned()
}

/// A chain capped to its root and the latest [`MAX_CHAIN_TAIL`] ids, duplicates removed.
pub fn cap_chain(chain: Vec<String>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::with_capacity(chain.len());
    for id in chain {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    if unique.len() <= MAX_CHAIN_TAIL + 1 {
        return unique;
    }
    let tail = unique.split_off(unique.len() - MAX_CHAIN_TAIL);
    unique.truncate(1);
    unique.extend(tail);
    unique
}

/// What a reply into a thread needs from the latest inbound mail; stored by the gateway as
/// JSON ([`crate::InboundEvent::reply_context`]) and handed back on every delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyContext {
    /// The inbound Message-ID (our In-Reply-To).
    pub message_id: String,
    /// Its References chain plus its own id, capped (our References).
    #[serde(default)]
    pub references: Vec<String>,
    /// Its subject (ours is `Re: ` + this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The sender's display name (our To's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
}

impl ReplyContext {
    /// The context of a reply to `mail`; `carried_root` as for [`thread_root`], so a chain
    /// rebuilt from In-Reply-To alone still starts at the root.
    pub fn of(mail: &ParsedMail, carried_root: Option<&str>) -> Self {
        let mut references = mail.references.clone();
        if references.is_empty() {
            references.extend(carried_root.map(str::to_owned));
            references.extend(mail.in_reply_to.clone());
        }
        references.push(mail.message_id.clone());
        Self {
            message_id: mail.message_id.clone(),
            references: cap_chain(references),
            subject: mail.subject.clone(),
            sender_name: mail.sender.as_ref().and_then(|sender| sender.name.clone()),
        }
    }

    /// The JSON the gateway stores.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored context; `None` when absent or not ours (then the reply starts a thread).
    /// Ids are normalized again: the store is not trusted to have kept them intact.
    pub fn from_json(raw: Option<&str>) -> Option<Self> {
        let context: Self = serde_json::from_str(raw?).ok()?;
        let message_id = normalize_id(&context.message_id)?;
        let references = cap_chain(context.references.iter().filter_map(|id| normalize_id(id)).collect());
        Some(Self { message_id, references, ..context })
    }
}

/// `Re: <subject>` without stacking prefixes (`Re: Re: x`, `RE: x`, `Re[2]: x`, `AW: x`, `SV: x`).
pub fn reply_subject(original: &str) -> String {
    let mut rest = original.trim();
    while let Some((prefix, tail)) = rest.split_once(':') {
        let word = prefix.trim().split('[').next().unwrap_or_default().to_ascii_lowercase();
        let bracket_ok = prefix.trim().split_once('[').is_none_or(|(_, n)| {
            n.strip_suffix(']').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if matches!(word.as_str(), "re" | "aw" | "sv" | "antw") && bracket_ok {
            rest = tail.trim_start();
        } else {
            break;
        }
    }
    if rest.is_empty() { "Re:".to_owned() } else { format!("Re: {rest}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalized_and_bounded() {
        assert_eq!(normalize_id(" <abc@example.com> ").as_deref(), Some("abc@example.com"));
        assert_eq!(normalize_id("abc@example.com").as_deref(), Some("abc@example.com"));
        for bad in ["", "<>", "<a b@c>", "<a\r\nb@c>", "a<b@c", &"x".repeat(MAX_ID_BYTES + 1)] {
            assert_eq!(normalize_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn id_lists_in_every_form() {
        assert_eq!(parse_id_list("<a@x> (comment) <b@x>\r\n <c@x>"), ["a@x", "b@x", "c@x"]);
        assert_eq!(parse_id_list("a@x b@x,c@x"), ["a@x", "b@x", "c@x"]);
        assert_eq!(parse_id_list("<a@x> <bad id> <b@x"), ["a@x"]);
    }

    #[test]
    fn root_prefers_references_then_in_reply_to_then_relay_then_self() {
        let mut mail = ParsedMail { message_id: "self@x".into(), ..ParsedMail::default() };
        assert_eq!(thread_root(&mail, None), "self@x");
        mail.relay_thread_id = Some("relay".into());
        assert_eq!(thread_root(&mail, None), "relay");
        mail.in_reply_to = Some("parent@x".into());
        assert_eq!(thread_root(&mail, None), "parent@x");
        assert_eq!(thread_root(&mail, Some("carried@x")), "carried@x");
        mail.references = vec!["root@x".into(), "parent@x".into()];
        assert_eq!(thread_root(&mail, Some("carried@x")), "root@x");
    }

    #[test]
    fn chains_keep_the_root_and_the_latest_ids() {
        let chain: Vec<String> = (0..30).map(|i| format!("m{i}@x")).collect();
        let capped = cap_chain(chain);
        assert_eq!(capped.len(), MAX_CHAIN_TAIL + 1);
        assert_eq!(capped[0], "m0@x");
        assert_eq!(capped[1], "m10@x");
        assert_eq!(capped.last().unwrap(), "m29@x");
        assert_eq!(cap_chain(vec!["a".into(), "b".into(), "a".into()]), ["a", "b"]);
    }

    #[test]
    fn reply_context_round_trips_and_distrusts_the_store() {
        let mail = ParsedMail {
            message_id: "m2@x".into(),
            in_reply_to: Some("m1@x".into()),
            subject: Some("Plan".into()),
            ..ParsedMail::default()
        };
        let context = ReplyContext::of(&mail, None);
        assert_eq!(context.references, ["m1@x", "m2@x"]);
        assert_eq!(ReplyContext::of(&mail, Some("m0@x")).references, ["m0@x", "m1@x", "m2@x"]);
        assert_eq!(ReplyContext::from_json(Some(&context.to_json())), Some(context));
        assert_eq!(ReplyContext::from_json(Some("not json")), None);
        assert_eq!(ReplyContext::from_json(None), None);
        let tampered = r#"{"messageId":"<m@x>","references":["ok@x","bad\r\nBcc: y@z"]}"#;
        let read = ReplyContext::from_json(Some(tampered)).unwrap();
        assert_eq!((read.message_id.as_str(), read.references), ("m@x", vec!["ok@x".to_owned()]));
        assert_eq!(ReplyContext::from_json(Some(r#"{"messageId":"a b"}"#)), None);
    }

    #[test]
    fn reply_subjects_do_not_stack() {
        assert_eq!(reply_subject("Plan"), "Re: Plan");
        assert_eq!(reply_subject("Re: Plan"), "Re: Plan");
        assert_eq!(reply_subject("RE: re:Plan"), "Re: Plan");
        assert_eq!(reply_subject("Re[2]: AW: Plan"), "Re: Plan");
        assert_eq!(reply_subject("Fwd: Plan"), "Re: Fwd: Plan");
        assert_eq!(reply_subject("Ratio: 3:1"), "Re: Ratio: 3:1");
        assert_eq!(reply_subject("Re:"), "Re:");
    }
}
