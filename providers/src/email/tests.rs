//! Tests of the email provider against the in-process SMTP server ([`super::test_smtp`]): a full
//! reply round trip, files, STARTTLS and implicit TLS, AUTH rules, pooled connections, and how
//! every kind of SMTP failure is classified. No DNS (127.0.0.1 only), no sleeps.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};

use super::test_smtp::{ReceivedMail, SmtpServerOptions, SmtpStage, TestSmtpServer};
use super::*;
use crate::{
    Button, ButtonStyle, ChatRef, InboundBody, InboundEvent, InteractionInput, InteractionVerb, OutboundFile,
    OutboundOp, ProviderErrorKind,
};

const USER: &str = "agent";
const PASSWORD: &str = "smtp-password";

fn options(credentials: bool) -> SmtpServerOptions {
    SmtpServerOptions {
        credentials: credentials.then(|| (USER.into(), PASSWORD.into())),
        ..SmtpServerOptions::default()
    }
}

/// A provider sending to `server` with `extra` settings and `password`.
fn provider_for(server: &TestSmtpServer, extra: Value, password: Option<&str>) -> EmailProvider {
    let mut settings = json!({
        "from": "Cowork Agent <agent@cowork.example.com>",
        "smtpHost": "127.0.0.1",
        "smtpPort": server.port(),
        "smtpRootCertificates": server.ca_certificate_pem(),
    });
    settings.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let settings = EmailSettings::from_json(&settings).unwrap();
    let credentials =
        EmailCredentials { inbound_secrets: vec!["relay-secret".into()], smtp_password: password.map(str::to_owned) };
    EmailProvider::new(ProviderId::new("mail"), credentials, settings, Duration::from_secs(5)).unwrap()
}

/// A provider that logs in as [`USER`] over STARTTLS.
fn authenticated(server: &TestSmtpServer) -> EmailProvider {
    provider_for(server, json!({"smtpUsername": USER}), Some(PASSWORD))
}

fn inbound(provider: &EmailProvider, sample: &str) -> InboundEvent {
    let path = format!("{}/src/email/testdata/{sample}", env!("CARGO_MANIFEST_DIR"));
    inbound_bytes(provider, "message/rfc822", std::fs::read(path).unwrap())
}

fn inbound_bytes(provider: &EmailProvider, content_type: &str, body: Vec<u8>) -> InboundEvent {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
    headers.insert(SECRET_HEADER, HeaderValue::from_static("relay-secret"));
    let request = InboundRequest { headers, body: Bytes::from(body), received_at_ms: 1_715_000_000_000 };
    provider.parse_inbound(&request).unwrap().events.remove(0)
}

fn reply_to(event: &InboundEvent, delivery_id: &str, op: OutboundOp) -> Delivery {
    Delivery {
        delivery_id: delivery_id.into(),
        chat: event.chat.clone(),
        op,
        reply_context: event.reply_context.clone(),
        trace_parent: None,
    }
}

fn send(text: &str) -> OutboundOp {
    OutboundOp::Send { text: text.into(), buttons: vec![] }
}

fn fresh(delivery_id: &str) -> Delivery {
    let chat = ChatRef { chat_id: "ann@example.org".into(), thread_id: None };
    Delivery { delivery_id: delivery_id.into(), chat, op: send("Hello"), reply_context: None, trace_parent: None }
}

fn only_message(server: &TestSmtpServer) -> ReceivedMail {
    let mut messages = server.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    messages.remove(0)
}

