//! Inbound tests through [`EmailProvider::parse_inbound`]: real MIME samples from
//! `testdata/`, the JSON relay shape, authentication, loops, interactions and every limit.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::threading::ReplyContext;
use super::*;
use crate::{ChatRef, InboundBody, InboundEvent, InteractionInput, InteractionVerb, signature};

const SECRET: &str = "relay-secret";
const NOW_MS: i64 = 1_715_000_000_000;
/// The id of one of our mails without choices, as the samples quote it.
const OURS: &str = "ocw.0.0b7e5d3c1a9f8e7d6c5b4a3928170615@cowork.example.com";

fn provider(extra: Value) -> EmailProvider {
    let mut settings = json!({"from": "Cowork Agent <agent@cowork.example.com>", "smtpHost": "smtp.example.com"});
    settings.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let settings = EmailSettings::from_json(&settings).unwrap();
    let credentials =
        EmailCredentials { inbound_secrets: vec!["old-secret".into(), SECRET.into()], smtp_password: None };
    EmailProvider::new(ProviderId::new("mail"), credentials, settings, Duration::from_secs(5)).unwrap()
}

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/src/email/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn request(content_type: &str, body: Vec<u8>) -> InboundRequest {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
    headers.insert(SECRET_HEADER, HeaderValue::from_static(SECRET));
    InboundRequest { headers, body: Bytes::from(body), received_at_ms: NOW_MS }
}

fn mime(name: &str) -> InboundRequest {
    request("message/rfc822", sample(name))
}

fn relay(value: &Value) -> InboundRequest {
    request("application/json", value.to_string().into_bytes())
}

fn event(provider: &EmailProvider, request: &InboundRequest) -> InboundEvent {
    let mut verified = provider.parse_inbound(request).unwrap_or_else(|e| panic!("parse failed: {e}"));
    assert_eq!(verified.events.len(), 1);
    verified.events.remove(0)
}

