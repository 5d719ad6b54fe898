//! Unit tests of the webhook payload schema: mapping, every field rule and every limit.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::*;

const LIMIT: u64 = 1024;

fn parse(value: &Value) -> Result<InboundEvent, InboundError> {
    parse_payload(value.to_string().as_bytes(), LIMIT).map(|(event, _)| event)
}

fn base() -> Value {
    json!({"id": "evt-1", "target": {"chatId": "chat-1"}, "sender": {"userId": "user-1"}, "text": "hello"})
}

fn with(pointer: &str, value: Value) -> Value {
    let mut body = base();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = if parent.is_empty() { &mut body } else { body.pointer_mut(parent).unwrap() };
    parent.as_object_mut().unwrap().insert(key.to_owned(), value);
    body
}

fn assert_bad(body: &Value, needle: &str) {
    match parse(body) {
        Err(InboundError::BadPayload(message)) => assert!(message.contains(needle), "{body}: {message}"),
        other => panic!("{body}: expected BadPayload mentioning {needle}, got {other:?}"),
    }
}

fn assert_too_large(body: &Value) {
    assert!(matches!(parse(body), Err(InboundError::TooLarge(_))), "{body}: {:?}", parse(body));
}

fn attachment(size: u64, data: &[u8]) -> Value {
    json!({"filename": "a.txt", "sizeBytes": size, "bufferBase64": STANDARD.encode(data)})
}

#[test]
fn full_payload_maps_to_a_message() {
    let body = json!({
        "id": " evt-9 ",
        "target": {"chatId": "c", "isDirect": true, "threadId": "t", "userId": "u", "messageId": "m"},
        "sender": {"userId": "u", "username": "ann", "displayName": "Ann Lee", "isBot": false},
        "text": "  line one\n\tline two  ",
        "rawText": "raw",
        "attachments": [attachment(3, b"abc"), {"filename": "b.bin", "providerFileId": "f1", "mimeType": "x/y"}],
        "receivedAt": "2024-05-01T12:30:00.123Z",
        "extraField": {"ignored": true}
    });
    let event = parse(&body).unwrap();
    assert_eq!(event.provider_event_id, "evt-9");
    assert_eq!(event.chat, ChatRef { chat_id: "c".into(), thread_id: Some("t".into()) });
    assert_eq!(event.sender, Sender { user_id: "u".into(), display_name: Some("Ann Lee".into()) });
    assert_eq!(event.body, InboundBody::Message { text: "line one\n\tline two".into() });
}

#[test]
fn username_is_the_fallback_display_name_and_raw_text_the_fallback_text() {
    let mut body = with("/sender/username", json!("ann"));
    body.as_object_mut().unwrap().remove("text");
    body["rawText"] = json!("from raw");
    let event = parse(&body).unwrap();
    assert_eq!(event.sender.display_name.as_deref(), Some("ann"));
    assert_eq!(event.body, InboundBody::Message { text: "from raw".into() });
}

#[test]
fn missing_id_gets_a_fresh_uuid() {
    let mut body = base();
    body.as_object_mut().unwrap().remove("id");
    let (a, b) = (parse(&body).unwrap(), parse(&body).unwrap());
    assert_ne!(a.provider_event_id, b.provider_event_id);
    assert!(uuid::Uuid::parse_str(&a.provider_event_id).is_ok());
}

#[test]
fn interactions_and_text_commands() {
    let mut click = with("/interaction", json!({"id": "i-1", "token": "h4ndle", "kind": "button"}));
    click.as_object_mut().unwrap().remove("text");
    let expected = InteractionInput { handle: "h4ndle".into(), verb: InteractionVerb::Click };
    assert_eq!(parse(&click).unwrap().body, InboundBody::Interaction(expected));
    let approve = with("/text", json!("/approve abc"));
    let expected = InteractionInput { handle: "abc".into(), verb: InteractionVerb::Approve };
    assert_eq!(parse(&approve).unwrap().body, InboundBody::Interaction(expected));
    let answer = with("/text", json!("/answer abc the blue one"));
    let InboundBody::Interaction(answer) = parse(&answer).unwrap().body else { panic!("not an interaction") };
    assert_eq!(answer.verb, InteractionVerb::Answer("the blue one".into()));
}