fn header<'a>(message: &'a mail_parser::Message<'a>, name: &str) -> Option<String> {
    let value = message.headers_raw().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)?;
    Some(value.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[tokio::test]
async fn a_reply_round_trip_threads_renders_and_answers_by_number() {
    let server = TestSmtpServer::start(options(true)).await.unwrap();
    let provider = authenticated(&server);
    let question = inbound(&provider, "gmail_reply.eml");
    let buttons = vec![vec![
        Button { label: "Archive".into(), handle: "Qw3rTy9Ui0:y".into(), style: ButtonStyle::Success },
        Button { label: "Keep".into(), handle: "Qw3rTy9Ui0:n".into(), style: ButtonStyle::Danger },
    ]];
    let op = OutboundOp::Send { text: "Archive **214 files** from Q1?".into(), buttons };
    let sent = provider.deliver(&reply_to(&question, "dlv-1", op)).await.unwrap();

    let mail = only_message(&server);
    assert!(mail.tls, "STARTTLS must protect the session");
    assert_eq!(mail.authenticated_as.as_deref(), Some(USER));
    assert_eq!(
        (mail.mail_from.as_str(), mail.rcpt_to.as_slice()),
        ("agent@cowork.example.com", &["ann.lee@example.org".to_owned()][..])
    );
    let message = MessageParser::new().parse(&mail.data).unwrap();
    assert_eq!(message.subject(), Some("Re: Q1 cleanup"));
    assert_eq!(message.message_id(), Some(sent.message_id.as_str()));
    assert!(sent.message_id.ends_with("@cowork.example.com"), "{}", sent.message_id);
    assert_eq!(header(&message, "In-Reply-To").as_deref(), Some("<CAKx1m2f9reply3=Zx@mail.example.org>"));
    assert_eq!(
        header(&message, "References").as_deref(),
        Some(
            "<CAKx1m2f0bRoot=kq@mail.example.org> <ocw.0.0b7e5d3c1a9f8e7d6c5b4a3928170615@cowork.example.com> \
             <CAKx1m2f9reply3=Zx@mail.example.org>"
        )
    );
    let plain = message.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(plain.contains("Archive **214 files** from Q1?\n\nReply with the number of your choice:\n  1. Archive  [Qw3rTy9Ui0:y]\n  2. Keep  [Qw3rTy9Ui0:n]"), "{plain}");
    let html = message.body_html(0).unwrap();
    assert!(html.contains("<strong>214 files</strong>") && html.contains("<ol>"), "{html}");

    // Ann answers "2" from her phone: the handle comes back out of our Message-ID.
    let answer = json!({
        "messageId": "answer-1@example.org", "from": "Ann Lee <ann.lee@example.org>", "subject": "Re: Q1 cleanup",
        "text": "2\n\nSent from my iPhone\n\n> Archive 214 files from Q1?",
        "inReplyTo": format!("<{}>", sent.message_id), "references": format!("<CAKx1m2f0bRoot=kq@mail.example.org> <{}>", sent.message_id),
    });
    let event = inbound_bytes(&provider, "application/json", answer.to_string().into_bytes());
    let click = InteractionInput { handle: "Qw3rTy9Ui0:n".into(), verb: InteractionVerb::Click };
    assert_eq!(event.body, InboundBody::Interaction(click));
    assert_eq!(event.chat, question.chat);
}

#[tokio::test]
async fn a_retried_delivery_reuses_its_message_id() {
    let server = TestSmtpServer::start(options(false)).await.unwrap();
    let provider = provider_for(&server, json!({}), None);
    let first = provider.deliver(&fresh("dlv-9")).await.unwrap();
    let again = provider.deliver(&fresh("dlv-9")).await.unwrap();
    assert_eq!(first.message_id, again.message_id);
    let ids: Vec<String> = server
        .messages()
        .iter()
        .map(|mail| MessageParser::new().parse(&mail.data).unwrap().message_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [first.message_id.clone(), first.message_id]);
}

#[tokio::test]
async fn files_arrive_as_attachments_and_edits_as_new_mail() {
    let server = TestSmtpServer::start(options(true)).await.unwrap();
    let provider = authenticated(&server);
    let thread = inbound(&provider, "attachment.eml");
    let file = OutboundFile {
        filename: "clause-review.md".into(),
        mime_type: "text/markdown".into(),
        data_base64: STANDARD.encode("# Review\n\nClause 7.2 is fine."),
        caption: Some("My review of the termination clause.".into()),
    };
    provider.deliver(&reply_to(&thread, "dlv-file", OutboundOp::File(file))).await.unwrap();
    let edit = OutboundOp::Edit {
        message_id: "earlier@cowork.example.com".into(),
        text: "Approved by Dana".into(),
        buttons: vec![],
    };
    provider.deliver(&reply_to(&thread, "dlv-edit", edit)).await.unwrap();

    let messages = server.messages();
    assert_eq!(messages.len(), 2);
    let with_file = MessageParser::new().parse(&messages[0].data).unwrap();
    assert_eq!(with_file.subject(), Some("Re: Contract draft"));
    let attachment = with_file.attachment(0).unwrap();
    assert_eq!(attachment.attachment_name(), Some("clause-review.md"));
    assert_eq!(attachment.contents(), b"# Review\n\nClause 7.2 is fine.");
    assert!(with_file.body_text(0).unwrap().contains("My review of the termination clause."));
    let edited = MessageParser::new().parse(&messages[1].data).unwrap();
    assert_eq!(edited.body_text(0).unwrap().trim_end(), "Approved by Dana");
    assert_eq!(header(&edited, "In-Reply-To").as_deref(), Some("<contract.1715256000.8812@example.net>"));
}

#[tokio::test]
async fn starttls_is_required_before_anything_is_sent() {
    let server = TestSmtpServer::start(SmtpServerOptions { starttls: false, auth_without_tls: true, ..options(true) })
        .await
        .unwrap();
    let provider = authenticated(&server);
    let error = provider.deliver(&fresh("dlv-1")).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unauthorized, "{error}");
    assert!(server.messages().is_empty());
    let commands = server.commands();
    assert!(commands.iter().all(|c| !c.starts_with("AUTH") && !c.starts_with("MAIL")), "{commands:?}");
}

