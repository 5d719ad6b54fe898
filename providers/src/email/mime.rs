//! Raw RFC 5322 mail (`Content-Type: message/rfc822`) to a [`ParsedMail`], with `mail-parser`:
//! multipart, quoted-printable, base64, RFC 2047 headers and non-UTF-8 charsets. The text is the
//! `text/plain` bodies, or the HTML ones converted when a mail has no plain text. Attachments are
//! size-checked (inline images referenced by `cid:` count against the limit but are not listed).

use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};

use super::address::{Sender, clean_name, parse_address};
use super::html::html_to_text;
use super::mail::{self, AttachmentInfo, ParsedMail};
use super::threading::parse_id_list;
use crate::InboundError;

fn bad(message: impl Into<String>) -> InboundError {
    InboundError::BadPayload(message.into())
}

/// Parses one raw mail.
pub fn parse(raw: &[u8], max_attachment_bytes: u64) -> Result<ParsedMail, InboundError> {
    let message = MessageParser::new().parse(raw).ok_or_else(|| bad("the body is not an RFC 5322 message"))?;
    let mut parsed = ParsedMail::default();
    let mut message_id = None;
    let mut in_reply_to = None;
    for (name, value) in message.headers_raw() {
        match name.to_ascii_lowercase().as_str() {
            "message-id" if message_id.is_none() => message_id = Some(value),
            "in-reply-to" if in_reply_to.is_none() => in_reply_to = Some(value),
            "references" if parsed.references.is_empty() => parsed.references = parse_id_list(value),
            _ => parsed.headers.record(name, value),
        }
    }
    parsed.message_id = message_id
        .and_then(|raw| parse_id_list(raw).into_iter().next())
        .ok_or_else(|| bad("the mail has no valid Message-ID"))?;
    parsed.in_reply_to = in_reply_to.and_then(|raw| parse_id_list(raw).into_iter().next());
    parsed.sender = Some(sender(&message)?);
    parsed.subject = mail::clean_subject(message.subject())?;
    parsed.text = body_text(&message)?;
    parsed.attachments = attachments(&message, max_attachment_bytes)?;
    Ok(parsed)
}

/// The first From address, lowercased, with its display name.
fn sender(message: &mail_parser::Message<'_>) -> Result<Sender, InboundError> {
    let from = message.from().and_then(|from| from.first()).ok_or_else(|| bad("the mail has no From address"))?;
    let address =
        from.address().and_then(parse_address).ok_or_else(|| bad("the mail's From is not a valid address"))?;
    Ok(Sender { address: address.to_string(), name: from.name().and_then(clean_name) })
}

/// The plain-text bodies joined, or the HTML ones converted when there is no plain text.
fn body_text(message: &mail_parser::Message<'_>) -> Result<String, InboundError> {
    let mut plain = Vec::new();
    let mut html = Vec::new();
    for part in message.text_bodies().chain(message.html_bodies()) {
        match &part.body {
            PartType::Text(text) if !plain.contains(&text.as_ref()) => plain.push(text.as_ref()),
            PartType::Html(text) if !html.contains(&text.as_ref()) => html.push(text.as_ref()),
            _ => {}
        }
    }
    let text = if plain.is_empty() {
        for part in &html {
            mail::check_body_size(part)?;
        }
        html.iter().map(|part| html_to_text(part)).collect::<Vec<_>>().join("\n\n")
    } else {
        plain.join("\n\n")
    };
    mail::check_body_size(&text)?;
    Ok(text)
}

/// The attachments, each within the size limit, at most [`mail::MAX_ATTACHMENTS`].
fn attachments(message: &mail_parser::Message<'_>, max_bytes: u64) -> Result<Vec<AttachmentInfo>, InboundError> {
    mail::check_attachment_count(message.attachment_count())?;
    let mut listed = Vec::new();
    for part in message.attachments() {
        let filename = part.attachment_name().and_then(mail::clean_label).unwrap_or_else(|| "attachment".into());
        let size = part.len() as u64;
        mail::check_attachment_size(&filename, size, max_bytes)?;
        if is_embedded_image(part) {
            continue;
        }
        listed.push(AttachmentInfo { filename, mime_type: mime_type(part), size });
    }
    Ok(listed)
}

/// An inline part the HTML shows through `cid:` (signature logos, pasted screenshots).
fn is_embedded_image(part: &MessagePart<'_>) -> bool {
    part.content_id().is_some() && part.content_disposition().is_none_or(|disposition| disposition.is_inline())
}

/// `type/subtype` of a part (`message/rfc822` for attached mails).
fn mime_type(part: &MessagePart<'_>) -> String {
    let declared = part.content_type().map(|ct| match ct.subtype() {
        Some(subtype) => format!("{}/{subtype}", ct.ctype()),
        None => ct.ctype().to_owned(),
    });
    let fallback =
        if matches!(part.body, PartType::Message(_)) { "message/rfc822" } else { "application/octet-stream" };
    declared.and_then(|ct| mail::clean_label(&ct.to_ascii_lowercase())).unwrap_or_else(|| fallback.to_owned())
}