#[test]
fn invalid_json_and_wrong_shapes() {
    for raw in [&b"not json"[..], b"[1,2]", b"\"text\"", b"{\"target\":", b"\xff\xfe"] {
        assert!(matches!(parse_payload(raw, LIMIT), Err(InboundError::BadPayload(_))), "{raw:?}");
    }
    assert_bad(&with("/target", json!("chat")), "target must be an object");
    assert_bad(&with("/sender", json!(null)), "sender is required");
    assert_bad(&with("/interaction", json!([])), "interaction must be an object");
    let mut no_target = base();
    no_target.as_object_mut().unwrap().remove("target");
    assert_bad(&no_target, "target is required");
}

#[test]
fn wrong_types_name_the_field() {
    let cases = [
        ("/id", json!(5), "id must be a string"),
        ("/target/chatId", json!(1), "target.chatId must be a string"),
        ("/target/isDirect", json!("yes"), "target.isDirect must be a boolean"),
        ("/target/threadId", json!({}), "target.threadId"),
        ("/sender/userId", json!(["u"]), "sender.userId"),
        ("/sender/isBot", json!(1), "sender.isBot must be a boolean"),
        ("/text", json!(true), "text must be a string"),
        ("/rawText", json!(3), "rawText must be a string"),
        ("/receivedAt", json!(1_700_000_000), "receivedAt must be a string"),
        ("/attachments", json!({}), "attachments must be an array"),
        ("/attachments", json!(["a.txt"]), "attachments[0] must be an object"),
        ("/attachments", json!([{"filename": "a", "sizeBytes": "3"}]), "attachments[0].sizeBytes"),
        ("/attachments", json!([{"filename": "a", "sizeBytes": -1}]), "attachments[0].sizeBytes"),
        ("/attachments", json!([{"filename": 7}]), "attachments[0].filename"),
        ("/interaction", json!({"id": "i", "token": 5}), "interaction.token"),
    ];
    for (pointer, value, needle) in cases {
        assert_bad(&with(pointer, value), needle);
    }
}

#[test]
fn required_fields() {
    assert_bad(&with("/target/chatId", json!("   ")), "target.chatId is required");
    assert_bad(&with("/sender", json!({"username": "ann"})), "sender.userId is required");
    assert_bad(&with("/interaction", json!({"token": "t"})), "interaction.id is required");
    assert_bad(&with("/interaction", json!({"id": "i"})), "interaction.token is required");
    assert_bad(&with("/attachments", json!([{"sizeBytes": 1}])), "attachments[0].filename is required");
    assert_bad(&with("/text", json!("  ")), "text is required");
}

#[test]
fn over_long_fields() {
    let at = |n: usize| "x".repeat(n);
    for (pointer, max) in [
        ("/id", 512),
        ("/target/chatId", 512),
        ("/target/threadId", 512),
        ("/target/userId", 512),
        ("/target/messageId", 512),
        ("/sender/userId", 512),
        ("/sender/username", 256),
        ("/sender/displayName", 512),
    ] {
        assert!(parse(&with(pointer, json!(at(max)))).is_ok(), "{pointer} at {max}");
        assert_bad(&with(pointer, json!(at(max + 1))), "longer than");
    }
    assert!(parse(&with("/interaction", json!({"id": "i", "token": at(64)}))).is_ok());
    assert_bad(&with("/interaction", json!({"id": "i", "token": at(65)})), "interaction.token is longer than 64");
    // Bytes, not characters: 33 two-byte characters are 66 bytes.
    assert_bad(&with("/interaction", json!({"id": "i", "token": "é".repeat(33)})), "interaction.token");
    assert!(parse(&with("/attachments", json!([{"filename": at(255)}]))).is_ok());
    assert_bad(&with("/attachments", json!([{"filename": at(256)}])), "attachments[0].filename is longer than 255");
    assert_too_large(&with("/text", json!(at(64 * 1024 + 1))));
}

