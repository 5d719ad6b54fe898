//! Open Cowork's JSON relay shape (`reference/opencowork-gateway.md` §3.2) to a [`ParsedMail`]:
//! `{messageId|id, from|sender (string or {email|address, name}), subject?, text|body?, html?,
//! threadId?, inReplyTo?, references? (string or array), attachments?[{filename|name,
//! mimeType|contentType, sizeBytes|size, contentBase64|bufferBase64}], headers?}`. `headers` is an
//! object of name → string (or array of strings) or a list of `[name, value]` pairs (Mailgun's
//! `message-headers`); loop and spoof protection read it as they read raw mail. `to`,
//! `recipient` and unknown fields are ignored. Schema violations are 400; sizes over a limit 413.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::address::parse_mailbox;
use super::html::html_to_text;
use super::mail::{self, AttachmentInfo, ParsedMail};
use super::threading::{normalize_id, parse_id_list};
use crate::InboundError;

fn bad(message: impl Into<String>) -> InboundError {
    InboundError::BadPayload(message.into())
}

/// Parses one relay body.
pub fn parse(body: &[u8], max_attachment_bytes: u64) -> Result<ParsedMail, InboundError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(format!("body is not valid JSON: {e}")))?;
    let root = value.as_object().ok_or_else(|| bad("body must be a JSON object"))?;
    let raw_id = first_string(root, &["messageId", "id"])?.ok_or_else(|| bad("messageId or id is required"))?;
    let message_id = normalize_id(&raw_id).ok_or_else(|| bad("messageId is not a valid message id"))?;
    let mut parsed = ParsedMail { message_id, ..ParsedMail::default() };
    parsed.sender = Some(sender(root)?);
    parsed.subject = mail::clean_subject(first_string(root, &["subject"])?.as_deref())?;
    parsed.relay_thread_id = first_string(root, &["threadId"])?.as_deref().and_then(normalize_id);
    parsed.in_reply_to = first_string(root, &["inReplyTo"])?.and_then(|raw| parse_id_list(&raw).into_iter().next());
    parsed.references = references(root.get("references"))?;
    parsed.text = match first_string(root, &["text", "body"])? {
        Some(text) => text,
        None => first_string(root, &["html"])?.map(|html| html_to_text(&html)).unwrap_or_default(),
    };
    mail::check_body_size(&parsed.text)?;
    parsed.attachments = attachments(root.get("attachments"), max_attachment_bytes)?;
    read_headers(root.get("headers"), &mut parsed.headers)?;
    Ok(parsed)
}

/// The first of `keys` that is present and not null, as a string.
fn first_string(map: &Map<String, Value>, keys: &[&str]) -> Result<Option<String>, InboundError> {
    for key in keys {
        match map.get(*key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(text)) => {
                if text.len() > mail::MAX_BODY_BYTES {
                    return Err(InboundError::TooLarge(format!("{key} is longer than {} bytes", mail::MAX_BODY_BYTES)));
                }
                return Ok(Some(text.clone()).filter(|text| !text.trim().is_empty()));
            }
            Some(_) => return Err(bad(format!("{key} must be a string"))),
        }
    }
    Ok(None)
}

/// `from` (or `sender`): `Name <address>`, an address, or `{email|address, name}`.
fn sender(root: &Map<String, Value>) -> Result<super::address::Sender, InboundError> {
    let (key, value) = ["from", "sender"]
        .iter()
        .find_map(|key| root.get(*key).filter(|v| !v.is_null()).map(|v| (*key, v)))
        .ok_or_else(|| bad("from is required"))?;
    let invalid = || bad(format!("{key} is not a valid address"));
    match value {
        Value::String(raw) => parse_mailbox(raw).ok_or_else(invalid),
        Value::Object(object) => {
            let address = first_string(object, &["email", "address"])?.ok_or_else(invalid)?;
            let mut sender = parse_mailbox(&address).ok_or_else(invalid)?;
            sender.name = first_string(object, &["name"])?.as_deref().and_then(super::address::clean_name);
            Ok(sender)
        }
        _ => Err(bad(format!("{key} must be a string or an object with email and name"))),
    }
}

