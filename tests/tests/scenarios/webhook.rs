//! The generic webhook provider end to end: signed ingress, signed outbound deliveries to an
//! integrator on loopback, replay protection across the durable inbox, and hostile input.

use std::time::{Duration, Instant};

use cowork_cloud::runtime::DemoRuntime;
use cowork_e2e::{DatabaseBackend, TestGateway, WEBHOOK_SECRET, WebhookReceiver, scenarios, webhook_headers};
use serde_json::{Value, json};

scenarios!(
    files_are_delivered_inline,
    signed_message_is_answered_with_signed_deliveries,
    replays_and_redeliveries_are_told_apart,
    hostile_requests_get_4xx_and_store_nothing,
    repeated_auth_failures_back_the_source_off
);

fn payload(id: &str, chat: &str, text: &str) -> Vec<u8> {
    json!({"id": id, "target": {"chatId": chat}, "sender": {"userId": "u1", "displayName": "Ada"}, "text": text})
        .to_string()
        .into_bytes()
}

async fn wait_received(receiver: &WebhookReceiver, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let bodies: Vec<Value> = receiver.received().into_iter().map(|r| r.json).collect();
        if done(&bodies) {
            return bodies;
        }
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "timed out waiting for {what}: {bodies:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn signed_message_is_answered_with_signed_deliveries(backend: DatabaseBackend) {
    let receiver = WebhookReceiver::start().await;
    let Some(gw) = TestGateway::builder(backend).webhook(&receiver.url).start().await else { return };
    let (status, body) = gw.post_signed(&payload("w1", "room-1", "hello bridge"), gw.now_secs(), &[]).await;
    assert_eq!((status, body), (202, json!({"ok": true})));
    let expected = DemoRuntime::final_reply("hello bridge");
    let bodies = wait_received(&receiver, "the final edit", |b| b.iter().any(|x| x["text"] == expected.as_str())).await;
    assert_eq!(bodies[0]["type"], "text");
    assert_eq!(bodies[0]["target"]["chatId"], "room-1");
    assert!(bodies[1..].iter().all(|b| b["type"] == "edit" && b["messageId"] == "bridge-1"), "{bodies:#?}");
    for delivery in receiver.received() {
        let headers = &delivery.headers;
        let id = headers["x-open-cowork-gateway-delivery-id"].to_str().unwrap();
        assert_eq!(headers["idempotency-key"].to_str().unwrap(), id);
        assert_eq!(delivery.json["deliveryId"], id);
        let ts = headers["x-open-cowork-gateway-webhook-timestamp"].to_str().unwrap();
        let signature = headers["x-open-cowork-gateway-webhook-signature"].to_str().unwrap();
        let verified = cowork_providers::signature::verify(&[WEBHOOK_SECRET], "v1", ts, &delivery.body, signature);
        assert!(verified.is_ok(), "outbound signature verifies");
        assert!(!String::from_utf8_lossy(&delivery.body).contains(WEBHOOK_SECRET), "the secret is never sent");
    }
    gw.stop().await;
}

async fn replays_and_redeliveries_are_told_apart(backend: DatabaseBackend) {
    let receiver = WebhookReceiver::start().await;
    let Some(gw) = TestGateway::builder(backend).webhook(&receiver.url).start().await else { return };
    let ts = gw.now_secs();
    let body = payload("r1", "room-r", "once");
    assert_eq!(gw.post_signed(&body, ts, &[]).await.0, 202);
    let (status, again) = gw.post_signed(&body, ts, &[]).await;
    assert_eq!((status, again), (202, json!({"ok": true, "duplicate": true})), "a redelivery is a 2xx no-op");

    // Without an id every request gets a fresh event id: the same signed bytes are a replay.
    let anonymous = json!({"target": {"chatId": "room-r"}, "sender": {"userId": "u1"}, "text": "no id"}).to_string();
    assert_eq!(gw.post_signed(anonymous.as_bytes(), ts, &[]).await.0, 202);
    let (status, replay) = gw.post_signed(anonymous.as_bytes(), ts, &[]).await;
    assert_eq!((status, replay["error"].as_str()), (401, Some("replayed")));
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_inbox WHERE binding_id = 'webhook-binding'").await, 2);
    gw.stop().await;
}