fn text(event: &InboundEvent) -> &str {
    match &event.body {
        InboundBody::Message { text } => text,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn ignored(event: &InboundEvent) -> &str {
    match &event.body {
        InboundBody::Ignored { reason } => reason,
        other => panic!("expected an ignored event, got {other:?}"),
    }
}

fn error(provider: &EmailProvider, request: &InboundRequest) -> InboundError {
    provider.parse_inbound(request).expect_err("expected an error")
}

#[test]
fn gmail_reply_is_stripped_and_threaded_under_its_root() {
    let event = event(&provider(json!({"requireAuthenticationResults": true})), &mime("gmail_reply.eml"));
    assert_eq!(event.provider_event_id, "CAKx1m2f9reply3=Zx@mail.example.org");
    let root = "CAKx1m2f0bRoot=kq@mail.example.org";
    assert_eq!(event.chat, ChatRef { chat_id: "ann.lee@example.org".into(), thread_id: Some(root.into()) });
    assert_eq!(event.sender.user_id, "ann.lee@example.org");
    assert_eq!(event.sender.display_name.as_deref(), Some("Ann Lee"));
    assert_eq!(text(&event), "Yes, please go ahead and archive the Q1 folder.\nKeep the invoices though.");
    let context = ReplyContext::from_json(event.reply_context.as_deref()).unwrap();
    assert_eq!(context.message_id, "CAKx1m2f9reply3=Zx@mail.example.org");
    assert_eq!(context.references, [root, OURS, "CAKx1m2f9reply3=Zx@mail.example.org"]);
    assert_eq!(context.subject.as_deref(), Some("Re: Q1 cleanup"));
    assert_eq!(context.sender_name.as_deref(), Some("Ann Lee"));
}

#[test]
fn outlook_reply_in_windows_1252_loses_the_original_message() {
    let event = event(&provider(json!({"allowedSenders": ["@corp.example"]})), &mime("outlook_reply.eml"));
    assert_eq!(event.chat.chat_id, "bjorn@corp.example");
    assert_eq!(event.chat.thread_id.as_deref(), Some(OURS));
    assert_eq!(event.sender.display_name.as_deref(), Some("Björn Svensson"));
    assert_eq!(text(&event), "Approved – but only for the staging environment.\n\nRegards,\nBjörn");
}

#[test]
fn new_threads_in_legacy_and_multibyte_charsets_keep_their_subject() {
    let latin = event(&provider(json!({})), &mime("latin1_qp.eml"));
    assert_eq!(latin.chat.thread_id.as_deref(), Some("20240507091500.4711@example.de"));
    assert_eq!(latin.sender.display_name.as_deref(), Some("Jürgen Müller"));
    assert_eq!(
        text(&latin),
        "Subject: Marktübersicht für März\n\nHallo,\n\nbitte fasse den Bericht über die Größe der Märkte zusammen.\n\nDanke und Grüße\nJürgen"
    );
    let utf8 = event(&provider(json!({})), &mime("utf8_base64.eml"));
    assert_eq!(utf8.sender.display_name.as_deref(), Some("佐藤 花子"));
    assert_eq!(text(&utf8), "Subject: 請求書について\n\nこんにちは！\n請求書の件、金額を確認してください 🙏");
    let jis = event(&provider(json!({})), &mime("iso2022jp.eml"));
    assert_eq!(text(&jis), "Subject: 会議\n\n会議は明日の十時です。");
}

#[test]
fn html_only_mail_is_converted_and_its_quote_removed() {
    let event = event(&provider(json!({})), &mime("html_only.eml"));
    assert_eq!(event.chat.thread_id.as_deref(), Some("root-7781@example.com"));
    assert_eq!(text(&event), "Thanks — please send the summary to the whole team too.\n\nBest,\nCarla");
}

#[test]
fn attachments_are_listed_and_limited() {
    let event = event(&provider(json!({})), &mime("attachment.eml"));
    assert_eq!(
        text(&event),
        "Subject: Contract draft\n\nCan you check the termination clause in the attached draft?\n\n\
         [attachment: contract-draft.pdf (application/pdf, 142 bytes)]"
    );
    let small = provider(json!({"maxAttachmentBytes": 100}));
    assert!(
        matches!(error(&small, &mime("attachment.eml")), InboundError::TooLarge(m) if m.contains("contract-draft.pdf"))
    );
}

#[test]
fn loops_bounces_lists_and_spoofs_are_recorded_not_prompted() {
    let strict = provider(json!({"requireAuthenticationResults": true}));
    let cases = [
        (provider(json!({})), "auto_reply.eml", "auto_submitted"),
        (provider(json!({})), "bounce.eml", "mailer_daemon"),
        (provider(json!({})), "mailing_list.eml", "precedence_bulk"),
        (strict, "auth_fail.eml", "authentication_failed"),
        (
            provider(json!({"requireAuthenticationResults": true, "authServId": "mx.relay.example"})),
            "auth_fail.eml",
            "authentication_failed",
        ),
        (provider(json!({"allowedSenders": ["boss@corp.example"]})), "gmail_reply.eml", "sender_not_allowed"),
    ];
    for (provider, name, reason) in cases {
        let event = event(&provider, &mime(name));
        assert_eq!(ignored(&event), reason, "{name}");
        assert_eq!(event.reply_context, None, "{name}: an ignored mail must not become what we answer");
    }
    let auto = event(&provider(json!({})), &mime("auto_reply.eml"));
    assert_eq!(auto.chat.thread_id.as_deref(), Some("CAKx1m2f0bRoot=kq@mail.example.org"));
    let own = json!({"messageId": "<x@y>", "from": "Cowork Agent <AGENT@cowork.example.com>", "text": "hi"});
    assert_eq!(ignored(&event(&provider(json!({})), &relay(&own))), "own_address");
}

#[test]
fn a_bare_number_answers_the_choices_of_the_mail_it_replies_to() {
    let event = event(&provider(json!({})), &mime("number_reply.eml"));
    let click = InteractionInput { handle: "Ab3dE9xYz1:n".into(), verb: InteractionVerb::Click };
    assert_eq!(event.body, InboundBody::Interaction(click));
    assert_eq!(event.chat.thread_id.as_deref(), Some("CAKx1m2f0bRoot=kq@mail.example.org"));
    assert!(event.reply_context.is_some());
}

#[test]
fn commands_handles_and_numbers_in_replies() {
    let carried =
        super::message_id::Carried { root: None, handles: vec!["Ab3dE9xYz1:y".into(), "Ab3dE9xYz1:n".into()] };
    let ours = super::message_id::outbound_id("mail", "d1", &carried, "cowork.example.com");
    let reply = |text: &str| json!({"messageId": "r@x", "from": "ann@example.org", "text": text, "inReplyTo": format!("<{ours}>")});
    let body = |text: &str| event(&provider(json!({})), &relay(&reply(text))).body;
    let click = |handle: &str| {
        InboundBody::Interaction(InteractionInput { handle: handle.into(), verb: InteractionVerb::Click })
    };
    assert_eq!(body("1"), click("Ab3dE9xYz1:y"));
    assert_eq!(body(" 2.\n\nOn Mon, Agent wrote:\n> 1. Approve"), click("Ab3dE9xYz1:n"));
    assert_eq!(body("[Ab3dE9xYz1:n]"), click("Ab3dE9xYz1:n"));
    assert_eq!(body("Zz9yY8xX7w:3"), click("Zz9yY8xX7w:3"));
    assert_eq!(body("3"), InboundBody::Message { text: "3".into() });
    assert_eq!(body("10:30"), InboundBody::Message { text: "10:30".into() });
    assert_eq!(body("Approved:thanks"), InboundBody::Message { text: "Approved:thanks".into() });
    assert_eq!(body("thanks"), InboundBody::Message { text: "thanks".into() });
    let approve = InteractionInput { handle: "Ab3dE9xYz1".into(), verb: InteractionVerb::Approve };
    assert_eq!(body("/approve Ab3dE9xYz1\n-- \nAnn"), InboundBody::Interaction(approve));
    let answer = InteractionInput { handle: "Ab3dE9xYz1".into(), verb: InteractionVerb::Answer("the blue one".into()) };
    assert_eq!(body("/answer Ab3dE9xYz1 the blue one"), InboundBody::Interaction(answer));
    assert_eq!(body("/stop\n\nOn Mon, Agent wrote:\n> working on it"), InboundBody::Abort);
    let unrelated = json!({"messageId": "r@x", "from": "ann@example.org", "text": "1"});
    assert_eq!(event(&provider(json!({})), &relay(&unrelated)).body, InboundBody::Message { text: "1".into() });
}

#[test]
fn a_reply_without_references_still_lands_in_its_thread() {
    let carried =
        super::message_id::Carried { root: Some("CAKx1m2f0bRoot=kq@mail.example.org".into()), handles: vec![] };
    let ours = super::message_id::outbound_id("mail", "d1", &carried, "cowork.example.com");
    let reply = json!({"messageId": "r2@x", "from": "ann.lee@example.org", "text": "More please", "inReplyTo": format!("<{ours}>")});
    let event = event(&provider(json!({})), &relay(&reply));
    assert_eq!(event.chat.thread_id.as_deref(), Some("CAKx1m2f0bRoot=kq@mail.example.org"));
    let context = ReplyContext::from_json(event.reply_context.as_deref()).unwrap();
    assert_eq!(context.references, ["CAKx1m2f0bRoot=kq@mail.example.org", ours.as_str(), "r2@x"]);
    // Another domain's look-alike carries nothing.
    let foreign = ours.replace("cowork.example.com", "evil.example");
    let reply =
        json!({"messageId": "r3@x", "from": "ann.lee@example.org", "text": "x", "inReplyTo": format!("<{foreign}>")});
    assert_eq!(self::event(&provider(json!({})), &relay(&reply)).chat.thread_id, Some(foreign));
}

#[test]
fn the_open_cowork_relay_shape_and_its_aliases() {
    let full = json!({
        "messageId": "<m2@mail.example.org>",
        "from": {"email": "Ann.Lee@Example.org", "name": "Ann Lee"},
        "to": "agent@cowork.example.com",
        "subject": "Re: Plan",
        "text": "Sounds good.\n\n> quoted",
        "threadId": "relay-thread-1",
        "inReplyTo": "<m1@mail.example.org>",
        "references": ["<m0@mail.example.org>", "m1@mail.example.org"],
        "attachments": [{"filename": "a.txt", "mimeType": "text/plain", "sizeBytes": 3, "contentBase64": STANDARD.encode("abc")}],
        "unknownRelayField": true
    });
    let event = event(&provider(json!({})), &relay(&full));
    assert_eq!(event.provider_event_id, "m2@mail.example.org");
    assert_eq!(
        event.chat,
        ChatRef { chat_id: "ann.lee@example.org".into(), thread_id: Some("m0@mail.example.org".into()) }
    );
    assert_eq!(event.sender.display_name.as_deref(), Some("Ann Lee"));
    assert_eq!(text(&event), "Sounds good.\n\n[attachment: a.txt (text/plain, 3 bytes)]");

    let aliases = json!({
        "id": "m3@x", "sender": "\"Lee, Ann\" <ann@example.org>", "body": "Hello", "threadId": "relay-thread-1",
        "references": "<a@x> <b@x>",
        "attachments": [{"name": "b.bin", "contentType": "application/x-thing", "size": 2, "bufferBase64": STANDARD.encode("hi")}]
    });
    let event = self::event(&provider(json!({})), &relay(&aliases));
    assert_eq!((event.provider_event_id.as_str(), event.chat.thread_id.as_deref()), ("m3@x", Some("a@x")));
    assert_eq!(event.sender.display_name.as_deref(), Some("Lee, Ann"));
    assert_eq!(text(&event), "Hello\n\n[attachment: b.bin (application/x-thing, 2 bytes)]");

    let threaded_by_relay =
        json!({"id": "m4@x", "from": "ann@example.org", "html": "<p>Hi <b>there</b></p>", "threadId": "<t-9@x>"});
    let event = self::event(&provider(json!({})), &relay(&threaded_by_relay));
    assert_eq!((event.chat.thread_id.as_deref(), text(&event)), (Some("t-9@x"), "Hi there"));
}

#[test]
fn relay_headers_feed_loop_protection() {
    let as_object =
        json!({"id": "a@x", "from": "ann@example.org", "text": "x", "headers": {"Auto-Submitted": "auto-generated"}});
    assert_eq!(ignored(&event(&provider(json!({})), &relay(&as_object))), "auto_submitted");
    let as_pairs = json!({"id": "a@x", "from": "ann@example.org", "text": "x", "headers": [["Precedence", "junk"]]});
    assert_eq!(ignored(&event(&provider(json!({})), &relay(&as_pairs))), "precedence_bulk");
    let verdicts = json!({"id": "a@x", "from": "ann@example.org", "text": "x",
        "headers": {"Authentication-Results": ["mx.relay; dmarc=pass header.from=example.org"]}});
    assert_eq!(text(&event(&provider(json!({"requireAuthenticationResults": true})), &relay(&verdicts))), "x");
    let none = json!({"id": "a@x", "from": "ann@example.org", "text": "x"});
    assert_eq!(
        ignored(&event(&provider(json!({"requireAuthenticationResults": true})), &relay(&none))),
        "authentication_failed"
    );
}

#[test]
fn empty_replies_are_ignored() {
    let quotes_only = json!({"id": "a@x", "from": "ann@example.org", "text": "> earlier text", "inReplyTo": "p@x"});
    assert_eq!(ignored(&event(&provider(json!({})), &relay(&quotes_only))), "empty");
    let nothing = json!({"id": "b@x", "from": "ann@example.org", "inReplyTo": "p@x"});
    assert_eq!(ignored(&event(&provider(json!({})), &relay(&nothing))), "empty");
}

#[test]
fn authentication_is_required_and_only_from_configured_secrets() {
    let provider = provider(json!({}));
    let mut missing = mime("gmail_reply.eml");
    missing.headers.remove(SECRET_HEADER);
    assert!(matches!(error(&provider, &missing), InboundError::Unauthorized("missing secret")));
    let mut wrong = mime("gmail_reply.eml");
    wrong.headers.insert(SECRET_HEADER, HeaderValue::from_static("guess"));
    assert!(matches!(error(&provider, &wrong), InboundError::Unauthorized("secret mismatch")));
    let mut bearer = mime("gmail_reply.eml");
    bearer.headers.remove(SECRET_HEADER);
    bearer.headers.insert(http::header::AUTHORIZATION, HeaderValue::from_static("Bearer old-secret"));
    assert!(provider.parse_inbound(&bearer).is_ok());

    let body = sample("gmail_reply.eml");
    let ts = (NOW_MS / 1000).to_string();
    let mut signed = mime("gmail_reply.eml");
    signed.headers.remove(SECRET_HEADER);
    signed.headers.insert(crate::webhook::TIMESTAMP_HEADER, HeaderValue::from_str(&ts).unwrap());
    let signature = signature::signature_header(SECRET.as_bytes(), "v1", &ts, &body);
    signed.headers.insert(crate::webhook::SIGNATURE_HEADER, HeaderValue::from_str(&signature).unwrap());
    let verified = provider.parse_inbound(&signed).unwrap();
    assert_eq!(verified.replay_key, Some(format!("{ts}:{}", &signature[3..])));
    let mut tampered = signed.clone();
    tampered.body = Bytes::from([body.as_slice(), b"x"].concat());
    assert!(matches!(error(&provider, &tampered), InboundError::Unauthorized("signature mismatch")));
}

#[test]
fn unparsable_or_unidentified_mail_is_a_bad_payload() {
    let provider = provider(json!({}));
    let bad = |request: InboundRequest, needle: &str| match error(&provider, &request) {
        InboundError::BadPayload(message) => assert!(message.contains(needle), "{needle}: {message}"),
        other => panic!("{needle}: expected BadPayload, got {other:?}"),
    };
    bad(mime("no_message_id.eml"), "Message-ID");
    bad(request("message/rfc822", b"just some words, no headers".to_vec()), "");
    bad(request("message/rfc822", Vec::new()), "");
    bad(request("message/rfc822", vec![0xff, 0xfe, 0x00, 0x01]), "");
    bad(request("message/rfc822", b"Message-ID: <a@b>\r\n\r\nno sender".to_vec()), "From");
    bad(request("text/plain", sample("gmail_reply.eml")), "Content-Type");
    let mut untyped = mime("gmail_reply.eml");
    untyped.headers.remove(http::header::CONTENT_TYPE);
    bad(untyped, "Content-Type");
    bad(request("application/json", b"{not json".to_vec()), "JSON");
    bad(relay(&json!(["array"])), "object");
    bad(relay(&json!({"from": "a@b.c", "text": "x"})), "messageId");
    bad(relay(&json!({"id": "bad id", "from": "a@b.c", "text": "x"})), "messageId");
    bad(relay(&json!({"id": "a@x", "text": "x"})), "from");
    bad(relay(&json!({"id": "a@x", "from": "nobody", "text": "x"})), "from");
    bad(relay(&json!({"id": "a@x", "from": {"name": "Ann"}, "text": "x"})), "from");
    bad(relay(&json!({"id": "a@x", "from": "a@b.c", "text": 5})), "text");
    bad(relay(&json!({"id": "a@x", "from": "a@b.c", "references": 5})), "references");
    bad(relay(&json!({"id": "a@x", "from": "a@b.c", "headers": "Precedence: bulk"})), "headers");
    bad(relay(&json!({"id": "a@x", "from": "a@b.c", "subject": "s".repeat(999)})), "subject");
    let many: Vec<Value> = (0..21).map(|i| json!({"filename": format!("{i}.txt")})).collect();
    bad(relay(&json!({"id": "a@x", "from": "a@b.c", "attachments": many})), "attachments");
    let mismatch = json!([{"filename": "a", "sizeBytes": 2, "contentBase64": STANDARD.encode("abc")}]);
    bad(relay(&json!({"id": "a@x", "from": "a@b.c", "attachments": mismatch})), "attachments[0]");
    let not_base64 = json!([{"filename": "a", "contentBase64": "***"}]);
    bad(relay(&json!({"id": "a@x", "from": "a@b.c", "attachments": not_base64})), "base64");
}

#[test]
fn sizes_over_a_limit_are_too_large() {
    let provider = provider(json!({"maxAttachmentBytes": 10}));
    let too_large =
        |value: Value| assert!(matches!(error(&provider, &relay(&value)), InboundError::TooLarge(_)), "{value}");
    too_large(json!({"id": "a@x", "from": "a@b.c", "attachments": [{"filename": "big", "sizeBytes": 11}]}));
    too_large(
        json!({"id": "a@x", "from": "a@b.c", "attachments": [{"filename": "big", "contentBase64": STANDARD.encode([0u8; 11])}]}),
    );
    too_large(json!({"id": "a@x", "from": "a@b.c", "text": "x".repeat(600 * 1024)}));
    too_large(json!({"id": "a@x", "from": "a@b.c", "text": "word ".repeat(14 * 1024)}));
    let exact = json!({"id": "a@x", "from": "a@b.c", "attachments": [{"filename": "ok", "contentBase64": STANDARD.encode([0u8; 10])}]});
    assert!(provider.parse_inbound(&relay(&exact)).is_ok());
}