#[test]
fn control_characters() {
    for pointer in ["/id", "/target/chatId", "/target/threadId", "/sender/userId", "/sender/displayName"] {
        assert_bad(&with(pointer, json!("a\u{0}b")), "control characters");
        assert_bad(&with(pointer, json!("a\nb")), "control characters");
    }
    assert_bad(&with("/interaction", json!({"id": "i", "token": "a\u{1b}b"})), "interaction.token");
    assert_bad(&with("/attachments", json!([{"filename": "a\u{7}.txt"}])), "attachments[0].filename");
    assert_bad(&with("/text", json!("bell\u{7}")), "text must not contain control characters");
    assert_bad(&with("/text", json!("del\u{7f}")), "text must not contain control characters");
    assert!(parse(&with("/text", json!("tabs\tand\r\nlines"))).is_ok());
}

#[test]
fn received_at_must_be_iso() {
    for good in ["2024-05-01", "2024-05-01T12:30:00Z", "2024-05-01T12:30:00.5+02:00", "2024-05-01T12:30-05:00"] {
        assert!(parse(&with("/receivedAt", json!(good))).is_ok(), "{good}");
    }
    for bad in ["yesterday", "2024-13-01", "2024-05-01T25:00:00Z", "2024-05-01T12:30:00.Z", "1714566600"] {
        assert_bad(&with("/receivedAt", json!(bad)), "receivedAt");
    }
}

#[test]
fn attachment_count_limit() {
    let twenty: Vec<Value> = (0..20).map(|i| json!({"filename": format!("f{i}")})).collect();
    assert!(parse(&with("/attachments", json!(twenty))).is_ok());
    let twenty_one: Vec<Value> = (0..21).map(|i| json!({"filename": format!("f{i}")})).collect();
    assert_bad(&with("/attachments", json!(twenty_one)), "at most 20");
}

#[test]
fn attachment_sizes() {
    let full = vec![7u8; LIMIT as usize];
    assert!(parse(&with("/attachments", json!([attachment(LIMIT, &full)]))).is_ok());
    assert!(parse(&with("/attachments", json!([{"filename": "a", "bufferBase64": STANDARD.encode(b"ab")}]))).is_ok());
    assert_bad(&with("/attachments", json!([attachment(4, b"abc")])), "decodes to 3 bytes but sizeBytes is 4");
    assert_bad(&with("/attachments", json!([attachment(2, b"abc")])), "sizeBytes is 2");
    assert_too_large(&with("/attachments", json!([{"filename": "a", "sizeBytes": LIMIT + 1}])));
    let over = vec![7u8; LIMIT as usize + 1];
    assert_too_large(&with("/attachments", json!([attachment(LIMIT + 1, &over)])));
    assert_too_large(&with("/attachments", json!([{"filename": "a", "bufferBase64": STANDARD.encode(&over)}])));
}

#[test]
fn non_strict_base64_is_refused() {
    for encoded in ["YW Jj", "YWJ", "YWI=YWI=", "YWJj===", "YR==", "YWJj*", "YW_j", "YW-j", "=YWJ"] {
        let file = json!([{"filename": "a", "bufferBase64": encoded}]);
        assert_bad(&with("/attachments", file), "attachments[0].bufferBase64 is not strict base64");
    }
    let file = json!([{"filename": "a", "bufferBase64": "YW\nJj"}]);
    assert_bad(&with("/attachments", file), "attachments[0].bufferBase64 must not contain control characters");
}

#[test]
fn size_is_estimated_before_decoding() {
    // Not base64 at all, but long enough that its decoded size would be over the limit: the
    // estimate refuses it as too large before the decoder could call it malformed.
    let garbage = "!".repeat((LIMIT as usize / 3 + 1) * 4);
    assert_too_large(&with("/attachments", json!([{"filename": "a", "bufferBase64": garbage}])));
    assert_eq!(estimated_decoded_len("YWJj"), 3);
    assert_eq!(estimated_decoded_len("YWI="), 2);
    assert_eq!(estimated_decoded_len("YQ=="), 1);
    assert_eq!(estimated_decoded_len(""), 0);
}
