//! The generic webhook's inbound payload (`providers/src/webhook/inbound.rs`) through
//! `WebhookProvider::parse_inbound`, with the input as the body of a correctly signed request so
//! the JSON schema parser is what gets fuzzed.
//!
//! Invariants:
//! - signed with either configured secret (rotation) the request is never refused for
//!   authentication, and both secrets give the same verdict;
//! - the same body signed with another secret, with one bit of the signature flipped, or with
//!   the body changed after signing is refused as `Unauthorized("signature mismatch")`;
//! - an accepted body is a JSON object, gives exactly one event whose fields are the trimmed
//!   JSON fields (no control characters in ids, within the documented byte limits), the event id
//!   is the body's `id` (no replay key) or a fresh UUID (replay key `"{ts}:{signature hex}"`),
//!   and the body maps to an interaction (from `interaction.token`), a text command or a message.
#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use cowork_fuzz::{flip_bit, is_trimmed, no_controls, platform_signature, signature_value};
use cowork_providers::commands::parse_text_command;
use cowork_providers::egress::{Egress, StaticResolver};
use cowork_providers::webhook::{
    SIGNATURE_HEADER, SIGNATURE_PREFIX, TIMESTAMP_HEADER, WebhookProvider, WebhookSettings,
};
use cowork_providers::{
    ChannelProvider, InboundBody, InboundError, InboundEvent, InboundRequest, InteractionVerb, ProviderId, Verified,
};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const SECRETS: [&str; 2] = ["fuzz-secret-new", "fuzz-secret-old"];
const TS: i64 = 1_700_000_000;
const NOW_MS: i64 = TS * 1000 + 5_000;
const MAX_ATTACHMENT_BYTES: u64 = 4096;

static PROVIDER: LazyLock<WebhookProvider> = LazyLock::new(|| {
    let settings = WebhookSettings::from_json(
        &json!({"deliveryUrl": "https://hooks.example.com/in", "maxAttachmentBytes": MAX_ATTACHMENT_BYTES}),
    )
    .expect("settings");
    let egress = Egress::new(Arc::new(StaticResolver::default()), Duration::from_secs(1));
    let secrets = SECRETS.iter().map(|s| (*s).to_owned()).collect();
    WebhookProvider::new(ProviderId::new("fuzz-webhook"), secrets, settings, egress).expect("provider")
});

fn request(body: &[u8], signature: &[u8; 32]) -> InboundRequest {
    let mut headers = HeaderMap::new();
    headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(&TS.to_string()).expect("ts"));
    let value = signature_value(SIGNATURE_PREFIX, signature);
    headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&value).expect("signature"));
    InboundRequest { headers, body: Bytes::copy_from_slice(body), received_at_ms: NOW_MS }
}

fn sign(secret: &str, body: &[u8]) -> [u8; 32] {
    platform_signature(secret.as_bytes(), SIGNATURE_PREFIX, &TS.to_string(), body)
}

fn assert_mismatch(result: Result<Verified, InboundError>, what: &str) {
    match result {
        Err(InboundError::Unauthorized("signature mismatch")) => {}
        other => panic!("{what}: expected Unauthorized(signature mismatch), got {other:?}"),
    }
}

