//! Tests of the webhook provider as a whole: construction, signed ingress through
//! `parse_inbound`, and deliveries to a real HTTP receiver on 127.0.0.1 through the egress
//! policy (a static resolver; no DNS, no sleeps).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::egress::StaticResolver;
use crate::{Button, ButtonStyle, ChatRef, InboundBody, OutboundOp, ProviderErrorKind, signature};

const SECRETS: [&str; 2] = ["first-secret", "second-secret"];
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn egress() -> Egress {
    let resolver = StaticResolver::new([("hooks.test", vec![LOCALHOST])]);
    Egress::new(Arc::new(resolver), Duration::from_secs(5))
}

fn provider_for(url: &str, allow_private: bool) -> WebhookProvider {
    let settings = WebhookSettings::from_json(&json!({"deliveryUrl": url, "allowPrivateDelivery": allow_private}))
        .expect("settings");
    let secrets = SECRETS.iter().map(|s| s.to_string()).collect();
    WebhookProvider::new(ProviderId::new("webhook-test"), secrets, settings, egress()).expect("provider")
}

/// What the receiver saw: path, headers, body.
type Seen = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

/// The receiver: the path's first segment picks the answer.
async fn receiver(State(seen): State<Seen>, Path(path): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    seen.lock().unwrap().push((path.clone(), headers, body));
    let retry = |value: &'static str| [(http::header::RETRY_AFTER, HeaderValue::from_static(value))];
    match path.as_str() {
        "ok" => (StatusCode::OK, r#"{"messageId":"m-42"}"#).into_response(),
        "empty" => StatusCode::NO_CONTENT.into_response(),
        "plain" => (StatusCode::OK, "OK").into_response(),
        "exactly-cap" => (StatusCode::OK, "x".repeat(MAX_RESPONSE_BYTES)).into_response(),
        "busy" => (StatusCode::TOO_MANY_REQUESTS, retry("17")).into_response(),
        "busy-no-hint" => StatusCode::TOO_MANY_REQUESTS.into_response(),
        "fail" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "unavailable" => (StatusCode::SERVICE_UNAVAILABLE, retry("5")).into_response(),
        "auth" => StatusCode::UNAUTHORIZED.into_response(),
        "forbidden" => StatusCode::FORBIDDEN.into_response(),
        "redirect" => (StatusCode::FOUND, [(http::header::LOCATION, "http://127.0.0.1:9/")]).into_response(),
        "big" => (StatusCode::OK, "x".repeat(MAX_RESPONSE_BYTES + 1)).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts the receiver on 127.0.0.1; returns its address and what it saw.
async fn serve() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let app = Router::new().route("/{*path}", axum::routing::post(receiver)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

fn delivery(op: OutboundOp) -> Delivery {
    Delivery {
        delivery_id: "dlv-1".into(),
        chat: ChatRef { chat_id: "c-1".into(), thread_id: Some("t-1".into()) },
        op,
        reply_context: None,
        trace_parent: None,
    }
}

fn send(text: &str) -> Delivery {
    delivery(OutboundOp::Send { text: text.into(), buttons: vec![] })
}

fn button(label: &str, handle: &str, style: ButtonStyle) -> Button {
    Button { label: label.into(), handle: handle.into(), style }
}

async fn deliver_to(path: &str, delivery: &Delivery) -> (Result<SentMessage, ProviderError>, Seen) {
    let (addr, seen) = serve().await;
    let provider = provider_for(&format!("http://{addr}/{path}"), true);
    (provider.deliver(delivery).await, seen)
}

fn only_body(seen: &Seen) -> Value {
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "exactly one request");
    serde_json::from_slice(&seen[0].2).unwrap()
}

#[test]
fn construction_validates_secrets_and_reports_kind_and_capabilities() {
    let settings = WebhookSettings::from_json(&json!({"deliveryUrl": "https://hooks.example.com/in"})).unwrap();
    let id = ProviderId::new("webhook");
    let error = WebhookProvider::new(id.clone(), vec![], settings.clone(), egress()).unwrap_err();
    assert!(error.contains("sharedSecret"), "{error}");
    let error = WebhookProvider::new(id.clone(), vec!["a\u{0}".into()], settings.clone(), egress()).unwrap_err();
    assert!(error.contains("sharedSecret[0]"), "{error}");
    let bad = WebhookSettings { max_attachment_bytes: 0, ..settings.clone() };
    let error = WebhookProvider::new(id.clone(), vec!["s".into()], bad, egress()).unwrap_err();
    assert!(error.contains("maxAttachmentBytes"), "{error}");
    let provider = WebhookProvider::new(id, vec!["top-secret".into()], settings, egress()).unwrap();
    assert_eq!(provider.kind(), ProviderKind::Webhook);
    let caps = provider.capabilities();
    assert!(caps.message_editing && caps.inline_buttons);
    assert_eq!((caps.max_buttons_per_message, caps.max_text_length), (8, 4096));
    assert!(!format!("{provider:?}").contains("top-secret"));
}

fn signed_request(secret: &str, body: &[u8], ts: i64, received_at_ms: i64) -> InboundRequest {
    let mut headers = HeaderMap::new();
    let ts = ts.to_string();
    headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(&ts).unwrap());
    let signature = signature::signature_header(secret.as_bytes(), "v1", &ts, body);
    headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).unwrap());
    InboundRequest { headers, body: Bytes::copy_from_slice(body), received_at_ms }
}

