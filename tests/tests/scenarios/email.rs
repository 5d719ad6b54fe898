//! Email end to end: relayed mail (raw RFC 5322) in, threaded replies out over STARTTLS to a real
//! SMTP server; approvals answered by replying with a number; loops and redeliveries never
//! prompting twice; bad requests refused with the right status.

use std::time::Duration;

use cowork_e2e::{DEADLINE, DatabaseBackend, EMAIL_FROM, EMAIL_SECRET, TestGateway, scenarios};
use cowork_providers::email::test_smtp::{ReceivedMail, SmtpServerOptions, TestSmtpServer};
use mail_parser::{HeaderValue, Message, MessageParser};

scenarios!(
    a_mail_gets_one_threaded_reply_and_the_thread_continues,
    approvals_are_answered_by_replying_with_the_number,
    redeliveries_and_auto_replies_never_prompt,
    bad_mail_requests_are_refused_with_the_right_status
);

/// A plain-text mail from Ada.
fn mail(message_id: &str, subject: &str, body: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "From: Ada Lovelace <ada@client.test>\r\nTo: {EMAIL_FROM}\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n{extra_headers}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Waits for `count` mails at the SMTP server and parses them.
async fn mails(smtp: &TestSmtpServer, count: usize) -> Vec<ReceivedMail> {
    let got = smtp.wait_for_messages(count, DEADLINE).await;
    assert!(got.len() >= count, "expected {count} mails, got {}: {got:#?}", got.len());
    got
}

fn parse(mail: &ReceivedMail) -> Message<'_> {
    MessageParser::default().parse(&mail.data).expect("a parsable mail")
}

fn header_ids(message: &Message<'_>, name: &str) -> Vec<String> {
    match message.header(name) {
        Some(HeaderValue::Text(id)) => vec![id.to_string()],
        Some(HeaderValue::TextList(ids)) => ids.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    }
}

fn plain(message: &Message<'_>) -> String {
    message.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
}

