//! Tests of the Slack provider's deliveries against a local mock of the Slack Web API (an axum
//! server on 127.0.0.1 that checks the bearer token and the JSON shape of `chat.postMessage` and
//! `chat.update`, and answers Slack's documented errors), plus construction. No DNS, no sleeps.
//! The file methods and the upload URL of the mock live in `upload_tests.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::*;
use crate::egress::StaticResolver;
use crate::{Button, ButtonStyle, ChatRef, OutboundOp, ProviderErrorKind};

pub(super) const TOKEN: &str = "xoxb-test-token";
pub(super) const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One request the mock saw: method, headers, JSON body (form arguments as a string map).
type Call = (String, HeaderMap, Value);

#[derive(Default)]
pub(super) struct Mock {
    pub(super) calls: Mutex<Vec<Call>>,
    /// Shape problems found (tests assert there are none).
    pub(super) problems: Mutex<Vec<String>>,
    /// Posts to `C_FLAKY` so far (the second one is rate-limited).
    flaky_posts: Mutex<usize>,
    /// Files announced by `files.getUploadURLExternal`, with what was uploaded to them.
    pub(super) files: Mutex<Vec<super::upload_tests::MockFile>>,
    /// `files.completeUploadExternal` calls into `C_FLAKY` so far (the first one fails).
    pub(super) flaky_completes: Mutex<usize>,
}

pub(super) fn slack_error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(json!({"ok": false, "error": code}))).into_response()
}

async fn web_api(
    State(mock): State<Arc<Mock>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = method == "files.getUploadURLExternal";
    let body: Value = if form {
        Value::Object(url::form_urlencoded::parse(&body).map(|(k, v)| (k.into(), v.into())).collect())
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    mock.calls.lock().unwrap().push((method.clone(), headers.clone(), body.clone()));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return slack_error(StatusCode::OK, "invalid_auth");
    }
    let content_type = if form { "application/x-www-form-urlencoded" } else { "application/json; charset=utf-8" };
    let shape = match method.as_str() {
        _ if headers.get("content-type").is_none_or(|v| v != content_type) => Err("content-type".to_owned()),
        "chat.postMessage" => check_post(&body),
        "chat.update" => check_update(&body),
        "files.getUploadURLExternal" | "files.completeUploadExternal" => {
            return super::upload_tests::files_api(&mock, &method, &headers, &body);
        }
        _ => return slack_error(StatusCode::NOT_FOUND, "unknown_method"),
    };
    if let Err(problem) = shape {
        mock.problems.lock().unwrap().push(format!("{method}: {problem}"));
        return slack_error(StatusCode::OK, "invalid_arguments");
    }
    let channel = body["channel"].as_str().unwrap_or_default();
    match channel {
        "C_MISSING" => return slack_error(StatusCode::OK, "channel_not_found"),
        "C_BUSY" => {
            let answer = slack_error(StatusCode::TOO_MANY_REQUESTS, "ratelimited");
            return ([(http::header::RETRY_AFTER, "7")], answer).into_response();
        }
        "C_DOWN" => return (StatusCode::INTERNAL_SERVER_ERROR, "upstream trouble").into_response(),
        "C_FLAKY" if method == "chat.postMessage" => {
            let mut posts = mock.flaky_posts.lock().unwrap();
            *posts += 1;
            if *posts == 2 {
                let answer = slack_error(StatusCode::TOO_MANY_REQUESTS, "ratelimited");
                return ([(http::header::RETRY_AFTER, "7")], answer).into_response();
            }
        }
        _ => {}
    }
    let serial = mock.calls.lock().unwrap().len();
    let ts = match method.as_str() {
        "chat.update" => body["ts"].as_str().unwrap_or_default().to_owned(),
        _ => format!("1700000000.{serial:06}"),
    };
    axum::Json(json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": body["text"]}})).into_response()
}

pub(super) fn check_keys(body: &Map<String, Value>, required: &[&str], optional: &[&str]) -> Result<(), String> {
    for key in required {
        if !body.contains_key(*key) {
            return Err(format!("missing {key}"));
        }
    }
    match body.keys().find(|key| !required.contains(&key.as_str()) && !optional.contains(&key.as_str())) {
        Some(unknown) => Err(format!("unexpected field {unknown}")),
        None => Ok(()),
    }
}

pub(super) fn non_empty_string(value: &Value, what: &str) -> Result<(), String> {
    value
        .as_str()
        .filter(|text| !text.is_empty())
        .map(|_| ())
        .ok_or_else(|| format!("{what} must be a non-empty string"))
}

fn check_text(value: &Value) -> Result<(), String> {
    let text = value.as_str().ok_or("text must be a string")?;
    if text.chars().count() > 3000 { Err("text over 3000 characters".into()) } else { Ok(()) }
}

fn check_post(body: &Value) -> Result<(), String> {
    let map = body.as_object().ok_or("body must be an object")?;
    check_keys(map, &["channel", "text"], &["thread_ts", "blocks", "unfurl_links", "unfurl_media"])?;
    non_empty_string(&body["channel"], "channel")?;
    check_text(&body["text"])?;
    if map.contains_key("thread_ts") {
        non_empty_string(&body["thread_ts"], "thread_ts")?;
    }
    for flag in ["unfurl_links", "unfurl_media"] {
        if map.contains_key(flag) && !body[flag].is_boolean() {
            return Err(format!("{flag} must be a boolean"));
        }
    }
    if map.contains_key("blocks") { check_blocks(&body["blocks"]) } else { Ok(()) }
}

fn check_update(body: &Value) -> Result<(), String> {
    let map = body.as_object().ok_or("body must be an object")?;
    check_keys(map, &["channel", "ts", "text", "blocks"], &[])?;
    non_empty_string(&body["channel"], "channel")?;
    non_empty_string(&body["ts"], "ts")?;
    check_text(&body["text"])?;
    check_blocks(&body["blocks"])
}

fn check_blocks(blocks: &Value) -> Result<(), String> {
    let blocks = blocks.as_array().ok_or("blocks must be an array")?;
    if blocks.len() > 50 {
        return Err("more than 50 blocks".into());
    }
    let mut action_ids = std::collections::HashSet::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("section") => {
                if block["text"]["type"] != "mrkdwn" {
                    return Err("section text must be mrkdwn".into());
                }
                non_empty_string(&block["text"]["text"], "section text")?;
                check_text(&block["text"]["text"])?;
            }
            Some("actions") => {
                let elements = block["elements"].as_array().ok_or("actions need elements")?;
                if elements.is_empty() || elements.len() > 25 {
                    return Err("actions hold 1 to 25 elements".into());
                }
                for element in elements {
                    let label = element["text"]["text"].as_str().unwrap_or_default();
                    let valid = element["type"] == "button"
                        && element["text"]["type"] == "plain_text"
                        && (1..=75).contains(&label.chars().count())
                        && element["value"].as_str().is_some_and(|v| v.len() <= 2000)
                        && element["action_id"].as_str().is_some_and(|id| action_ids.insert(id.to_owned()))
                        && element.get("style").is_none_or(|style| style == "primary" || style == "danger");
                    if !valid {
                        return Err(format!("invalid button {element}"));
                    }
                }
            }
            _ => return Err(format!("unexpected block {block}")),
        }
    }
    Ok(())
}

