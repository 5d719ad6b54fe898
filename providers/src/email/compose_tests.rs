//! Unit tests of mail composition: headers, threading, alternatives, choices, files, and header
//! injection through every delivery-controlled value.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::json;

use super::*;
use crate::{ButtonStyle, ChatRef, ProviderErrorKind};

fn settings() -> EmailSettings {
    let value =
        json!({"from": "Cowork Agent <agent@example.com>", "smtpHost": "smtp.example.com", "maxAttachmentBytes": 64});
    EmailSettings::from_json(&value).unwrap()
}

fn context() -> String {
    ReplyContext {
        message_id: "m2@mail.example.org".into(),
        references: vec!["m1@mail.example.org".into(), "m2@mail.example.org".into()],
        subject: Some("Re: Quarterly plan".into()),
        sender_name: Some("Ann Lee".into()),
    }
    .to_json()
}

fn delivery(op: OutboundOp, reply_context: Option<String>) -> Delivery {
    let chat = ChatRef { chat_id: "ann@example.org".into(), thread_id: Some("m1@mail.example.org".into()) };
    Delivery { delivery_id: "dlv-7".into(), chat, op, reply_context, trace_parent: None }
}

fn send(text: &str, buttons: Vec<Vec<Button>>) -> OutboundOp {
    OutboundOp::Send { text: text.into(), buttons }
}

fn button(label: &str, handle: &str) -> Button {
    Button { label: label.into(), handle: handle.into(), style: ButtonStyle::Default }
}

fn formatted(delivery: &Delivery) -> (Composed, Vec<u8>) {
    let composed = compose(delivery, "mail", &settings()).unwrap();
    let bytes = composed.message.formatted();
    (composed, bytes)
}

fn header<'a>(message: &'a mail_parser::Message<'a>, name: &str) -> Option<&'a str> {
    message.headers_raw().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
}

#[test]
fn a_reply_is_threaded_and_has_both_alternatives() {
    let (composed, bytes) = formatted(&delivery(send("Done. See **the plan**.", vec![]), Some(context())));
    assert!(bytes.is_ascii(), "8BITMIME must not be needed");
    let message = MessageParser::new().parse(&bytes).unwrap();
    assert_eq!(message.subject(), Some("Re: Quarterly plan"));
    assert_eq!(message.message_id(), Some(composed.message_id.as_str()));
    assert!(composed.message_id.starts_with("ocw.") && composed.message_id.ends_with("@example.com"));
    assert_eq!(decode(&composed.message_id, "example.com").unwrap().root.as_deref(), Some("m1@mail.example.org"));
    assert_eq!(header(&message, "In-Reply-To"), Some("<m2@mail.example.org>"));
    let references = header(&message, "References").unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(references, "<m1@mail.example.org> <m2@mail.example.org>");
    assert_eq!(header(&message, "Auto-Submitted"), Some("auto-replied"));
    assert_eq!(header(&message, "X-Auto-Response-Suppress"), Some("All"));
    let from = message.from().unwrap().first().unwrap();
    assert_eq!((from.name(), from.address()), (Some("Cowork Agent"), Some("agent@example.com")));
    let to = message.to().unwrap().first().unwrap();
    assert_eq!((to.name(), to.address()), (Some("Ann Lee"), Some("ann@example.org")));
    assert!(message.content_type().is_some_and(|ct| ct.subtype() == Some("alternative")));
    assert_eq!(message.body_text(0).unwrap().trim_end(), "Done. See **the plan**.");
    assert!(message.body_html(0).unwrap().contains("<strong>the plan</strong>"));
}

#[test]
fn a_mail_without_context_starts_a_thread() {
    let (_, bytes) = formatted(&delivery(send("Scheduled report", vec![]), None));
    let message = MessageParser::new().parse(&bytes).unwrap();
    assert_eq!(message.subject(), Some(crate::email::DEFAULT_SUBJECT));
    assert_eq!(header(&message, "In-Reply-To"), None);
    assert_eq!(header(&message, "References"), None);
    assert_eq!(header(&message, "Auto-Submitted"), Some("auto-generated"));
    let to = message.to().unwrap().first().unwrap();
    assert_eq!((to.name(), to.address()), (None, Some("ann@example.org")));
}

#[test]
fn message_ids_are_stable_per_delivery() {
    let (first, _) = formatted(&delivery(send("x", vec![]), Some(context())));
    let (again, _) = formatted(&delivery(send("x", vec![]), Some(context())));
    assert_eq!(first.message_id, again.message_id);
    let mut other = delivery(send("x", vec![]), Some(context()));
    other.delivery_id = "dlv-8".into();
    assert_ne!(formatted(&other).0.message_id, first.message_id);
}

