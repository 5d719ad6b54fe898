//! The Open Cowork webhook payload schema (`reference/opencowork-gateway.md` §3.3) mapped to one
//! [`InboundEvent`]: `{id?, target{chatId, isDirect?, threadId?, userId?, messageId?},
//! sender{userId, username?, displayName?, isBot?}, text?, rawText?, attachments?,
//! interaction?{id, token, kind?}, receivedAt?}`. Strings are trimmed; identifiers refuse every
//! control character, message text keeps tab and line breaks. Schema violations are
//! [`InboundError::BadPayload`]; sizes over a limit (text, attachments) are
//! [`InboundError::TooLarge`]. Attachments are validated, not yet passed on.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::commands::parse_text_command;
use crate::{ChatRef, InboundBody, InboundError, InboundEvent, InteractionInput, InteractionVerb, Sender};

/// Ids (event, chat, thread, user, message, interaction, file).
const MAX_ID_BYTES: usize = 512;
/// `sender.username`.
const MAX_USERNAME_BYTES: usize = 256;
/// `sender.displayName`.
const MAX_DISPLAY_NAME_BYTES: usize = 512;
/// `interaction.token` (the wire limit; our own handles are shorter).
const MAX_TOKEN_BYTES: usize = 64;
/// Short enumerations and timestamps (`interaction.kind`, `receivedAt`).
const MAX_SHORT_BYTES: usize = 64;
/// `attachments[].filename` and `mimeType`.
const MAX_FILENAME_BYTES: usize = 255;
/// `text` and `rawText`.
const MAX_TEXT_BYTES: usize = 64 * 1024;
/// At most this many attachments.
const MAX_ATTACHMENTS: usize = 20;

/// Which control characters a string may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// None at all.
    Identifier,
    /// Tab, CR and LF only.
    Text,
}

fn bad(message: String) -> InboundError {
    InboundError::BadPayload(message)
}

/// The fields of one JSON object, with its path for messages.
struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn name(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// The value, with JSON `null` treated as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    /// An optional string: trimmed, empty treated as absent, bounded, control characters refused.
    fn string(&self, key: &str, max_bytes: usize, kind: Kind) -> Result<Option<String>, InboundError> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let name = self.name(key);
        let text = value.as_str().ok_or_else(|| bad(format!("{name} must be a string")))?.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let allowed = |c: char| kind == Kind::Text && matches!(c, '\t' | '\n' | '\r');
        if text.chars().any(|c| c.is_control() && !allowed(c)) {
            return Err(bad(format!("{name} must not contain control characters")));
        }
        if text.len() > max_bytes {
            let message = format!("{name} is longer than {max_bytes} bytes");
            return Err(if kind == Kind::Text { InboundError::TooLarge(message) } else { bad(message) });
        }
        Ok(Some(text.to_owned()))
    }

    /// A required identifier.
    fn required(&self, key: &str, max_bytes: usize) -> Result<String, InboundError> {
        self.string(key, max_bytes, Kind::Identifier)?.ok_or_else(|| bad(format!("{} is required", self.name(key))))
    }

    /// An optional boolean.
    fn boolean(&self, key: &str) -> Result<Option<bool>, InboundError> {
        self.get(key)
            .map(|value| value.as_bool().ok_or_else(|| bad(format!("{} must be a boolean", self.name(key)))))
            .transpose()
    }

    /// An optional nested object.
    fn object(&self, key: &str) -> Result<Option<Fields<'a>>, InboundError> {
        self.get(key).map(|value| Fields::of(self.name(key), value)).transpose()
    }

    fn of(path: String, value: &'a Value) -> Result<Self, InboundError> {
        match value {
            Value::Object(map) => Ok(Self { path, map }),
            _ => Err(bad(format!("{} must be an object", if path.is_empty() { "body" } else { &path }))),
        }
    }
}

/// Parses one signed webhook body into its event, and says whether the sender gave its id.
pub(super) fn parse_payload(body: &[u8], max_attachment_bytes: u64) -> Result<(InboundEvent, bool), InboundError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(format!("body is not valid JSON: {e}")))?;
    let root = Fields::of(String::new(), &value)?;
    let given_id = root.string("id", MAX_ID_BYTES, Kind::Identifier)?;
    let id_given = given_id.is_some();
    // Without an id the sender gets no redelivery dedupe, as in Open Cowork.
    let provider_event_id = given_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

    let target = root.object("target")?.ok_or_else(|| bad("target is required".into()))?;
    let chat_id = target.required("chatId", MAX_ID_BYTES)?;
    let thread_id = target.string("threadId", MAX_ID_BYTES, Kind::Identifier)?;
    target.boolean("isDirect")?;
    target.string("userId", MAX_ID_BYTES, Kind::Identifier)?;
    target.string("messageId", MAX_ID_BYTES, Kind::Identifier)?;

    let sender = root.object("sender")?.ok_or_else(|| bad("sender is required".into()))?;
    let user_id = sender.required("userId", MAX_ID_BYTES)?;
    let username = sender.string("username", MAX_USERNAME_BYTES, Kind::Identifier)?;
    let display_name = sender.string("displayName", MAX_DISPLAY_NAME_BYTES, Kind::Identifier)?;
    sender.boolean("isBot")?;

    let text = root.string("text", MAX_TEXT_BYTES, Kind::Text)?;
    let raw_text = root.string("rawText", MAX_TEXT_BYTES, Kind::Text)?;
    if let Some(received_at) = root.string("receivedAt", MAX_SHORT_BYTES, Kind::Identifier)?
        && !is_iso_timestamp(&received_at)
    {
        return Err(bad("receivedAt must be an ISO 8601 timestamp".into()));
    }
    check_attachments(&root, max_attachment_bytes)?;

    let body = if let Some(interaction) = root.object("interaction")? {
        interaction.required("id", MAX_ID_BYTES)?;
        let handle = interaction.required("token", MAX_TOKEN_BYTES)?;
        interaction.string("kind", MAX_SHORT_BYTES, Kind::Identifier)?;
        InboundBody::Interaction(InteractionInput { handle, verb: InteractionVerb::Click })
    } else {
        let text = text.or(raw_text).ok_or_else(|| bad("text is required without an interaction".into()))?;
        parse_text_command(&text).unwrap_or(InboundBody::Message { text })
    };
    let event = InboundEvent {
        provider_event_id,
        chat: ChatRef { chat_id, thread_id },
        sender: Sender { user_id, display_name: display_name.or(username) },
        body,
        reply_context: None,
    };
    Ok((event, id_given))
}

