//! Helpers shared by the fuzz targets in `fuzz_targets/` (one binary each; see `README.md`).
//!
//! The oracles here are written independently of the library code they check (an HMAC computed
//! with the `hmac` crate, not with `cowork_providers::signature`), so a target compares the
//! library with a second implementation of what its documentation promises.

use std::borrow::Cow;
use std::future::Future;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The input as text (invalid UTF-8 replaced), for parsers that take `&str`.
pub fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The first `count` fields of `data` cut at line feeds, then the rest (a field or the rest is
/// empty when the input is shorter).
pub fn fields(data: &[u8], count: usize) -> (Vec<&[u8]>, &[u8]) {
    let mut out = Vec::with_capacity(count);
    let mut rest = data;
    for _ in 0..count {
        match rest.iter().position(|&b| b == b'\n') {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + 1..];
            }
            None => {
                out.push(rest);
                rest = &[];
            }
        }
    }
    (out, rest)
}

/// HMAC-SHA256 of `message` under `secret`.
pub fn hmac_sha256(secret: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The raw signature both platforms send: `HMAC(secret, "<prefix>:<ts>:<body>")`.
pub fn platform_signature(secret: &[u8], prefix: &str, ts: &str, body: &[u8]) -> [u8; 32] {
    let mut message = format!("{prefix}:{ts}:").into_bytes();
    message.extend_from_slice(body);
    hmac_sha256(secret, &message)
}

/// The header value `<prefix>=<lowercase hex>` for `signature`.
pub fn signature_value(prefix: &str, signature: &[u8; 32]) -> String {
    format!("{prefix}={}", hex::encode(signature))
}

/// `signature` with one bit flipped (which one depends on `seed`): a different signature.
pub fn flip_bit(signature: &[u8; 32], seed: usize) -> [u8; 32] {
    let mut flipped = *signature;
    flipped[seed % 32] ^= 1 << (seed / 32 % 8);
    flipped
}

/// Whether `text` has no control character at all.
pub fn no_controls(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// Whether `text` has no leading or trailing whitespace.
pub fn is_trimmed(text: &str) -> bool {
    text.trim() == text
}

/// Runs `future` to completion on this thread's current-thread Tokio runtime (timers enabled).
pub fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// The email targets' providers and invariants (`email_mime`, `email_relay_json`).
pub mod email {
    use std::sync::LazyLock;
    use std::time::Duration;

    use bytes::Bytes;
    use cowork_providers::email::{EmailCredentials, EmailProvider, EmailSettings, SECRET_HEADER};
    use cowork_providers::fuzzing::{ParsedMail, ReplyContext, normalize_id, parse_address};
    use cowork_providers::{ChannelProvider, InboundBody, InboundError, InboundRequest, ProviderId};
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::{is_trimmed, no_controls};

    /// The largest attachment the targets' providers accept.
    pub const MAX_ATTACHMENT_BYTES: u64 = 64 * 1024;
    /// The relay's configured secret.
    pub const SECRET: &str = "relay-secret";

    fn provider(extra: serde_json::Value) -> EmailProvider {
        let mut settings = json!({
            "from": "Cowork Agent <agent@cowork.example.com>",
            "smtpHost": "smtp.example.com",
            "maxAttachmentBytes": MAX_ATTACHMENT_BYTES,
        });
        if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
            settings.extend(extra.clone());
        }
        let settings = EmailSettings::from_json(&settings).expect("settings");
        let credentials = EmailCredentials { inbound_secrets: vec![SECRET.to_owned()], smtp_password: None };
        EmailProvider::new(ProviderId::new("fuzz-mail"), credentials, settings, Duration::from_secs(5))
            .expect("provider")
    }

    /// Everyone may prompt; no verdicts required.
    pub static OPEN: LazyLock<EmailProvider> = LazyLock::new(|| provider(json!({})));
    /// The relay's DMARC verdict required (from `mx.example.net`), and a sender allowlist.
    pub static STRICT: LazyLock<EmailProvider> = LazyLock::new(|| {
        provider(json!({
            "requireAuthenticationResults": true,
            "authServId": "mx.example.net",
            "allowedSenders": ["@example.com", "ann@example.org"],
        }))
    });

    /// A request with `content_type`, authenticated with `secret`.
    pub fn request(content_type: &str, body: &[u8], secret: &str) -> InboundRequest {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_str(content_type).expect("content type"));
        headers.insert(SECRET_HEADER, HeaderValue::from_str(secret).expect("secret"));
        InboundRequest { headers, body: Bytes::copy_from_slice(body), received_at_ms: 1_715_000_000_000 }
    }

    fn check_id(name: &str, id: &str) {
        assert_eq!(normalize_id(id).as_deref(), Some(id), "{name} is not a normalized message id");
        assert!(id.len() <= 512);
    }

    /// What both parsers promise about a [`ParsedMail`].
    pub fn check_mail(mail: &ParsedMail) {
        check_id("message id", &mail.message_id);
        for id in mail.in_reply_to.iter().chain(&mail.references).chain(&mail.relay_thread_id) {
            check_id("threading id", id);
        }
        let sender = mail.sender.as_ref().expect("a parsed mail has a sender");
        let reparsed = parse_address(&sender.address).map(|a| a.to_string());
        assert_eq!(reparsed.as_deref(), Some(sender.address.as_str()), "sender address");
        assert_eq!(sender.address, sender.address.to_lowercase());
        assert!(sender.address.len() <= 254 && sender.address.contains('@'));
        if let Some(name) = &sender.name {
            assert!(!name.is_empty() && name.len() <= 256 && no_controls(name), "sender name {name:?}");
        }
        if let Some(subject) = &mail.subject {
            assert!(!subject.is_empty() && subject.len() <= 998 && no_controls(subject), "subject {subject:?}");
            assert_eq!(subject, &subject.split_whitespace().collect::<Vec<_>>().join(" "), "subject whitespace");
        }
        assert!(mail.text.len() <= 512 * 1024, "body text over the limit");
        assert!(mail.attachments.len() <= 20, "more than 20 attachments");
        for file in &mail.attachments {
            assert!(file.size <= MAX_ATTACHMENT_BYTES, "attachment over the limit");
            for label in [&file.filename, &file.mime_type] {
                assert!(!label.is_empty() && label.len() <= 255 && no_controls(label), "label {label:?}");
            }
        }
        let headers = &mail.headers;
        let values =
            [&headers.auto_submitted, &headers.precedence, &headers.auto_response_suppress, &headers.return_path];
        for value in values.into_iter().flatten().chain(&headers.authentication_results) {
            assert!(value.len() <= 8 * 1024 && no_controls(value) && is_trimmed(value), "header {value:?}");
        }
    }

    /// The provider's answer for a body the parser gave `parsed` for: the same error, or one event
    /// mapped from the mail.
    pub fn check_provider(
        provider: &EmailProvider,
        parsed: &Result<ParsedMail, InboundError>,
        request: &InboundRequest,
    ) {
        match (parsed, provider.parse_inbound(request)) {
            (Err(expected), Err(got)) => assert_eq!(expected.to_string(), got.to_string()),
            (Ok(_), Err(InboundError::TooLarge(_))) => {} // the prompt after quote stripping
            (Ok(mail), Ok(verified)) => {
                assert_eq!(verified.events.len(), 1);
                assert_eq!(verified.replay_key, None, "a static secret gives no replay key");
                let event = &verified.events[0];
                assert_eq!(event.provider_event_id, mail.message_id);
                let sender = mail.sender.as_ref().expect("sender");
                assert_eq!(event.chat.chat_id, sender.address);
                assert_eq!(event.sender.user_id, sender.address);
                assert_eq!(event.sender.display_name, sender.name);
                let thread = event.chat.thread_id.as_deref().expect("email events are threaded");
                assert!(!thread.is_empty() && no_controls(thread) && !thread.contains(char::is_whitespace));
                match &event.body {
                    InboundBody::Ignored { reason } => {
                        const REASONS: [&str; 8] = [
                            "own_address",
                            "mailer_daemon",
                            "auto_submitted",
                            "precedence_bulk",
                            "mailing_list",
                            "authentication_failed",
                            "sender_not_allowed",
                            "empty",
                        ];
                        assert!(REASONS.contains(&reason.as_str()), "ignored for {reason}");
                        assert_eq!(event.reply_context.is_none(), reason != "empty", "reply context of {reason}");
                    }
                    body => {
                        if let InboundBody::Message { text } = body {
                            assert!(!text.is_empty() && is_trimmed(text) && text.len() <= 64 * 1024);
                            assert!(!text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t')), "{text:?}");
                        }
                        let context = ReplyContext::from_json(event.reply_context.as_deref()).expect("reply context");
                        assert_eq!(context.message_id, mail.message_id);
                        let chain = &context.references;
                        assert!(!chain.is_empty() && chain.len() <= 21, "a chain of {}", chain.len());
                        for (i, id) in chain.iter().enumerate() {
                            assert!(!chain[..i].contains(id), "duplicate {id:?} in the chain");
                        }
                    }
                }
            }
            (parsed, result) => panic!("the parser gave {parsed:?} but the provider {result:?}"),
        }
    }

    /// The same request with another secret is refused.
    pub fn check_wrong_secret(provider: &EmailProvider, content_type: &str, body: &[u8]) {
        match provider.parse_inbound(&request(content_type, body, "not-the-secret")) {
            Err(InboundError::Unauthorized(_)) => {}
            other => panic!("a wrong secret was accepted: {other:?}"),
        }
    }
}
