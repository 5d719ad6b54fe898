//! One inbound mail as both body formats (raw MIME, relay JSON) reduce it: ids, sender, subject,
//! the text, attachment facts and the headers loop and spoof protection look at; plus the limits
//! both parsers apply.

use crate::InboundError;

use super::address::Sender;

/// The longest Message-ID (and any id in In-Reply-To or References), in bytes.
pub const MAX_ID_BYTES: usize = 512;
/// The longest subject, in bytes (the RFC 5322 line limit).
pub const MAX_SUBJECT_BYTES: usize = 998;
/// The longest decoded body text before quote stripping, in bytes.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// The longest prompt text after quote stripping, in bytes.
pub const MAX_PROMPT_BYTES: usize = 64 * 1024;
/// At most this many attachments per mail.
pub const MAX_ATTACHMENTS: usize = 20;
/// The longest attachment file name or MIME type, in bytes.
pub const MAX_FILENAME_BYTES: usize = 255;
/// The longest header value looked at for loop and spoof protection, in bytes.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// A parsed inbound mail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedMail {
    /// The normalized Message-ID (no angle brackets).
    pub message_id: String,
    /// The From mailbox.
    pub sender: Option<Sender>,
    /// The decoded subject.
    pub subject: Option<String>,
    /// The first id of In-Reply-To.
    pub in_reply_to: Option<String>,
    /// The References chain, oldest first.
    pub references: Vec<String>,
    /// A relay's own thread id (JSON `threadId`), used when the mail carries no threading ids.
    pub relay_thread_id: Option<String>,
    /// The body as plain text (HTML-only mail converted), quotes not yet stripped.
    pub text: String,
    /// Attachment facts (sizes already checked).
    pub attachments: Vec<AttachmentInfo>,
    /// The headers loop and spoof protection look at.
    pub headers: LoopHeaders,
}

/// What is known of one attachment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// The file name (`attachment` when none was given).
    pub filename: String,
    /// The MIME type (`application/octet-stream` when none was given).
    pub mime_type: String,
    /// The decoded size in bytes.
    pub size: u64,
}

/// Header values that mark automatic, bulk or unauthenticated mail (raw, unfolded, trimmed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoopHeaders {
    /// `Auto-Submitted`.
    pub auto_submitted: Option<String>,
    /// `Precedence`.
    pub precedence: Option<String>,
    /// `X-Auto-Response-Suppress`.
    pub auto_response_suppress: Option<String>,
    /// `X-Autoreply` or `X-Autorespond` is present.
    pub autoreply_marker: bool,
    /// `List-Id` or `List-Unsubscribe` is present.
    pub list_marker: bool,
    /// `Return-Path` (`<>` marks a bounce).
    pub return_path: Option<String>,
    /// The body is a delivery or disposition report (`multipart/report`).
    pub is_report: bool,
    /// Every `Authentication-Results` header, topmost first.
    pub authentication_results: Vec<String>,
}

impl LoopHeaders {
    /// Records one header by name (case-insensitive); unknown names are skipped.
    pub fn record(&mut self, name: &str, value: &str) {
        let value = unfold(value);
        let slot = match name.to_ascii_lowercase().as_str() {
            "auto-submitted" => &mut self.auto_submitted,
            "precedence" => &mut self.precedence,
            "x-auto-response-suppress" => &mut self.auto_response_suppress,
            "return-path" => &mut self.return_path,
            "x-autoreply" | "x-autorespond" => {
                self.autoreply_marker = true;
                return;
            }
            "list-id" | "list-unsubscribe" => {
                self.list_marker = true;
                return;
            }
            "authentication-results" => {
                self.authentication_results.push(value);
                return;
            }
            "content-type" => {
                self.is_report |= value.to_ascii_lowercase().starts_with("multipart/report");
                return;
            }
            _ => return,
        };
        // The first occurrence is the topmost, added last, by the relay closest to us.
        slot.get_or_insert(value);
    }
}

/// A header value with folding undone, control characters turned to spaces, bounded.
pub fn unfold(value: &str) -> String {
    let out: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    within_bytes(&out, MAX_HEADER_BYTES).trim().to_owned()
}