#[test]
fn buttons_become_numbered_choices_carried_by_the_message_id() {
    let buttons = vec![
        vec![button("Approve", "Ab3dE9xYz1:y"), button("Deny", "Ab3dE9xYz1:n")],
        vec![button("<b>Always</b>", "Ab3dE9xYz1:r")],
    ];
    let (composed, bytes) = formatted(&delivery(send("May I delete `build/`?", buttons), Some(context())));
    let message = MessageParser::new().parse(&bytes).unwrap();
    let plain = message.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(plain.contains("Reply with the number of your choice:"), "{plain}");
    assert!(
        plain.contains("  1. Approve  [Ab3dE9xYz1:y]\n  2. Deny  [Ab3dE9xYz1:n]\n  3. <b>Always</b>  [Ab3dE9xYz1:r]"),
        "{plain}"
    );
    let html = message.body_html(0).unwrap();
    assert!(html.contains("<li>Approve <code>[Ab3dE9xYz1:y]</code></li>"), "{html}");
    assert!(html.contains("<li>&lt;b&gt;Always&lt;/b&gt; <code>"), "{html}");
    let carried = decode(&composed.message_id, "example.com").unwrap();
    assert_eq!(carried.handles, ["Ab3dE9xYz1:y", "Ab3dE9xYz1:n", "Ab3dE9xYz1:r"]);
    assert_eq!(carried.root.as_deref(), Some("m1@mail.example.org"));
}

#[test]
fn edits_go_out_as_a_new_mail_in_the_thread() {
    let op =
        OutboundOp::Edit { message_id: "ocw.0.x@example.com".into(), text: "Approved by Ann".into(), buttons: vec![] };
    let (composed, bytes) = formatted(&delivery(op, Some(context())));
    let message = MessageParser::new().parse(&bytes).unwrap();
    assert_ne!(composed.message_id, "ocw.0.x@example.com");
    assert_eq!(header(&message, "In-Reply-To"), Some("<m2@mail.example.org>"));
    assert_eq!(message.body_text(0).unwrap().trim_end(), "Approved by Ann");
}

#[test]
fn files_become_attachments_within_the_limit() {
    let file = |data: &[u8], caption: Option<&str>| {
        OutboundOp::File(OutboundFile {
            filename: "report.csv".into(),
            mime_type: "text/csv".into(),
            data_base64: STANDARD.encode(data),
            caption: caption.map(str::to_owned),
        })
    };
    let (_, bytes) = formatted(&delivery(file(b"a,b\n1,2\n", Some("Here is the *report*")), Some(context())));
    let message = MessageParser::new().parse(&bytes).unwrap();
    let attachment = message.attachment(0).unwrap();
    assert_eq!(attachment.attachment_name(), Some("report.csv"));
    assert_eq!(attachment.contents(), b"a,b\n1,2\n");
    assert!(attachment.content_type().is_some_and(|ct| ct.ctype() == "text" && ct.subtype() == Some("csv")));
    assert!(message.body_text(0).unwrap().contains("Here is the *report*"));
    let (_, bytes) = formatted(&delivery(file(b"x", None), None));
    assert!(MessageParser::new().parse(&bytes).unwrap().body_text(0).unwrap().contains("Attached: report.csv"));

    let too_big = compose(&delivery(file(&[0u8; 65], None), None), "mail", &settings()).err().unwrap();
    assert_eq!(too_big.kind, ProviderErrorKind::Permanent);
    assert!(too_big.message.contains("maxAttachmentBytes"), "{}", too_big.message);
    let mut garbled = delivery(file(b"x", None), None);
    if let OutboundOp::File(file) = &mut garbled.op {
        file.data_base64 = "not base64!".into();
    }
    assert_eq!(compose(&garbled, "mail", &settings()).err().unwrap().kind, ProviderErrorKind::Permanent);
}

#[test]
fn invalid_recipients_are_permanent() {
    for chat_id in [
        "not-an-address",
        "ann@example.org\r\nBcc: eve@evil.example",
        "ann@example.org, eve@evil.example",
        "ü@example.org",
    ] {
        let mut bad = delivery(send("x", vec![]), None);
        bad.chat.chat_id = chat_id.into();
        let error = compose(&bad, "mail", &settings()).err().unwrap();
        assert_eq!(error.kind, ProviderErrorKind::Permanent, "{chat_id}");
    }
}

#[test]
fn crlf_in_subject_names_and_file_metadata_is_neutralized() {
    let context = ReplyContext {
        message_id: "m2@mail.example.org".into(),
        references: vec![],
        subject: Some("Plan\r\nBcc: eve@evil.example\r\n\r\nInjected body".into()),
        sender_name: Some("Ann\r\nBcc: eve@evil.example".into()),
    }
    .to_json();
    let op = OutboundOp::File(OutboundFile {
        filename: "a.txt\r\nBcc: eve@evil.example".into(),
        mime_type: "text/plain\r\nBcc: eve@evil.example".into(),
        data_base64: STANDARD.encode(b"x"),
        caption: None,
    });
    let buttons = vec![vec![button("Yes\r\nBcc: eve@evil.example", "h1\r\nBcc:x")]];
    for delivery in [delivery(op, Some(context.clone())), delivery(send("x", buttons), Some(context))] {
        let (composed, bytes) = formatted(&delivery);
        let text = String::from_utf8(bytes.clone()).unwrap();
        for line in text.split("\r\n") {
            assert!(!line.to_ascii_lowercase().starts_with("bcc:"), "injected header line in:\n{text}");
        }
        assert_eq!(composed.message.envelope().to().len(), 1);
        let message = MessageParser::new().parse(&bytes).unwrap();
        assert!(message.header_raw("Bcc").is_none());
        assert_eq!(message.subject(), Some("Re: Plan Bcc: eve@evil.example Injected body"));
        assert!(message.to().unwrap().first().unwrap().name().unwrap().contains("Ann"));
    }
}