/// A trimmed JSON string field, `None` when absent, null or blank.
fn field<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn check_id(name: &str, id: &str, max: usize) {
    assert!(!id.is_empty() && id.len() <= max && no_controls(id) && is_trimmed(id), "{name} {id:?}");
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(at, c)| if [8, 13, 18, 23].contains(&at) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// The accepted event is the JSON body's fields, trimmed and within limits.
fn check_event(event: &InboundEvent, replay_key: Option<&str>, body: &[u8], signature: &[u8; 32]) {
    let root: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
    assert!(root.is_object(), "an accepted body is an object");
    match field(&root, "id") {
        Some(id) => {
            assert_eq!(event.provider_event_id, id);
            assert_eq!(replay_key, None, "a sender-given id needs no replay key");
        }
        None => {
            assert!(is_uuid(&event.provider_event_id), "generated id {:?}", event.provider_event_id);
            assert_eq!(replay_key, Some(format!("{TS}:{}", hex::encode(signature)).as_str()));
        }
    }
    check_id("event id", &event.provider_event_id, 512);
    assert_eq!(Some(event.chat.chat_id.as_str()), field(&root["target"], "chatId"));
    check_id("chat id", &event.chat.chat_id, 512);
    assert_eq!(event.chat.thread_id.as_deref(), field(&root["target"], "threadId"));
    if let Some(thread) = &event.chat.thread_id {
        check_id("thread id", thread, 512);
    }
    assert_eq!(Some(event.sender.user_id.as_str()), field(&root["sender"], "userId"));
    check_id("user id", &event.sender.user_id, 512);
    let name = field(&root["sender"], "displayName").or_else(|| field(&root["sender"], "username"));
    assert_eq!(event.sender.display_name.as_deref(), name);
    assert_eq!(event.reply_context, None);
    let interaction = root.get("interaction").filter(|v| !v.is_null());
    match &event.body {
        InboundBody::Interaction(input) if interaction.is_some() => {
            assert_eq!(Some(input.handle.as_str()), interaction.and_then(|i| field(i, "token")));
            assert_eq!(input.verb, InteractionVerb::Click);
            check_id("handle", &input.handle, 64);
        }
        body => {
            assert!(interaction.is_none(), "an interaction payload became {body:?}");
            let text = field(&root, "text").or_else(|| field(&root, "rawText")).expect("text or rawText");
            assert!(text.len() <= 64 * 1024);
            assert!(!text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')), "{text:?}");
            match parse_text_command(text) {
                Some(command) => assert_eq!(body, &command, "text command {text:?}"),
                None => assert_eq!(body, &InboundBody::Message { text: text.to_owned() }),
            }
        }
    }
}

/// The same verdict: both accepted with the same events (the generated id aside) or both refused
/// with the same error.
fn same_verdict(a: &Result<Verified, InboundError>, b: &Result<Verified, InboundError>) {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.events.len(), b.events.len());
            for (x, y) in a.events.iter().zip(&b.events) {
                let generated = a.replay_key.is_some();
                let id = |e: &InboundEvent| if generated { String::new() } else { e.provider_event_id.clone() };
                assert_eq!(id(x), id(y));
                assert_eq!((&x.chat, &x.sender, &x.body), (&y.chat, &y.sender, &y.body));
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("rotated secrets disagree: {a:?} / {b:?}"),
    }
}

fuzz_target!(|body: &[u8]| {
    let provider = &*PROVIDER;
    let signature = sign(SECRETS[0], body);
    let result = provider.parse_inbound(&request(body, &signature));
    if let Err(InboundError::Unauthorized(reason)) = &result {
        panic!("a correctly signed request was refused: {reason}");
    }
    let rotated = provider.parse_inbound(&request(body, &sign(SECRETS[1], body)));
    same_verdict(&result, &rotated);

    assert_mismatch(provider.parse_inbound(&request(body, &sign("another-secret", body))), "wrong secret");
    let flipped =
        flip_bit(&signature, body.len().wrapping_mul(31).wrapping_add(body.first().copied().unwrap_or(0).into()));
    assert_mismatch(provider.parse_inbound(&request(body, &flipped)), "flipped signature bit");
    let mut tampered = body.to_vec();
    match tampered.last_mut() {
        Some(last) => *last ^= 0x20,
        None => tampered.push(b' '),
    }
    assert_mismatch(provider.parse_inbound(&request(&tampered, &signature)), "body changed after signing");

    match &result {
        Ok(verified) => {
            assert_eq!(verified.events.len(), 1, "one event per webhook request");
            assert_eq!(verified.immediate_reply, None);
            check_event(&verified.events[0], verified.replay_key.as_deref(), body, &signature);
        }
        Err(InboundError::BadPayload(message) | InboundError::TooLarge(message)) => {
            assert!(!message.is_empty());
        }
        Err(other) => panic!("unexpected error for a signed request: {other:?}"),
    }
});