/// `references`: a header-style string or an array of ids.
fn references(value: Option<&Value>) -> Result<Vec<String>, InboundError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(raw)) => Ok(parse_id_list(raw)),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(|| bad("references must hold strings")))
            .map(|item| item.map(normalize_id))
            .filter_map(Result::transpose)
            .collect(),
        Some(_) => Err(bad("references must be a string or an array of strings")),
    }
}

/// `attachments`: at most [`mail::MAX_ATTACHMENTS`], sizes declared or inline within the limit;
/// inline base64 must be strict and match a declared size. The size is judged from the base64
/// length before anything is decoded.
fn attachments(value: Option<&Value>, max_bytes: u64) -> Result<Vec<AttachmentInfo>, InboundError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad("attachments must be an array")),
    };
    mail::check_attachment_count(items.len())?;
    let mut listed = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let file = item.as_object().ok_or_else(|| bad(format!("attachments[{index}] must be an object")))?;
        let filename = first_string(file, &["filename", "name"])?
            .as_deref()
            .and_then(mail::clean_label)
            .unwrap_or_else(|| "attachment".into());
        let mime_type = first_string(file, &["mimeType", "contentType"])?
            .as_deref()
            .and_then(mail::clean_label)
            .unwrap_or_else(|| "application/octet-stream".into());
        let declared = match ["sizeBytes", "size"].iter().find_map(|key| file.get(*key).filter(|v| !v.is_null())) {
            None => None,
            Some(size) => Some(
                size.as_u64()
                    .ok_or_else(|| bad(format!("attachments[{index}].sizeBytes must be a non-negative integer")))?,
            ),
        };
        if let Some(declared) = declared {
            mail::check_attachment_size(&filename, declared, max_bytes)?;
        }
        let inline = ["contentBase64", "bufferBase64"].iter().find_map(|key| file.get(*key).filter(|v| !v.is_null()));
        let size = match inline {
            None => declared.unwrap_or(0),
            Some(Value::String(encoded)) => decoded_size(encoded, &filename, declared, max_bytes, index)?,
            Some(_) => return Err(bad(format!("attachments[{index}].contentBase64 must be a string"))),
        };
        listed.push(AttachmentInfo { filename, mime_type, size });
    }
    Ok(listed)
}

/// The decoded size of inline base64, checked against the limit and the declared size.
fn decoded_size(
    encoded: &str,
    filename: &str,
    declared: Option<u64>,
    max_bytes: u64,
    index: usize,
) -> Result<u64, InboundError> {
    let encoded = encoded.trim();
    let padding = encoded.bytes().rev().take(2).take_while(|&b| b == b'=').count() as u64;
    let estimated = (encoded.len() as u64).div_ceil(4).saturating_mul(3).saturating_sub(padding);
    mail::check_attachment_size(filename, estimated, max_bytes)?;
    let decoded = STANDARD
        .decode(encoded.as_bytes())
        .map_err(|_| bad(format!("attachments[{index}].contentBase64 is not strict base64")))?;
    let size = decoded.len() as u64;
    if declared.is_some_and(|declared| declared != size) {
        return Err(bad(format!("attachments[{index}] decodes to {size} bytes but declares another size")));
    }
    Ok(size)
}

/// `headers`: an object (name → string or strings) or `[name, value]` pairs.
fn read_headers(value: Option<&Value>, headers: &mut mail::LoopHeaders) -> Result<(), InboundError> {
    let invalid = || bad("headers must be an object of strings or a list of [name, value] pairs");
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(map)) => {
            for (name, value) in map {
                match value {
                    Value::String(text) => headers.record(name, text),
                    Value::Array(values) => {
                        for value in values {
                            headers.record(name, value.as_str().ok_or_else(invalid)?);
                        }
                    }
                    _ => return Err(invalid()),
                }
            }
            Ok(())
        }
        Some(Value::Array(pairs)) => {
            for pair in pairs {
                match pair.as_array().map(Vec::as_slice) {
                    Some([Value::String(name), Value::String(value)]) => headers.record(name, value),
                    _ => return Err(invalid()),
                }
            }
            Ok(())
        }
        Some(_) => Err(invalid()),
    }
}
