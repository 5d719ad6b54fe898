//! A local stand-in for Slack's Web API (`chat.postMessage`, `chat.update`, and the file upload
//! pair `files.getUploadURLExternal` (form-encoded) / `files.completeUploadExternal`, with the
//! upload URL it hands out), following its documented contract: bearer-token auth
//! (`invalid_auth` otherwise), `{"ok":true,"ts":…}` answers, `channel_not_found` for an unknown
//! channel. It records every call; uploads are recorded as method `upload`.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

/// One Web API call as received.
#[derive(Clone, Debug)]
pub struct SlackCall {
    /// The method (`chat.postMessage`, `chat.update`).
    pub method: String,
    /// The JSON body.
    pub body: Value,
    /// When it arrived, by the clock given to [`SlackMock::start_timed`] (else 0).
    pub at_ms: i64,
}

/// The mock.
#[derive(Clone)]
pub struct SlackMock {
    /// The `apiBaseUrl` to configure: `http://127.0.0.1:<port>/api`.
    pub api_base_url: String,
    calls: Arc<Mutex<Vec<SlackCall>>>,
}

/// The bot token the mock accepts.
pub const SLACK_BOT_TOKEN: &str = "xoxb-e2e-token";

impl SlackMock {
    /// Starts the mock on a free loopback port.
    pub async fn start() -> Self {
        Self::serve(None).await
    }

    /// [`Self::start`], stamping each call with `clock`'s time.
    pub async fn start_timed(clock: cowork_cloud::ManualClock) -> Self {
        Self::serve(Some(clock)).await
    }

    async fn serve(clock: Option<cowork_cloud::ManualClock>) -> Self {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind slack mock");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = MockState { calls: calls.clone(), base: base.clone(), clock };
        let app = axum::Router::new()
            .route("/api/{method}", post(call))
            .route("/upload/{file_id}", post(upload))
            .with_state(state);
        let api_base_url = format!("{base}/api");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { api_base_url, calls }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<SlackCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[derive(Clone)]
struct MockState {
    calls: Arc<Mutex<Vec<SlackCall>>>,
    base: String,
    clock: Option<cowork_cloud::ManualClock>,
}

impl MockState {
    fn now(&self) -> i64 {
        use cowork_cloud::Clock;
        self.clock.as_ref().map_or(0, Clock::now_ms)
    }
}

async fn call(
    State(state): State<MockState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Json<Value> {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {SLACK_BOT_TOKEN}")) {
        return Json(json!({"ok": false, "error": "invalid_auth"}));
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let form = content_type.starts_with("application/x-www-form-urlencoded");
    let body: Value = if form {
        let pairs: serde_json::Map<String, Value> =
            url::form_urlencoded::parse(&raw).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect();
        Value::Object(pairs)
    } else {
        serde_json::from_slice(&raw).unwrap_or(Value::Null)
    };
    let Ok(mut calls) = state.calls.lock() else { return Json(json!({"ok": false, "error": "internal_error"})) };
    let answer = match method.as_str() {
        "files.getUploadURLExternal" if form && body["filename"].is_string() && body["length"].is_string() => {
            let file_id = format!("F{:06}", calls.len() + 1);
            json!({"ok": true, "upload_url": format!("{}/upload/{file_id}", state.base), "file_id": file_id})
        }
        "files.getUploadURLExternal" => json!({"ok": false, "error": "invalid_arguments"}),
        "files.completeUploadExternal" if body["channel_id"].is_string() && body["files"].is_array() => {
            json!({"ok": true, "files": body["files"]})
        }
        "files.completeUploadExternal" => json!({"ok": false, "error": "invalid_arguments"}),
        _ if body["channel"].as_str().is_none_or(|c| c.is_empty()) => {
            json!({"ok": false, "error": "channel_not_found"})
        }
        "chat.update" => json!({"ok": true, "channel": body["channel"], "ts": body["ts"]}),
        _ => json!({"ok": true, "channel": body["channel"], "ts": format!("1700000000.{:06}", calls.len() + 1)}),
    };
    if answer["ok"] == true {
        calls.push(SlackCall { method, body, at_ms: state.now() });
    }
    Json(answer)
}

async fn upload(State(state): State<MockState>, Path(file_id): Path<String>, raw: axum::body::Bytes) -> &'static str {
    if let Ok(mut calls) = state.calls.lock() {
        let body = json!({"fileId": file_id, "bytes": String::from_utf8_lossy(&raw)});
        calls.push(SlackCall { method: "upload".into(), body, at_ms: state.now() });
    }
    "OK"
}