#[test]
fn signed_ingress_parses_with_its_replay_key_under_either_secret() {
    let provider = provider_for("https://hooks.example.com/in", false);
    let body = br#"{"id":"e-1","target":{"chatId":"c"},"sender":{"userId":"u","displayName":"Ann"},"text":"hi"}"#;
    let anonymous = br#"{"target":{"chatId":"c"},"sender":{"userId":"u"},"text":"hi"}"#;
    for secret in SECRETS {
        let verified = provider.parse_inbound(&signed_request(secret, body, 1_700_000_000, 1_700_000_000_000)).unwrap();
        assert_eq!(verified.replay_key, None, "the sender's own event id already makes a replay a no-op");
        let without_id =
            provider.parse_inbound(&signed_request(secret, anonymous, 1_700_000_000, 1_700_000_000_000)).unwrap();
        let hex = signature::sign_hex(secret.as_bytes(), "v1", "1700000000", anonymous);
        assert_eq!(without_id.replay_key, Some(format!("1700000000:{hex}")));
        assert_eq!(verified.immediate_reply, None);
        let [event] = verified.events.as_slice() else { panic!("one event") };
        assert_eq!(event.provider_event_id, "e-1");
        assert_eq!(event.sender.display_name.as_deref(), Some("Ann"));
        assert_eq!(event.body, InboundBody::Message { text: "hi".into() });
    }
}

#[test]
fn authentication_comes_before_the_schema() {
    let provider = provider_for("https://hooks.example.com/in", false);
    let unsigned = InboundRequest { headers: HeaderMap::new(), body: Bytes::from_static(b"nope"), received_at_ms: 0 };
    assert!(matches!(provider.parse_inbound(&unsigned), Err(InboundError::Unauthorized("missing timestamp"))));
    let wrong = signed_request("intruder", b"nope", 1_700_000_000, 1_700_000_000_000);
    assert!(matches!(provider.parse_inbound(&wrong), Err(InboundError::Unauthorized("signature mismatch"))));
    let stale = signed_request(SECRETS[0], b"nope", 1_700_000_000, 1_700_000_301_000);
    assert!(matches!(provider.parse_inbound(&stale), Err(InboundError::Unauthorized("timestamp expired"))));
    let malformed = signed_request(SECRETS[0], b"nope", 1_700_000_000, 1_700_000_000_000);
    assert!(matches!(provider.parse_inbound(&malformed), Err(InboundError::BadPayload(_))));
}

#[test]
fn attachment_limit_comes_from_the_settings() {
    let settings = json!({"deliveryUrl": "https://hooks.example.com/in", "maxAttachmentBytes": 4});
    let settings = WebhookSettings::from_json(&settings).unwrap();
    let provider = WebhookProvider::new(ProviderId::new("webhook"), vec!["s".into()], settings, egress()).unwrap();
    let body = br#"{"target":{"chatId":"c"},"sender":{"userId":"u"},"text":"x","attachments":[{"filename":"a","sizeBytes":5}]}"#;
    let request = signed_request("s", body, 1_700_000_000, 1_700_000_000_000);
    assert!(matches!(provider.parse_inbound(&request), Err(InboundError::TooLarge(_))));
}

#[tokio::test]
async fn text_delivery_is_signed_and_shaped_as_open_cowork() {
    let (result, seen) = deliver_to("ok", &send("hello")).await;
    assert_eq!(result.unwrap(), SentMessage { message_id: "m-42".into() });
    let seen = seen.lock().unwrap();
    let (path, headers, body) = &seen[0];
    assert_eq!(path, "ok");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers[DELIVERY_ID_HEADER], "dlv-1");
    assert_eq!(headers[IDEMPOTENCY_KEY_HEADER], "dlv-1");
    let ts = headers[TIMESTAMP_HEADER].to_str().unwrap();
    let now_ms = i64::try_from(now_unix_secs()).unwrap() * 1000;
    signature::check_timestamp(ts, now_ms, 300).unwrap();
    let presented = headers[SIGNATURE_HEADER].to_str().unwrap();
    assert!(presented.starts_with("v1=") && presented.len() == 67);
    signature::verify(&[SECRETS[0]], "v1", ts, body, presented).unwrap();
    assert!(signature::verify(&[SECRETS[1]], "v1", ts, body, presented).is_err(), "signed with the first secret");
    for (_, value) in headers {
        assert!(!SECRETS.iter().any(|s| value.as_bytes().windows(s.len()).any(|w| w == s.as_bytes())));
    }
    let body: Value = serde_json::from_slice(body).unwrap();
    let expected = json!({
        "deliveryId": "dlv-1", "idempotencyKey": "dlv-1", "provider": "webhook-test",
        "providerInstanceId": "webhook-test", "providerKind": "webhook", "type": "text",
        "target": {"provider": "webhook-test", "providerKind": "webhook", "chatId": "c-1", "threadId": "t-1"},
        "text": "hello", "options": {}
    });
    assert_eq!(body, expected);
}

