//! Unit tests of the fake provider's parsing and fault injection.

use super::faults::FaultState;
use super::inbound::parse;
use super::*;
use crate::{InboundBody, InteractionVerb, ProviderErrorKind};

#[test]
fn message_defaults_chat_and_user() {
    let event = parse(br#"{"id":"e1","text":"hello"}"#).unwrap();
    assert_eq!(event.provider_event_id, "e1");
    assert_eq!(event.chat.chat_id, "fake-chat");
    assert_eq!(event.chat.thread_id, None);
    assert_eq!(event.sender.user_id, "fake-user");
    assert_eq!(event.body, InboundBody::Message { text: "hello".into() });
}

#[test]
fn missing_id_gets_a_fresh_one() {
    let a = parse(br#"{"text":"x"}"#).unwrap();
    let b = parse(br#"{"text":"x"}"#).unwrap();
    assert_ne!(a.provider_event_id, b.provider_event_id);
}

#[test]
fn interaction_and_text_commands_become_interactions() {
    let click = parse(br#"{"id":"e2","interaction":{"id":"i","token":"abc:y"}}"#).unwrap();
    let InboundBody::Interaction(click) = click.body else { panic!("not an interaction") };
    assert_eq!((click.handle.as_str(), click.verb), ("abc:y", InteractionVerb::Click));
    let command = parse(br#"{"text":"/deny abc"}"#).unwrap();
    assert!(matches!(command.body, InboundBody::Interaction(ref i) if i.verb == InteractionVerb::Deny));
}

#[test]
fn bad_bodies_are_payload_errors() {
    for body in [
        &b"not json"[..],
        br#"{"id":"e"}"#,
        br#"{"text":"   "}"#,
        br#"{"text":5}"#,
        br#"{"text":"x","chatId":"a\u0007b"}"#,
        br#"{"text":"x","chatId":""}"#,
        br#"[1,2]"#,
    ] {
        let error = parse(body).unwrap_err();
        assert!(matches!(error, InboundError::BadPayload(_)), "{body:?} gave {error:?}");
    }
    let long = format!(r#"{{"text":"{}"}}"#, "x".repeat(70_000));
    assert!(matches!(parse(long.as_bytes()), Err(InboundError::TooLarge(_))));
}

#[test]
fn settings_reject_unknown_fields_by_name() {
    let error = FakeSettings::from_json(&serde_json::json!({"failFirstSend": 2})).unwrap_err();
    assert!(error.contains("failFirstSend"), "{error}");
    let error = FakeSettings::from_json(&serde_json::json!({"failStatus": 200})).unwrap_err();
    assert!(error.contains("failStatus"), "{error}");
}

#[tokio::test]
async fn first_sends_fail_with_the_configured_status_then_succeed() {
    let settings = FakeSettings::from_json(&serde_json::json!({
        "failFirstSends": 2, "failStatus": 429, "failRetryAfterSeconds": 3
    }))
    .unwrap();
    let faults = FaultState::default();
    for _ in 0..2 {
        let error = faults.apply(&settings).await.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Transient);
        assert_eq!(error.retry_after, Some(std::time::Duration::from_secs(3)));
    }
    assert!(faults.apply(&settings).await.is_ok());
}

#[tokio::test]
async fn auth_and_client_statuses_are_not_retried() {
    let unauthorized = FakeSettings { fail_first_sends: 1, fail_status: 401, ..FakeSettings::default() };
    let error = FaultState::default().apply(&unauthorized).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unauthorized);
    let bad = FakeSettings { fail_first_sends: 1, fail_status: 400, ..FakeSettings::default() };
    assert!(!FaultState::default().apply(&bad).await.unwrap_err().is_retryable());
}
