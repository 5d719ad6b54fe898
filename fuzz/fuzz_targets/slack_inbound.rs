//! Slack ingress (`providers/src/slack/inbound.rs`) through `SlackProvider::parse_inbound`:
//! Events API JSON (`url_verification`, `event_callback`), interactivity forms (`payload=` JSON,
//! `block_actions`) and slash-command forms, each correctly signed.
//!
//! Input: one settings byte (bit 0 `respondTo: all`, bit 1 `sessionScope: channel`, bit 2 a
//! configured `botUserId`, bit 3 a configured workspace), then the body.
//!
//! Invariants:
//! - a body signed with either signing secret is never refused for authentication (only a
//!   workspace mismatch, a bad payload or success); another secret or a flipped signature bit is
//!   `Unauthorized("signature mismatch")`; both secrets give the same verdict;
//! - an accepted request carries the replay key `"{ts}:{signature hex}"`;
//! - a `url_verification` answer is `{"challenge": c}` with `c` the body's challenge (at most
//!   1024 bytes, no control characters) and no events;
//! - every event has ids of 1 to 256 bytes without control characters, and is a click on a
//!   handle of 1 to 32 bytes without control characters (ids `block_actions:<trigger>[:n]`), a
//!   text command, or a message whose text is non-empty and trimmed.
#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use cowork_fuzz::{flip_bit, is_trimmed, no_controls, platform_signature, signature_value};
use cowork_providers::commands::parse_text_command;
use cowork_providers::egress::{Egress, StaticResolver};
use cowork_providers::slack::{SIGNATURE_HEADER, SIGNATURE_PREFIX, SlackProvider, SlackSettings, TIMESTAMP_HEADER};
use cowork_providers::{
    ChannelProvider, InboundBody, InboundError, InboundRequest, InteractionVerb, MAX_HANDLE_BYTES, ProviderId, Verified,
};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const SECRETS: [&str; 2] = ["signing-new", "signing-old"];
const TS: i64 = 1_700_000_000;
const NOW_MS: i64 = TS * 1000 + 10_000;

/// One provider per combination of the settings bits.
static PROVIDERS: LazyLock<Vec<SlackProvider>> = LazyLock::new(|| {
    (0u8..16)
        .map(|bits| {
            let mut settings = json!({});
            if bits & 1 != 0 {
                settings["respondTo"] = json!("all");
            }
            if bits & 2 != 0 {
                settings["sessionScope"] = json!("channel");
            }
            if bits & 4 != 0 {
                settings["botUserId"] = json!("UBOT");
            }
            let settings = SlackSettings::from_json(&settings).expect("settings");
            let egress = Egress::new(Arc::new(StaticResolver::default()), Duration::from_secs(1));
            let workspace = (bits & 8 != 0).then(|| "T1".to_owned());
            let secrets = SECRETS.iter().map(|s| (*s).to_owned()).collect();
            SlackProvider::new(ProviderId::new("fuzz-slack"), "xoxb-fuzz".into(), secrets, settings, workspace, egress)
                .expect("provider")
        })
        .collect()
});

fn request(body: &[u8], signature: &[u8; 32]) -> InboundRequest {
    let mut headers = HeaderMap::new();
    headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(&TS.to_string()).expect("ts"));
    headers
        .insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature_value(SIGNATURE_PREFIX, signature)).expect("sig"));
    InboundRequest { headers, body: Bytes::copy_from_slice(body), received_at_ms: NOW_MS }
}

fn sign(secret: &str, body: &[u8]) -> [u8; 32] {
    platform_signature(secret.as_bytes(), SIGNATURE_PREFIX, &TS.to_string(), body)
}

fn verdict(result: &Result<Verified, InboundError>) -> String {
    match result {
        Ok(verified) => format!("{:?}/{:?}", verified.events, verified.immediate_reply),
        Err(error) => error.to_string(),
    }
}

fn check_id(name: &str, id: &str) {
    assert!(!id.is_empty() && id.len() <= 256 && no_controls(id), "{name} {id:?}");
}

fn check(verified: &Verified, body: &[u8], signature: &[u8; 32]) {
    assert_eq!(verified.replay_key, Some(format!("{TS}:{}", hex::encode(signature))));
    if let Some(reply) = &verified.immediate_reply {
        assert!(verified.events.is_empty());
        let root: Value = serde_json::from_slice(body).expect("url_verification is JSON");
        assert_eq!(root["type"], "url_verification");
        let challenge = reply["challenge"].as_str().expect("a challenge string");
        assert_eq!(reply, &json!({"challenge": challenge}));
        assert_eq!(root["challenge"].as_str(), Some(challenge));
        assert!(challenge.len() <= 1024 && no_controls(challenge), "{challenge:?}");
        return;
    }
    for event in &verified.events {
        check_id("event id", &event.provider_event_id);
        check_id("channel", &event.chat.chat_id);
        if let Some(thread) = &event.chat.thread_id {
            check_id("thread", thread);
        }
        check_id("user", &event.sender.user_id);
        if let Some(name) = &event.sender.display_name {
            assert!(!name.is_empty() && name.len() <= 256 && no_controls(name) && is_trimmed(name), "{name:?}");
        }
        assert_eq!(event.reply_context, None);
        match &event.body {
            InboundBody::Interaction(input) if input.verb == InteractionVerb::Click => {
                let handle = &input.handle;
                assert!(!handle.is_empty() && handle.len() <= MAX_HANDLE_BYTES && no_controls(handle), "{handle:?}");
                assert!(event.provider_event_id.starts_with("block_actions:"), "{}", event.provider_event_id);
            }
            InboundBody::Message { text } => {
                assert!(!text.is_empty() && is_trimmed(text), "message text {text:?}");
                assert_eq!(parse_text_command(text), None, "a command left as a message: {text:?}");
            }
            InboundBody::Interaction(_) | InboundBody::Abort => {}
            InboundBody::Ignored { reason } => panic!("Slack events are never recorded as ignored: {reason}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&bits, body)) = data.split_first() else { return };
    let provider = &PROVIDERS[usize::from(bits & 15)];
    let signature = sign(SECRETS[0], body);
    let result = provider.parse_inbound(&request(body, &signature));
    if let Err(InboundError::Unauthorized(reason)) = &result {
        panic!("a correctly signed request was refused: {reason}");
    }
    let rotated = provider.parse_inbound(&request(body, &sign(SECRETS[1], body)));
    assert_eq!(verdict(&result), verdict(&rotated), "rotated secrets disagree");
    for (what, bad) in [("wrong secret", sign("intruder", body)), ("flipped bit", flip_bit(&signature, body.len()))] {
        match provider.parse_inbound(&request(body, &bad)) {
            Err(InboundError::Unauthorized("signature mismatch")) => {}
            other => panic!("{what}: expected Unauthorized(signature mismatch), got {other:?}"),
        }
    }
    match &result {
        Ok(verified) => check(verified, body, &signature),
        Err(InboundError::WorkspaceMismatch) => assert!(bits & 8 != 0, "a mismatch without a configured workspace"),
        Err(InboundError::BadPayload(message)) => assert!(!message.is_empty()),
        Err(other) => panic!("unexpected error for a signed request: {other:?}"),
    }
});