#[tokio::test]
async fn implicit_tls_and_loopback_plaintext() {
    let tls = TestSmtpServer::start(SmtpServerOptions { implicit_tls: true, ..options(true) }).await.unwrap();
    let provider = provider_for(&tls, json!({"smtpSecurity": "tls", "smtpUsername": USER}), Some(PASSWORD));
    provider.deliver(&fresh("dlv-1")).await.unwrap();
    assert!(only_message(&tls).tls);

    let plain = TestSmtpServer::start(SmtpServerOptions { starttls: false, ..options(false) }).await.unwrap();
    let provider = provider_for(&plain, json!({"smtpSecurity": "none"}), None);
    provider.deliver(&fresh("dlv-2")).await.unwrap();
    let mail = only_message(&plain);
    assert!(!mail.tls && mail.authenticated_as.is_none());
}

#[tokio::test]
async fn no_auth_without_a_username_and_never_over_plaintext() {
    let server = TestSmtpServer::start(options(false)).await.unwrap();
    provider_for(&server, json!({}), None).deliver(&fresh("dlv-1")).await.unwrap();
    assert!(server.commands().iter().all(|c| !c.starts_with("AUTH")), "{:?}", server.commands());

    let settings = json!({"from": "agent@cowork.example.com", "smtpHost": "127.0.0.1", "smtpSecurity": "none", "smtpUsername": USER});
    assert!(EmailSettings::from_json(&settings).unwrap_err().contains("smtpUsername"));
    // Settings built in code are checked again by the constructor.
    let mut loopback = EmailSettings::from_json(
        &json!({"from": "agent@cowork.example.com", "smtpHost": "127.0.0.1", "smtpSecurity": "none"}),
    )
    .unwrap();
    loopback.smtp_username = Some(USER.into());
    let credentials = EmailCredentials { inbound_secrets: vec!["s".into()], smtp_password: Some(PASSWORD.into()) };
    let error = EmailProvider::new(ProviderId::new("mail"), credentials, loopback, Duration::from_secs(1)).unwrap_err();
    assert!(error.contains("smtpUsername"), "{error}");
    let missing_password = EmailCredentials { inbound_secrets: vec!["s".into()], smtp_password: None };
    let settings = EmailSettings::from_json(
        &json!({"from": "agent@cowork.example.com", "smtpHost": "smtp.example.com", "smtpUsername": USER}),
    )
    .unwrap();
    let error =
        EmailProvider::new(ProviderId::new("mail"), missing_password, settings, Duration::from_secs(1)).unwrap_err();
    assert!(error.contains("smtpPassword"), "{error}");
}

#[tokio::test]
async fn pooled_connections_are_reused() {
    let server = TestSmtpServer::start(options(true)).await.unwrap();
    let provider = authenticated(&server);
    provider.deliver(&fresh("dlv-1")).await.unwrap();
    // lettre parks the used connection from a spawned task; on this current-thread runtime one
    // yield runs that task before we continue.
    tokio::task::yield_now().await;
    provider.deliver(&fresh("dlv-2")).await.unwrap();
    assert_eq!(server.messages().len(), 2);
    assert_eq!(server.connections(), 1, "{:?}", server.commands());
    assert_eq!(server.commands().iter().filter(|c| c.starts_with("AUTH")).count(), 1);
}

