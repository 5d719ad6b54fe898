//! One [`Delivery`] as one mail (lettre's typed builder, so headers are encoded, never pasted):
//!
//! - From `settings.from`; To the chat's address (with the sender's display name from the reply
//!   context), never an inbound `Reply-To`, which could send the agent's output to a third party
//!   the allowlist and the verdicts never judged; `Subject: Re: <original>` or the `subject`
//!   setting for a mail that starts a thread.
//! - The sent message id handed back to the gateway is our Message-ID without angle brackets.
//! - `Message-ID` from [`super::message_id`] (deterministic per delivery, on the From domain);
//!   `In-Reply-To` the latest inbound Message-ID and `References` its capped chain.
//! - `Auto-Submitted: auto-replied` (or `auto-generated` without an inbound mail to answer) and
//!   `X-Auto-Response-Suppress: All`, so other systems' auto-responders do not answer us and
//!   loop (RFC 3834).
//! - `multipart/alternative`: the Markdown as `text/plain` and rendered as `text/html`; buttons
//!   as a numbered list (reply with the number, or the handle shown in brackets).
//! - Edits cannot change a sent mail, so they go out as a new mail in the thread; files become an
//!   attachment (at most `maxAttachmentBytes`) with the caption as the body.
//!
//! Anything a delivery controls that ends up in a header (address, names, subject) is checked or
//! has its control characters replaced, so CR/LF cannot inject headers.

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

use super::address::{clean_name, parse_address};
use super::config::EmailSettings;
use super::markdown::{escape_html, to_html_document};
use super::message_id::{Carried, decode, outbound_id};
use super::threading::{ReplyContext, reply_subject};
use crate::{Button, Delivery, OutboundFile, OutboundOp, ProviderError};

/// A composed mail and its Message-ID (without angle brackets).
pub struct Composed {
    /// The message, ready to send.
    pub message: Message,
    /// Our Message-ID, returned as the sent message id.
    pub message_id: String,
}

/// Composes the mail for `delivery`.
pub fn compose(delivery: &Delivery, provider_id: &str, settings: &EmailSettings) -> Result<Composed, ProviderError> {
    let address = parse_address(&delivery.chat.chat_id)
        .ok_or_else(|| ProviderError::permanent("the chat id is not a valid mail address"))?;
    if !address.to_string().is_ascii() {
        return Err(ProviderError::permanent("internationalized addresses (SMTPUTF8) are not supported"));
    }
    let context = ReplyContext::from_json(delivery.reply_context.as_deref());
    let (text, buttons, file) = match &delivery.op {
        OutboundOp::Send { text, buttons } | OutboundOp::Edit { text, buttons, .. } => (text.as_str(), buttons, None),
        OutboundOp::File(file) => (file.caption.as_deref().unwrap_or_default(), &Vec::new(), Some(file)),
    };
    let buttons: Vec<&Button> = buttons.iter().flatten().collect();
    let handles: Vec<String> = buttons.iter().map(|button| button.handle.clone()).collect();
    let carried = Carried { root: delivery.chat.thread_id.clone(), handles };
    let message_id = outbound_id(provider_id, &delivery.delivery_id, &carried, &settings.from_domain());
    let numbered = decode(&message_id, &settings.from_domain()).is_some_and(|carried| !carried.handles.is_empty());
    let attachment = file.map(|file| attachment(file, settings.max_attachment_bytes)).transpose()?;
    let text = match (text.trim().is_empty(), file) {
        (true, Some(file)) => format!("Attached: {}", file_name(&file.filename)),
        _ => text.to_owned(),
    };
    let body = alternative(&text, &buttons, numbered);
    let body = match attachment {
        Some(attachment) => MultiPart::mixed().multipart(body).singlepart(attachment),
        None => body,
    };
    let to_name = context.as_ref().and_then(|c| c.sender_name.as_deref()).and_then(clean_name);
    let message = headers(settings, Mailbox::new(to_name, address), context.as_ref(), &message_id)
        .multipart(body)
        .map_err(|error| ProviderError::permanent(format!("the mail could not be built: {error}")))?;
    Ok(Composed { message, message_id })
}