/// Validates `attachments`: at most 20, each with a filename and sizes within the limit; inline
/// base64 must be strict and decode to exactly `sizeBytes`. Its size is estimated from the
/// base64 length before anything is decoded.
fn check_attachments(root: &Fields<'_>, max_bytes: u64) -> Result<(), InboundError> {
    let Some(value) = root.get("attachments") else { return Ok(()) };
    let items = value.as_array().ok_or_else(|| bad("attachments must be an array".into()))?;
    if items.len() > MAX_ATTACHMENTS {
        return Err(bad(format!("attachments holds {} items; at most {MAX_ATTACHMENTS} are allowed", items.len())));
    }
    for (index, item) in items.iter().enumerate() {
        let file = Fields::of(format!("attachments[{index}]"), item)?;
        file.string("providerFileId", MAX_ID_BYTES, Kind::Identifier)?;
        file.required("filename", MAX_FILENAME_BYTES)?;
        file.string("mimeType", MAX_FILENAME_BYTES, Kind::Identifier)?;
        let declared = match file.get("sizeBytes") {
            None => None,
            Some(size) => Some(
                size.as_u64()
                    .ok_or_else(|| bad(format!("{} must be a non-negative integer", file.name("sizeBytes"))))?,
            ),
        };
        if let Some(declared) = declared
            && declared > max_bytes
        {
            let name = file.name("sizeBytes");
            return Err(InboundError::TooLarge(format!("{name} is over the {max_bytes}-byte attachment limit")));
        }
        let Some(encoded) = file.string("bufferBase64", usize::MAX, Kind::Identifier)? else { continue };
        let name = file.name("bufferBase64");
        if estimated_decoded_len(&encoded) > max_bytes {
            return Err(InboundError::TooLarge(format!("{name} is over the {max_bytes}-byte attachment limit")));
        }
        let decoded = STANDARD.decode(encoded.as_bytes()).map_err(|_| bad(format!("{name} is not strict base64")))?;
        if let Some(declared) = declared
            && decoded.len() as u64 != declared
        {
            return Err(bad(format!("{name} decodes to {} bytes but sizeBytes is {declared}", decoded.len())));
        }
    }
    Ok(())
}

/// The decoded length base64 of this length would have (without decoding it).
fn estimated_decoded_len(encoded: &str) -> u64 {
    let padding = encoded.bytes().rev().take(2).take_while(|&b| b == b'=').count() as u64;
    (encoded.len() as u64).div_ceil(4).saturating_mul(3).saturating_sub(padding)
}

/// `YYYY-MM-DD`, optionally followed by `THH:MM[:SS[.fraction]]` and `Z` or `±HH:MM`.
fn is_iso_timestamp(text: &str) -> bool {
    fn number(part: Option<&str>, digits: usize, range: std::ops::RangeInclusive<u32>) -> bool {
        part.is_some_and(|p| p.len() == digits && p.bytes().all(|b| b.is_ascii_digit()))
            && part.and_then(|p| p.parse().ok()).is_some_and(|n| range.contains(&n))
    }
    let (date, time) = match text.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let date_ok = number(parts.next(), 4, 0..=9999)
        && number(parts.next(), 2, 1..=12)
        && number(parts.next(), 2, 1..=31)
        && parts.next().is_none();
    let Some(time) = time else { return date_ok };
    let (clock, zone) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, None)
    } else if let Some(at) = time.rfind(['+', '-']) {
        (&time[..at], Some(&time[at + 1..]))
    } else {
        (time, None)
    };
    let zone_ok = zone.is_none_or(|zone| {
        let mut zone = zone.split(':');
        number(zone.next(), 2, 0..=23) && number(zone.next(), 2, 0..=59) && zone.next().is_none()
    });
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let mut clock = clock.split(':');
    let clock_ok = number(clock.next(), 2, 0..=23)
        && number(clock.next(), 2, 0..=59)
        && clock.next().is_none_or(|seconds| number(Some(seconds), 2, 0..=60))
        && clock.next().is_none()
        && !fraction.is_empty()
        && fraction.bytes().all(|b| b.is_ascii_digit());
    date_ok && zone_ok && clock_ok
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;