pub(super) async fn serve() -> (SocketAddr, Arc<Mock>) {
    let mock = Arc::new(Mock::default());
    let app = Router::new()
        .route("/api/{method}", axum::routing::post(web_api))
        .route("/upload/{file_id}", axum::routing::post(super::upload_tests::upload))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, mock)
}

pub(super) fn egress() -> Egress {
    Egress::new(Arc::new(StaticResolver::default()), Duration::from_secs(5))
}

pub(super) fn provider_at(base_url: &str, token: &str) -> SlackProvider {
    let settings = SlackSettings::from_json(&json!({"apiBaseUrl": base_url})).unwrap();
    SlackProvider::new(ProviderId::new("slack"), token.into(), vec!["signing".into()], settings, None, egress())
        .unwrap()
}

pub(super) async fn mock_provider() -> (SlackProvider, Arc<Mock>) {
    let (addr, mock) = serve().await;
    (provider_at(&format!("http://{addr}/api"), TOKEN), mock)
}

pub(super) fn delivery(channel: &str, thread: Option<&str>, op: OutboundOp) -> Delivery {
    let chat = ChatRef { chat_id: channel.into(), thread_id: thread.map(str::to_owned) };
    Delivery { delivery_id: "dlv-1".into(), chat, op, reply_context: None, trace_parent: None }
}

fn send(channel: &str, text: &str) -> Delivery {
    delivery(channel, Some("1699.1"), OutboundOp::Send { text: text.into(), buttons: vec![] })
}

pub(super) fn bodies(mock: &Mock, method: &str) -> Vec<Value> {
    assert!(mock.problems.lock().unwrap().is_empty(), "shape problems: {:?}", mock.problems.lock().unwrap());
    mock.calls.lock().unwrap().iter().filter(|(m, _, _)| m == method).map(|(_, _, body)| body.clone()).collect()
}