/// Waits until the gateway has nothing left to send, so "no further mail" can be asserted.
async fn settle(gw: &TestGateway) {
    let start = std::time::Instant::now();
    loop {
        let open = gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state <> 'sent'").await
            + gw.count("SELECT COUNT(*) FROM gw_inbox WHERE state <> 'done'").await
            + gw.count("SELECT COUNT(*) FROM cloud_commands WHERE state <> 'done'").await;
        if open == 0 {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "the gateway never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_mail_gets_one_threaded_reply_and_the_thread_continues(backend: DatabaseBackend) {
    let smtp = TestSmtpServer::start(SmtpServerOptions::default()).await.expect("smtp server");
    let Some(gw) = TestGateway::builder(backend).email(&smtp).start().await else { return };
    let first = mail("m1@client.test", "Launch plan", "Could you summarise the launch plan?", "");
    assert_eq!(gw.post_email(&first, Some(EMAIL_SECRET)).await.0, 202);
    let sent = mails(&smtp, 1).await;
    settle(&gw).await;
    assert_eq!(smtp.messages().len(), 1, "one mail per finished reply, not one per streamed delta");
    let reply = &sent[0];
    assert!(reply.tls, "STARTTLS is used");
    assert_eq!(reply.rcpt_to, ["ada@client.test"]);
    let parsed = parse(reply);
    assert_eq!(parsed.subject(), Some("Re: Launch plan"));
    assert_eq!(header_ids(&parsed, "In-Reply-To"), ["m1@client.test"]);
    assert_eq!(header_ids(&parsed, "References"), ["m1@client.test"]);
    let reply_id = parsed.message_id().expect("a Message-ID").to_owned();
    assert!(reply_id.ends_with("@gateway.test"), "{reply_id}");
    let text = plain(&parsed);
    assert!(text.contains("You said: \"Subject: Launch plan Could you summarise the launch plan?\""), "{text}");
    assert!(parsed.body_html(0).is_some(), "an HTML alternative is included");

    // Ada answers the reply, quoting it; the quote never reaches the agent, the thread goes on.
    let quoted =
        format!("And the budget?\r\n\r\nOn Fri, 27 Nov 2026, Agent wrote:\r\n> {}", text.lines().next().unwrap());
    let headers = format!("In-Reply-To: <{reply_id}>\r\nReferences: <m1@client.test> <{reply_id}>\r\n");
    let second = mail("m2@client.test", "Re: Launch plan", &quoted, &headers);
    assert_eq!(gw.post_email(&second, Some(EMAIL_SECRET)).await.0, 202);
    let sent = mails(&smtp, 2).await;
    let parsed = parse(&sent[1]);
    assert_eq!(parsed.subject(), Some("Re: Launch plan"), "no stacked Re:");
    assert_eq!(header_ids(&parsed, "In-Reply-To"), ["m2@client.test"]);
    assert_eq!(header_ids(&parsed, "References"), ["m1@client.test", reply_id.as_str(), "m2@client.test"]);
    assert!(plain(&parsed).contains("You said: \"And the budget?\""), "{}", plain(&parsed));
    assert_eq!(gw.count("SELECT COUNT(*) FROM cloud_sessions").await, 1, "both mails are one session");
    gw.stop().await;
}

async fn approvals_are_answered_by_replying_with_the_number(backend: DatabaseBackend) {
    let smtp = TestSmtpServer::start(SmtpServerOptions::default()).await.expect("smtp server");
    let Some(gw) = TestGateway::builder(backend).email(&smtp).start().await else { return };
    let ask = mail("d1@client.test", "Release", "Please deploy the site.", "");
    assert_eq!(gw.post_email(&ask, Some(EMAIL_SECRET)).await.0, 202);
    // One mail: the turn's text and the approval that follows it.
    let sent = mails(&smtp, 1).await;
    let approval = sent.iter().map(parse).find(|m| plain(m).contains("1. Approve")).expect("the approval mail");
    let text = plain(&approval);
    assert!(text.contains("2. Deny"), "{text}");
    assert!(text.starts_with("You said:") && text.contains("I need your approval."), "{text}");
    // The turn waits for the answer now: once that mail is recorded as sent, nothing else is
    // on its way.
    let start = std::time::Instant::now();
    while gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state <> 'sent'").await > 0 {
        assert!(start.elapsed() < DEADLINE, "the approval mail was never recorded as sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(smtp.messages().len(), 1, "the text and the approval are one mail");
    let approval_id = approval.message_id().expect("a Message-ID").to_owned();

    let answer = format!("1\r\n\r\nOn Fri, Agent wrote:\r\n> {}", text.lines().next().unwrap_or_default());
    let headers = format!("In-Reply-To: <{approval_id}>\r\nReferences: <d1@client.test> <{approval_id}>\r\n");
    let reply = mail("d2@client.test", "Re: Release", &answer, &headers);
    assert_eq!(gw.post_email(&reply, Some(EMAIL_SECRET)).await.0, 202);
    let start = std::time::Instant::now();
    loop {
        let texts: Vec<String> = smtp.messages().iter().map(|m| plain(&parse(m))).collect();
        // The decision is a short line, not the question again.
        let decided = texts.iter().any(|t| t.trim() == "Approved by Ada Lovelace.");
        if decided && texts.iter().any(|t| t.starts_with("Approved")) {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "no decision and follow-up: {texts:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gw.count("SELECT COUNT(*) FROM cloud_commands WHERE kind = 'permission.respond'").await, 1);
    gw.stop().await;
}

async fn redeliveries_and_auto_replies_never_prompt(backend: DatabaseBackend) {
    let smtp = TestSmtpServer::start(SmtpServerOptions::default()).await.expect("smtp server");
    let Some(gw) = TestGateway::builder(backend).email(&smtp).admin_token("e2e-admin").start().await else { return };
    let hello = mail("r1@client.test", "Hello", "Hello there", "");
    assert_eq!(gw.post_email(&hello, Some(EMAIL_SECRET)).await.0, 202);
    let (status, body) = gw.post_email(&hello, Some(EMAIL_SECRET)).await;
    assert_eq!((status, body["duplicate"].as_bool()), (202, Some(true)), "a relay's redelivery is a no-op");

    let out_of_office = mail("r2@client.test", "Out of office", "I am away.", "Auto-Submitted: auto-replied\r\n");
    let bounce = b"From: MAILER-DAEMON@client.test\r\nTo: agent@gateway.test\r\nSubject: Undelivered Mail\r\n\
        Message-ID: <r3@client.test>\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        .to_vec();
    let own = b"From: Agent <agent@gateway.test>\r\nTo: agent@gateway.test\r\nSubject: Loop\r\n\
        Message-ID: <r4@client.test>\r\nContent-Type: text/plain\r\n\r\nEcho.\r\n"
        .to_vec();
    let list = mail("r5@client.test", "Digest", "News", "Precedence: list\r\n");
    for ignored in [&out_of_office, &bounce, &own, &list] {
        assert_eq!(gw.post_email(ignored, Some(EMAIL_SECRET)).await.0, 202, "recorded, acknowledged");
    }
    mails(&smtp, 1).await;
    settle(&gw).await;
    assert_eq!(smtp.messages().len(), 1, "only the real mail got a reply");
    assert_eq!(gw.count("SELECT COUNT(*) FROM cloud_commands").await, 1, "only the real mail prompted");
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_inbox").await, 5, "ignored mail is recorded");
    let (_, _, metrics) = gw.admin_text("/metrics").await;
    for reason in ["auto_submitted", "mailer_daemon", "own_address", "precedence_bulk"] {
        let series = format!("open_cowork_gateway_inbound_ignored_total{{provider=\"email\",reason=\"{reason}\"}} 1");
        assert!(metrics.contains(&series), "{series} missing from:\n{metrics}");
    }
    gw.stop().await;
}

async fn bad_mail_requests_are_refused_with_the_right_status(backend: DatabaseBackend) {
    let smtp = TestSmtpServer::start(SmtpServerOptions::default()).await.expect("smtp server");
    let Some(gw) = TestGateway::builder(backend).email(&smtp).start().await else { return };
    let good = mail("b1@client.test", "Hi", "Hi", "");
    assert_eq!(gw.post_email(&good, None).await.0, 401, "no secret");
    assert_eq!(gw.post_email(&good, Some("not-the-secret")).await.0, 401, "wrong secret");
    let no_id = b"From: ada@client.test\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\nhi\r\n".to_vec();
    assert_eq!(gw.post_email(&no_id, Some(EMAIL_SECRET)).await.0, 400, "no Message-ID");
    assert_eq!(gw.post_email(b"\x00\x01 not mail", Some(EMAIL_SECRET)).await.0, 400, "not a mail");
    let big = "A".repeat(8 * 1024);
    let attachment = format!(
        "From: ada@client.test\r\nTo: {EMAIL_FROM}\r\nSubject: Big\r\nMessage-ID: <b2@client.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
         --XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
         --XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--XX--\r\n",
        base64_lines(big.as_bytes())
    );
    assert_eq!(gw.post_email(attachment.as_bytes(), Some(EMAIL_SECRET)).await.0, 413, "attachment over the limit");
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_inbox").await, 0, "nothing refused was stored");
    gw.stop().await;
}

fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    encoded.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\r\n")
}