/// The longest prefix of `text` that fits in `max` bytes without splitting a character.
pub fn within_bytes(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Checks the number of attachments.
pub fn check_attachment_count(count: usize) -> Result<(), InboundError> {
    if count > MAX_ATTACHMENTS {
        return Err(InboundError::BadPayload(format!(
            "the mail has {count} attachments; at most {MAX_ATTACHMENTS} are accepted"
        )));
    }
    Ok(())
}

/// Checks one attachment's size against the limit (413 when over).
pub fn check_attachment_size(name: &str, size: u64, max_bytes: u64) -> Result<(), InboundError> {
    if size > max_bytes {
        return Err(InboundError::TooLarge(format!(
            "attachment {name:?} has {size} bytes; the limit is {max_bytes} (settings.maxAttachmentBytes)"
        )));
    }
    Ok(())
}

/// A file name or MIME type with control characters removed and bounded; `None` when empty.
pub fn clean_label(raw: &str) -> Option<String> {
    let cleaned: String = raw.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return None;
    }
    Some(within_bytes(cleaned, MAX_FILENAME_BYTES).to_owned())
}

/// Checks the decoded body size before any further work on it.
pub fn check_body_size(text: &str) -> Result<(), InboundError> {
    if text.len() > MAX_BODY_BYTES {
        return Err(InboundError::TooLarge(format!(
            "the mail body has {} bytes of text; at most {MAX_BODY_BYTES} are accepted",
            text.len()
        )));
    }
    Ok(())
}

/// Checks and cleans the subject (control characters become spaces).
pub fn clean_subject(raw: Option<&str>) -> Result<Option<String>, InboundError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.len() > MAX_SUBJECT_BYTES {
        return Err(InboundError::BadPayload(format!("the subject is longer than {MAX_SUBJECT_BYTES} bytes")));
    }
    let cleaned: String = raw.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Some(cleaned).filter(|subject| !subject.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_recorded_topmost_first_and_unfolded() {
        let mut headers = LoopHeaders::default();
        headers.record("Auto-Submitted", " auto-replied\r\n (vacation)");
        headers.record("auto-submitted", "no");
        headers.record("Authentication-Results", "mx.example.net;\r\n dmarc=pass");
        headers.record("Authentication-Results", "other; dmarc=fail");
        headers.record("List-Id", "<list.example.com>");
        headers.record("Content-Type", "Multipart/Report; report-type=delivery-status");
        headers.record("X-Other", "ignored");
        assert_eq!(headers.auto_submitted.as_deref(), Some("auto-replied   (vacation)"));
        assert_eq!(headers.authentication_results, ["mx.example.net;   dmarc=pass", "other; dmarc=fail"]);
        assert!(headers.list_marker && headers.is_report && !headers.autoreply_marker);
    }

    #[test]
    fn bounded_text_never_splits_a_character() {
        assert_eq!(within_bytes("héllo", 2), "h");
        assert_eq!(within_bytes("héllo", 3), "hé");
        assert_eq!(within_bytes("short", 99), "short");
    }

    #[test]
    fn limits_map_to_their_statuses() {
        assert!(matches!(check_attachment_count(MAX_ATTACHMENTS + 1), Err(InboundError::BadPayload(_))));
        assert!(check_attachment_count(MAX_ATTACHMENTS).is_ok());
        assert!(matches!(check_attachment_size("a", 11, 10), Err(InboundError::TooLarge(_))));
        assert!(check_attachment_size("a", 10, 10).is_ok());
        assert!(matches!(check_body_size(&"x".repeat(MAX_BODY_BYTES + 1)), Err(InboundError::TooLarge(_))));
        assert!(matches!(clean_subject(Some(&"s".repeat(999))), Err(InboundError::BadPayload(_))));
        assert_eq!(clean_subject(Some(" Hi\r\n\tthere ")).unwrap().as_deref(), Some("Hi there"));
        assert_eq!(clean_subject(Some(" \r\n")).unwrap(), None);
        assert_eq!(clean_label("re\u{0}port.pdf\r\n").as_deref(), Some("report.pdf"));
    }
}