fn long_text() -> String {
    (0..12)
        .map(|i| format!("Paragraph {i}: {}", "lorem ipsum dolor sit amet ".repeat(24)))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[tokio::test]
async fn send_posts_mrkdwn_into_the_thread_with_the_bearer_token() {
    let (provider, mock) = mock_provider().await;
    let sent = provider.deliver(&send("C1", "**Done** with [the PR](https://x.io/pr/1) & more")).await.unwrap();
    let [body] = bodies(&mock, "chat.postMessage").try_into().unwrap();
    let expected = json!({"channel": "C1", "thread_ts": "1699.1", "text": "*Done* with <https://x.io/pr/1|the PR> &amp; more",
        "unfurl_links": false, "unfurl_media": false});
    assert_eq!(body, expected);
    assert_eq!(sent.message_id, "1700000000.000001");
    let calls = mock.calls.lock().unwrap();
    assert_eq!(calls[0].1["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(calls[0].1["content-type"], "application/json; charset=utf-8");
}

#[tokio::test]
async fn buttons_are_block_kit_and_an_edit_without_buttons_removes_them() {
    let (provider, mock) = mock_provider().await;
    let button = |label: &str, handle: &str, style| Button { label: label.into(), handle: handle.into(), style };
    let rows = vec![vec![button("Approve", "h1:y", ButtonStyle::Success), button("Deny", "h1:n", ButtonStyle::Danger)]];
    let ask = OutboundOp::Send { text: "Run `rm -rf build`?".into(), buttons: rows };
    let sent = provider.deliver(&delivery("C1", None, ask)).await.unwrap();
    let [post] = bodies(&mock, "chat.postMessage").try_into().unwrap();
    assert!(post.get("thread_ts").is_none());
    let expected_blocks = json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": "Run `rm -rf build`?"}},
        {"type": "actions", "block_id": "oc_row_0", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Approve", "emoji": true}, "value": "h1:y", "action_id": "oc_0", "style": "primary"},
            {"type": "button", "text": {"type": "plain_text", "text": "Deny", "emoji": true}, "value": "h1:n", "action_id": "oc_1", "style": "danger"}
        ]}
    ]);
    assert_eq!(post["blocks"], expected_blocks);

    let decided =
        OutboundOp::Edit { message_id: sent.message_id.clone(), text: "Approved by *Ann*".into(), buttons: vec![] };
    let edited = provider.deliver(&delivery("C1", None, decided)).await.unwrap();
    assert_eq!(edited.message_id, sent.message_id);
    let [update] = bodies(&mock, "chat.update").try_into().unwrap();
    let expected = json!({"channel": "C1", "ts": sent.message_id, "text": "Approved by _Ann_",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Approved by _Ann_"}}]});
    assert_eq!(update, expected);
}

#[tokio::test]
async fn long_text_is_posted_in_order_and_the_first_ts_is_the_message_id() {
    let (provider, mock) = mock_provider().await;
    let text = long_text();
    let sent = provider.deliver(&send("C1", &text)).await.unwrap();
    let posts = bodies(&mock, "chat.postMessage");
    assert!(posts.len() >= 3, "{} posts", posts.len());
    assert_eq!(sent.message_id, "1700000000.000001");
    assert!(posts.iter().all(|post| post["thread_ts"] == "1699.1"));
    let posted: Vec<&str> = posts.iter().map(|post| post["text"].as_str().unwrap()).collect();
    assert_eq!(posted, split(&text, SLACK_TEXT_LIMIT));
    assert!(posted[0].starts_with("Paragraph 0:") && posted.last().unwrap().starts_with("Paragraph"));
}

#[tokio::test]
async fn a_long_edit_keeps_the_first_chunk_and_marks_the_cut() {
    let (provider, mock) = mock_provider().await;
    let edit = OutboundOp::Edit { message_id: "1.5".into(), text: long_text(), buttons: vec![] };
    provider.deliver(&delivery("C1", None, edit)).await.unwrap();
    let [update] = bodies(&mock, "chat.update").try_into().unwrap();
    let text = update["text"].as_str().unwrap();
    assert!(text.starts_with("Paragraph 0:") && text.ends_with("\n…") && text.chars().count() <= 3000, "{text}");
}

#[tokio::test]
async fn a_send_rate_limited_part_way_resumes_without_reposting() {
    let (provider, mock) = mock_provider().await;
    let text = long_text();
    let first = provider.deliver(&send("C_FLAKY", &text)).await.unwrap_err();
    assert_eq!((first.kind, first.retry_after), (ProviderErrorKind::Transient, Some(Duration::from_secs(7))));
    let sent = provider.deliver(&send("C_FLAKY", &text)).await.unwrap();
    assert_eq!(sent.message_id, "1700000000.000001", "the first chunk's ts");
    let posts = bodies(&mock, "chat.postMessage");
    let chunks = split(&text, SLACK_TEXT_LIMIT);
    assert_eq!(posts.len(), chunks.len() + 1, "one rate-limited attempt, no chunk posted twice");
    let mut delivered: Vec<&str> = posts.iter().map(|post| post["text"].as_str().unwrap()).collect();
    delivered.remove(1);
    assert_eq!(delivered, chunks);
}

#[tokio::test]
async fn slack_errors_are_classified() {
    let (provider, _mock) = mock_provider().await;
    let not_found = provider.deliver(&send("C_MISSING", "x")).await.unwrap_err();
    assert_eq!(not_found.kind, ProviderErrorKind::Permanent);
    assert!(not_found.message.contains("channel_not_found"), "{}", not_found.message);
    let busy = provider.deliver(&send("C_BUSY", "x")).await.unwrap_err();
    assert_eq!((busy.kind, busy.retry_after), (ProviderErrorKind::Transient, Some(Duration::from_secs(7))));
    let down = provider.deliver(&send("C_DOWN", "x")).await.unwrap_err();
    assert_eq!(down.kind, ProviderErrorKind::Transient);
    let edit = OutboundOp::Edit { message_id: "1.1".into(), text: "x".into(), buttons: vec![] };
    let update = provider.deliver(&delivery("C_MISSING", None, edit)).await.unwrap_err();
    assert_eq!(update.kind, ProviderErrorKind::Permanent);

    let (addr, mock) = serve().await;
    let wrong_token = provider_at(&format!("http://{addr}/api"), "xoxb-revoked");
    let refused = wrong_token.deliver(&send("C1", "x")).await.unwrap_err();
    assert_eq!(refused.kind, ProviderErrorKind::Unauthorized);
    assert!(refused.message.contains("invalid_auth") && !refused.message.contains("xoxb"), "{}", refused.message);
    assert_eq!(mock.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_operations_are_refused_before_calling_slack() {
    let (provider, mock) = mock_provider().await;
    let many = (0..26).map(|i| Button { label: "b".into(), handle: format!("h{i}"), style: ButtonStyle::Default });
    let operations = [
        OutboundOp::Send { text: "  ".into(), buttons: vec![] },
        OutboundOp::Send { text: "x".into(), buttons: vec![many.collect()] },
        OutboundOp::Edit { message_id: "1.1".into(), text: String::new(), buttons: vec![] },
    ];
    for op in operations {
        let error = provider.deliver(&delivery("C1", None, op)).await.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Permanent, "{error}");
    }
    assert!(mock.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn connection_failures_are_transient_and_unknown_names_permanent() {
    let listener = tokio::net::TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let closed = provider_at(&format!("http://127.0.0.1:{port}/api"), TOKEN);
    assert_eq!(closed.deliver(&send("C1", "x")).await.unwrap_err().kind, ProviderErrorKind::Transient);
    let unknown = provider_at("https://slack.invalid/api", TOKEN);
    assert_eq!(unknown.deliver(&send("C1", "x")).await.unwrap_err().kind, ProviderErrorKind::Permanent);
}

#[test]
fn construction_validates_and_reports_kind_and_capabilities() {
    let settings = SlackSettings::default();
    let make = |token: &str, secrets: Vec<String>, workspace: Option<&str>| {
        let workspace = workspace.map(str::to_owned);
        SlackProvider::new(ProviderId::new("slack"), token.into(), secrets, settings.clone(), workspace, egress())
    };
    assert!(make("", vec!["s".into()], None).unwrap_err().contains("botToken"));
    assert!(make("xoxb-1", vec![], None).unwrap_err().contains("signingSecret"));
    assert!(make("xoxb-1", vec!["s".into()], Some("T 1")).unwrap_err().contains("externalWorkspaceId"));
    let bad_settings = SlackSettings { api_base_url: "http://169.254.169.254/api".into(), ..SlackSettings::default() };
    let error =
        SlackProvider::new(ProviderId::new("slack"), "xoxb-1".into(), vec!["s".into()], bad_settings, None, egress());
    assert!(error.unwrap_err().contains("apiBaseUrl"));
    let provider = make("xoxb-very-secret", vec!["signing-very-secret".into()], Some(" T1 ")).unwrap();
    assert_eq!((provider.kind(), provider.kind().as_str()), (ProviderKind::Slack, "slack"));
    assert_eq!(provider.workspace_id(), Some("T1"));
    let caps = provider.capabilities();
    assert!(caps.message_editing && caps.inline_buttons);
    assert_eq!((caps.max_buttons_per_message, caps.max_text_length), (25, 3000));
    let printed = format!("{provider:?}");
    assert!(!printed.contains("very-secret"), "{printed}");
}