async fn hostile_requests_get_4xx_and_store_nothing(backend: DatabaseBackend) {
    let receiver = WebhookReceiver::start().await;
    let Some(gw) = TestGateway::builder(backend).webhook(&receiver.url).start().await else { return };
    let now = gw.now_secs();
    let good = payload("h1", "room-h", "hi");
    let url = format!("{}/webhooks/webhook", gw.base);
    // Authentication failures: 401.
    let unsigned = gw.http.post(&url).body(good.clone()).send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    for (ts, signature) in [
        ("not-a-number".to_owned(), None),
        ((now - 301).to_string(), None),
        ((now + 301).to_string(), None),
        (now.to_string(), Some("v1=deadbeef".to_owned())),
        (now.to_string(), Some("v0=".to_owned() + &"0".repeat(64))),
    ] {
        let signature =
            signature.unwrap_or_else(|| webhook_headers(WEBHOOK_SECRET, ts.parse().unwrap_or(0), &good)[1].1.clone());
        let response = gw
            .http
            .post(&url)
            .header("x-open-cowork-gateway-webhook-timestamp", &ts)
            .header("x-open-cowork-gateway-webhook-signature", signature)
            .body(good.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "ts {ts}");
    }
    // Correctly signed but malformed: 400 (never 5xx); too large: 413.
    let long = "x".repeat(600);
    let attachments: Vec<Value> = (0..21).map(|i| json!({"filename": format!("f{i}.txt")})).collect();
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"{not json".to_vec(), 400),
        (json!({"id": "h2", "target": {"chatId": 5}, "sender": {"userId": "u"}, "text": "x"}).to_string().into_bytes(), 400),
        (json!({"id": "h3", "target": {"chatId": long}, "sender": {"userId": "u"}, "text": "x"}).to_string().into_bytes(), 400),
        (json!({"id": "h4", "target": {"chatId": "a\u{1}b"}, "sender": {"userId": "u"}, "text": "x"}).to_string().into_bytes(), 400),
        (json!({"id": "h5", "target": {"chatId": "c"}, "sender": {"userId": "u"}, "text": "x", "attachments": attachments}).to_string().into_bytes(), 400),
        (json!({"id": "h6", "target": {"chatId": "c"}, "sender": {"userId": "u"}, "text": "x",
                "attachments": [{"filename": "a.txt", "sizeBytes": 3, "bufferBase64": "aGVsbG8="}]}).to_string().into_bytes(), 400),
        (json!({"id": "h7", "target": {"chatId": "c"}, "sender": {"userId": "u"}, "text": "x",
                "attachments": [{"filename": "a.bin", "bufferBase64": "A".repeat(8000)}]}).to_string().into_bytes(), 413),
        (json!({"id": "h8", "target": {"chatId": "c"}}).to_string().into_bytes(), 400),
    ];
    for (body, expected) in cases {
        let (status, answer) = gw.post_signed(&body, now, &[]).await;
        assert_eq!(
            status,
            expected,
            "{}: {answer}",
            String::from_utf8_lossy(&body).chars().take(80).collect::<String>()
        );
        assert_eq!(answer["ok"], false);
    }
    let (status, _) = gw.post("/webhooks/webhook", "application/json", vec![b'x'; 2 * 1024 * 1024]).await;
    assert_eq!(status, 413);
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_inbox").await, 0, "nothing stored");
    assert_eq!(gw.post_signed(&good, now, &[]).await.0, 202, "still serving");
    gw.stop().await;
}

async fn repeated_auth_failures_back_the_source_off(backend: DatabaseBackend) {
    let receiver = WebhookReceiver::start().await;
    let Some(gw) = TestGateway::builder(backend).webhook(&receiver.url).start().await else { return };
    let url = format!("{}/webhooks/webhook", gw.base);
    for _ in 0..20 {
        let response = gw.http.post(&url).body("{}").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
    }
    let blocked = gw.http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(blocked.status().as_u16(), 429);
    assert!(blocked.headers().contains_key("retry-after"));
    let body: Value = blocked.json().await.unwrap();
    assert_eq!(body["error"], "auth_backoff");
    // Even a correct request from that source waits out the block.
    assert_eq!(gw.post_signed(&payload("ok", "c", "hi"), gw.now_secs(), &[]).await.0, 429);
    gw.stop().await;
}

async fn files_are_delivered_inline(backend: DatabaseBackend) {
    use base64::Engine;
    let receiver = WebhookReceiver::start().await;
    let Some(gw) = TestGateway::builder(backend).webhook(&receiver.url).start().await else { return };
    assert_eq!(gw.post_signed(&payload("wf1", "room-f", "a report please"), gw.now_secs(), &[]).await.0, 202);
    let bodies = wait_received(&receiver, "the file", |b| b.iter().any(|x| x["type"] == "file")).await;
    let file = bodies.iter().find(|b| b["type"] == "file").unwrap();
    assert_eq!(file["file"]["filename"], "demo-report.md");
    assert_eq!(file["file"]["mimeType"], "text/markdown");
    let data = base64::engine::general_purpose::STANDARD.decode(file["file"]["dataBase64"].as_str().unwrap()).unwrap();
    assert!(String::from_utf8(data).unwrap().starts_with("# Demo report"));
    gw.stop().await;
}