#[tokio::test]
async fn buttons_and_edits_have_their_body_shapes() {
    let rows = vec![
        vec![button("Approve", "h1:y", ButtonStyle::Success), button("Deny", "h1:n", ButtonStyle::Danger)],
        vec![button("Later", "h1:l", ButtonStyle::Default)],
    ];
    let (result, seen) = deliver_to("ok", &delivery(OutboundOp::Send { text: "ok?".into(), buttons: rows })).await;
    assert!(result.is_ok());
    let body = only_body(&seen);
    assert_eq!(body["type"], "buttons");
    assert_eq!(body["text"], "ok?");
    let expected = json!([
        [{"label": "Approve", "token": "h1:y", "style": "success"}, {"label": "Deny", "token": "h1:n", "style": "danger"}],
        [{"label": "Later", "token": "h1:l", "style": "default"}]
    ]);
    assert_eq!(body["buttons"], expected);

    let edit = OutboundOp::Edit { message_id: "m-42".into(), text: "done".into(), buttons: vec![] };
    let (result, seen) = deliver_to("ok", &delivery(edit)).await;
    assert!(result.is_ok());
    let body = only_body(&seen);
    assert_eq!((&body["type"], &body["messageId"], &body["text"]), (&json!("edit"), &json!("m-42"), &json!("done")));
    assert_eq!(body["target"]["chatId"], "c-1");
    assert!(body.get("buttons").is_none());
}

#[tokio::test]
async fn invalid_buttons_are_refused_before_sending() {
    let nine = vec![(0..9).map(|i| button("b", &format!("h{i}"), ButtonStyle::Default)).collect()];
    let long = vec![vec![button("b", &"h".repeat(65), ButtonStyle::Default)]];
    let blank = vec![vec![button(" ", "h", ButtonStyle::Default)]];
    for buttons in [nine, long, blank] {
        let (result, seen) = deliver_to("ok", &delivery(OutboundOp::Send { text: "x".into(), buttons })).await;
        assert_eq!(result.unwrap_err().kind, ProviderErrorKind::Permanent);
        assert!(seen.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn answers_without_a_usable_message_id_keep_the_delivery_id() {
    for path in ["empty", "plain", "exactly-cap"] {
        let (result, _) = deliver_to(path, &send("x")).await;
        assert_eq!(result.unwrap().message_id, "dlv-1", "{path}");
    }
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_transient_with_retry_after() {
    for (path, retry_after) in [("busy", Some(17)), ("busy-no-hint", None), ("fail", None), ("unavailable", Some(5))] {
        let (result, _) = deliver_to(path, &send("x")).await;
        let error = result.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Transient, "{path}");
        assert_eq!(error.retry_after, retry_after.map(Duration::from_secs), "{path}");
    }
}

#[tokio::test]
async fn refused_credentials_are_unauthorized() {
    for path in ["auth", "forbidden"] {
        let (result, _) = deliver_to(path, &send("x")).await;
        assert_eq!(result.unwrap_err().kind, ProviderErrorKind::Unauthorized, "{path}");
    }
}

#[tokio::test]
async fn client_errors_redirects_and_oversize_answers_are_permanent() {
    for path in ["missing", "redirect", "big"] {
        let (result, seen) = deliver_to(path, &send("x")).await;
        let error = result.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Permanent, "{path}: {error}");
        assert_eq!(seen.lock().unwrap().len(), 1, "{path}: sent once, redirect not followed");
    }
}

#[tokio::test]
async fn a_name_pinned_by_the_resolver_reaches_the_receiver() {
    let (addr, seen) = serve().await;
    let provider = provider_for(&format!("http://hooks.test:{}/ok", addr.port()), true);
    assert_eq!(provider.deliver(&send("x")).await.unwrap().message_id, "m-42");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn policy_denials_are_permanent_and_connection_failures_transient() {
    // https to a name resolving to loopback without private delivery: refused before connecting.
    let provider = provider_for("https://hooks.test/in", false);
    let error = provider.deliver(&send("x")).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Permanent, "{error}");
    // A name the resolver does not know.
    let provider = provider_for("https://unknown.test/in", false);
    assert_eq!(provider.deliver(&send("x")).await.unwrap_err().kind, ProviderErrorKind::Permanent);
    // Nothing listens on a port just released: connection refused is worth retrying.
    let listener = tokio::net::TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let provider = provider_for(&format!("http://127.0.0.1:{port}/in"), true);
    let error = provider.deliver(&send("x")).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Transient, "{error}");
}
