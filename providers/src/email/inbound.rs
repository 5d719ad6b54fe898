//! One authenticated inbound request to one [`InboundEvent`]: the body parsed by its
//! Content-Type, then mapped.
//!
//! - `provider_event_id` is the Message-ID (the gateway's durable dedupe key); `chat_id` the
//!   lowercased sender address; `thread_id` the thread root ([`super::threading`]).
//! - Mail that must not prompt ([`super::loops`]) becomes `Ignored { reason }` without a reply
//!   context, so an auto-reply in a thread never becomes what our next reply answers.
//! - Otherwise the text is the reply without quotes and signature ([`super::quotes`]); a
//!   text command (`/approve <handle>` …), a bare button handle, or a bare number `N` answering
//!   one of our mails with choices (the handles ride in our Message-ID, [`super::message_id`])
//!   becomes an interaction. A mail that starts a thread has its subject as the first prompt
//!   line; attachments are listed as `[attachment: name (type, N bytes)]` lines, since the
//!   prompt carries text only. Nothing left at all is `Ignored { reason: "empty" }`.

use super::config::EmailSettings;
use super::mail::{MAX_PROMPT_BYTES, ParsedMail};
use super::message_id::{Carried, decode};
use super::quotes::{is_forward_subject, strip_reply};
use super::threading::{ReplyContext, thread_root};
use super::{loops, mime, relay_json};
use crate::commands::{is_abort_command, parse_interaction_command};
use crate::{
    ChatRef, InboundBody, InboundError, InboundEvent, InboundRequest, InteractionInput, InteractionVerb, Sender,
};

/// The body formats a relay may post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyFormat {
    /// `message/rfc822` (or `message/global`): the raw mail.
    Mime,
    /// `application/json`: Open Cowork's relay shape.
    Json,
}

/// Parses and maps one authenticated request.
pub fn parse(request: &InboundRequest, settings: &EmailSettings) -> Result<InboundEvent, InboundError> {
    let mail = match body_format(&request.headers)? {
        BodyFormat::Mime => mime::parse(&request.body, settings.max_attachment_bytes)?,
        BodyFormat::Json => relay_json::parse(&request.body, settings.max_attachment_bytes)?,
    };
    to_event(mail, settings)
}

/// The format named by Content-Type.
fn body_format(headers: &http::HeaderMap) -> Result<BodyFormat, InboundError> {
    let raw = headers.get(http::header::CONTENT_TYPE).ok_or_else(|| {
        InboundError::BadPayload("Content-Type is required: message/rfc822 or application/json".into())
    })?;
    let media = raw.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match media.as_str() {
        "message/rfc822" | "message/global" => Ok(BodyFormat::Mime),
        "application/json" => Ok(BodyFormat::Json),
        _ if media.starts_with("application/") && media.ends_with("+json") => Ok(BodyFormat::Json),
        _ => Err(InboundError::BadPayload(format!(
            "unsupported Content-Type {media:?}: send message/rfc822 or application/json"
        ))),
    }
}

/// Maps a parsed mail.
fn to_event(mail: ParsedMail, settings: &EmailSettings) -> Result<InboundEvent, InboundError> {
    let sender = mail.sender.clone().ok_or_else(|| InboundError::BadPayload("the mail has no sender".into()))?;
    let answered = answered(&mail, &settings.from_domain());
    let root = answered.root.as_deref();
    let chat = ChatRef { chat_id: sender.address.clone(), thread_id: Some(thread_root(&mail, root)) };
    let (body, reply_context) = match loops::ignore_reason(&mail, settings) {
        Some(reason) => (InboundBody::Ignored { reason: reason.to_owned() }, None),
        None => (prompt_body(&mail, &answered.handles)?, Some(ReplyContext::of(&mail, root).to_json())),
    };
    Ok(InboundEvent {
        provider_event_id: mail.message_id,
        chat,
        sender: Sender { user_id: sender.address, display_name: sender.name },
        body,
        reply_context,
    })
}

/// What our mail this one answers carries (its In-Reply-To, else the last References id).
fn answered(mail: &ParsedMail, from_domain: &str) -> Carried {
    [mail.in_reply_to.as_ref(), mail.references.last()]
        .into_iter()
        .flatten()
        .find_map(|id| decode(id, from_domain))
        .unwrap_or_default()
}

/// The prompt, an interaction, or `Ignored { reason: "empty" }`.
fn prompt_body(mail: &ParsedMail, offered: &[String]) -> Result<InboundBody, InboundError> {
    let forwarded = mail.subject.as_deref().is_some_and(is_forward_subject);
    let reply = printable(&strip_reply(&mail.text, forwarded));
    if is_abort_command(&reply) {
        return Ok(InboundBody::Abort);
    }
    if let Some(interaction) = interaction(&reply, offered) {
        return Ok(InboundBody::Interaction(interaction));
    }
    let mut lines = Vec::new();
    let starts_thread = mail.in_reply_to.is_none() && mail.references.is_empty();
    if let Some(subject) = mail.subject.as_deref().filter(|_| starts_thread) {
        lines.push(format!("Subject: {subject}"));
        lines.push(String::new());
    }
    if !reply.is_empty() {
        lines.push(reply);
    }
    if !mail.attachments.is_empty() {
        lines.push(String::new());
    }
    for file in &mail.attachments {
        lines.push(format!("[attachment: {} ({}, {} bytes)]", file.filename, file.mime_type, file.size));
    }
    let text = lines.join("\n").trim().to_owned();
    if text.is_empty() {
        return Ok(InboundBody::Ignored { reason: "empty".into() });
    }
    if text.len() > MAX_PROMPT_BYTES {
        return Err(InboundError::TooLarge(format!(
            "the reply has {} bytes of text after quotes are removed; at most {MAX_PROMPT_BYTES} are accepted",
            text.len()
        )));
    }
    Ok(InboundBody::Message { text })
}

/// A text command, a bare handle, or a bare choice number of the `offered` handles.
fn interaction(reply: &str, offered: &[String]) -> Option<InteractionInput> {
    if let Some(command) = parse_interaction_command(reply) {
        return Some(command);
    }
    let token = reply.trim().trim_matches(['[', ']', '`', '"', '\'']);
    if token.is_empty() || token.contains(char::is_whitespace) {
        return None;
    }
    let click = |handle: &String| InteractionInput { handle: handle.clone(), verb: InteractionVerb::Click };
    if let Ok(number) = token.trim_end_matches(['.', ')']).parse::<usize>() {
        // Out of range is an ordinary message: the person may just have written a number.
        return number.checked_sub(1).and_then(|index| offered.get(index)).map(click);
    }
    if let Some(handle) = offered.iter().find(|handle| handle.as_str() == token) {
        return Some(click(handle));
    }
    looks_like_handle(token).then(|| click(&token.to_owned()))
}

/// The gateway's button handle shape, `<code>:<choice>`: at least 8 alphanumerics, a colon, 1
/// to 4 alphanumerics (`y`, `n`, `r` or a small index), within [`crate::MAX_HANDLE_BYTES`].
/// Strict, so `10:30` or `re:x` stay messages; handles the answered mail offered match exactly
/// whatever their shape.
fn looks_like_handle(token: &str) -> bool {
    let alnum = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
    token.len() <= crate::MAX_HANDLE_BYTES
        && token.split_once(':').is_some_and(|(code, choice)| {
            code.len() >= 8 && alnum(code) && (1..=4).contains(&choice.len()) && alnum(choice)
        })
}

/// Text without control characters other than line breaks and tabs.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t')).collect()
}