/// The envelope and threading headers.
fn headers(
    settings: &EmailSettings,
    to: Mailbox,
    context: Option<&ReplyContext>,
    message_id: &str,
) -> lettre::message::MessageBuilder {
    let subject = match context.and_then(|c| c.subject.as_deref()) {
        Some(original) => reply_subject(original),
        None => settings.subject.clone(),
    };
    let auto_submitted = if context.is_some() { "auto-replied" } else { "auto-generated" };
    let mut builder = Message::builder()
        .from(settings.from.clone())
        .to(to)
        .subject(single_line(&subject))
        .message_id(Some(format!("<{message_id}>")))
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), auto_submitted.to_owned()))
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"), "All".to_owned()));
    if let Some(context) = context {
        // Ids were normalized (no whitespace, brackets or controls) when the context was read.
        builder = builder.in_reply_to(format!("<{}>", context.message_id));
        let chain: Vec<String> = context.references.iter().map(|id| format!("<{id}>")).collect();
        if !chain.is_empty() {
            builder = builder.references(chain.join(" "));
        }
    }
    builder
}

/// `text/plain` and `text/html` of the text and its choices.
fn alternative(text: &str, buttons: &[&Button], numbered: bool) -> MultiPart {
    let mut plain = text.trim_end().to_owned();
    let mut html_extra = String::new();
    if !buttons.is_empty() {
        let (intro, outro) = if numbered {
            ("Reply with the number of your choice:", "(or reply with the code in brackets)")
        } else {
            ("Reply with the code of your choice:", "")
        };
        plain.push_str(&format!("\n\n{intro}\n"));
        html_extra.push_str(&format!("<p>{intro}</p>\n<ol>\n"));
        for (index, button) in buttons.iter().enumerate() {
            let label = single_line(&button.label);
            let handle = single_line(&button.handle);
            plain.push_str(&format!("  {}. {label}  [{handle}]\n", index + 1));
            html_extra.push_str(&format!("<li>{} <code>[{}]</code></li>\n", escape_html(&label), escape_html(&handle)));
        }
        html_extra.push_str("</ol>\n");
        if !outro.is_empty() {
            plain.push_str(outro);
            plain.push('\n');
            html_extra.push_str(&format!("<p>{outro}</p>\n"));
        }
    }
    MultiPart::alternative_plain_html(plain, to_html_document(text, &html_extra))
}

/// The attachment part of a file operation.
fn attachment(file: &OutboundFile, max_bytes: u64) -> Result<SinglePart, ProviderError> {
    let bytes = file.bytes().ok_or_else(|| ProviderError::permanent("the file is not valid base64"))?;
    if bytes.len() as u64 > max_bytes {
        return Err(ProviderError::permanent(format!(
            "the file has {} bytes; the attachment limit is {max_bytes} (settings.maxAttachmentBytes)",
            bytes.len()
        )));
    }
    let content_type = ContentType::parse(&single_line(&file.mime_type))
        .unwrap_or_else(|_| ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN));
    Ok(Attachment::new(file_name(&file.filename)).body(bytes, content_type))
}

/// A file name without control characters or path separators.
fn file_name(raw: &str) -> String {
    let cleaned: String = single_line(raw).chars().map(|c| if matches!(c, '/' | '\\') { '_' } else { c }).collect();
    if cleaned.trim().is_empty() { "attachment".to_owned() } else { cleaned.trim().to_owned() }
}

/// Text for one header or list line: control characters (CR and LF included) become spaces,
/// runs of whitespace one space.
fn single_line(text: &str) -> String {
    let replaced: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    replaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[path = "compose_tests.rs"]
mod tests;