#[tokio::test]
async fn smtp_failures_are_classified() {
    let server = TestSmtpServer::start(options(true)).await.unwrap();
    let provider = authenticated(&server);
    let cases = [
        (SmtpStage::Greeting, 421, "4.3.2 service shutting down", ProviderErrorKind::Transient),
        (SmtpStage::RcptTo, 451, "4.3.0 try again later", ProviderErrorKind::Transient),
        (SmtpStage::Message, 452, "4.3.1 insufficient storage", ProviderErrorKind::Transient),
        (SmtpStage::MailFrom, 550, "5.7.1 sender rejected", ProviderErrorKind::Permanent),
        (SmtpStage::RcptTo, 550, "5.1.1 user unknown", ProviderErrorKind::Permanent),
        (SmtpStage::Data, 554, "5.6.0 content rejected", ProviderErrorKind::Permanent),
        (SmtpStage::Auth, 535, "5.7.8 authentication credentials invalid", ProviderErrorKind::Unauthorized),
        (SmtpStage::Auth, 454, "4.7.0 temporary authentication failure", ProviderErrorKind::Transient),
    ];
    for (index, (stage, code, text, kind)) in cases.into_iter().enumerate() {
        server.fail_next(stage, code, text);
        let error = provider.deliver(&fresh(&format!("dlv-{index}"))).await.unwrap_err();
        assert_eq!(error.kind, kind, "{stage:?} {code}: {error}");
        assert!(error.message.contains(&code.to_string()), "{}", error.message);
    }
    assert!(server.messages().is_empty());
    provider.deliver(&fresh("dlv-ok")).await.unwrap();
    assert_eq!(server.messages().len(), 1);

    let wrong_password = provider_for(&server, json!({"smtpUsername": USER}), Some("wrong"));
    assert_eq!(wrong_password.deliver(&fresh("dlv-x")).await.unwrap_err().kind, ProviderErrorKind::Unauthorized);
}

#[tokio::test]
async fn unreachable_and_untrusted_servers_are_transient() {
    let server = TestSmtpServer::start(options(false)).await.unwrap();
    let mut untrusted = json!({"smtpPort": server.port()});
    untrusted["smtpRootCertificates"] = Value::Null;
    let provider = provider_for(&server, untrusted, None);
    let error = provider.deliver(&fresh("dlv-1")).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Transient, "{error}");
    assert!(server.messages().is_empty());

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let refused = provider_for(&server, json!({"smtpPort": port}), None);
    assert_eq!(refused.deliver(&fresh("dlv-2")).await.unwrap_err().kind, ProviderErrorKind::Transient);
}

#[tokio::test]
async fn a_server_that_stops_answering_times_out_and_its_pool_is_discarded() {
    let server = TestSmtpServer::start(options(false)).await.unwrap();
    let settings = json!({"from": "agent@cowork.example.com", "smtpHost": "127.0.0.1", "smtpPort": server.port(),
        "smtpRootCertificates": server.ca_certificate_pem()});
    let settings = EmailSettings::from_json(&settings).unwrap();
    let credentials = EmailCredentials { inbound_secrets: vec!["s".into()], smtp_password: None };
    let provider =
        EmailProvider::new(ProviderId::new("mail"), credentials, settings, Duration::from_millis(300)).unwrap();
    provider.deliver(&fresh("dlv-1")).await.unwrap();
    tokio::task::yield_now().await;
    // The content is sent, the final reply never comes: the connection is mid-command.
    server.stall_next(SmtpStage::Message);
    let error = provider.deliver(&fresh("dlv-2")).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Transient, "{error}");
    assert!(error.message.contains("300 ms"), "{}", error.message);
    provider.deliver(&fresh("dlv-3")).await.unwrap();
    assert_eq!(server.messages().len(), 2);
    assert_eq!(server.connections(), 2, "the stalled connection must not be reused: {:?}", server.commands());
}

#[tokio::test]
async fn debug_output_never_shows_secrets() {
    let server = TestSmtpServer::start(options(true)).await.unwrap();
    let provider = authenticated(&server);
    let printed = format!("{provider:?}");
    assert!(!printed.contains(PASSWORD) && !printed.contains("relay-secret"), "{printed}");
    assert_eq!(provider.capabilities().max_file_bytes, DEFAULT_MAX_ATTACHMENT_BYTES);
    assert!(provider.capabilities().needs_reply_context && !provider.capabilities().message_editing);
    assert_eq!(provider.kind(), ProviderKind::Email);
}
