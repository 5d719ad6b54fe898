//! A local stand-in for Slack's Web API (`chat.postMessage`, `chat.update`), following its
//! documented contract: bearer-token auth (`invalid_auth` otherwise), `{"ok":true,"ts":…}`
//! answers, `channel_not_found` for an unknown channel. It records every call.

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
        let calls = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().route("/api/{method}", post(call)).with_state(calls.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind slack mock");
        let api_base_url = format!("http://{}/api", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { api_base_url, calls }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<SlackCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

async fn call(
    State(calls): State<Arc<Mutex<Vec<SlackCall>>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {SLACK_BOT_TOKEN}"));
    if !authorized {
        return Json(json!({"ok": false, "error": "invalid_auth"}));
    }
    if body["channel"].as_str().is_none_or(|c| c.is_empty()) {
        return Json(json!({"ok": false, "error": "channel_not_found"}));
    }
    let Ok(mut calls) = calls.lock() else { return Json(json!({"ok": false, "error": "internal_error"})) };
    let ts = match method.as_str() {
        "chat.update" => body["ts"].as_str().unwrap_or_default().to_owned(),
        _ => format!("1700000000.{:06}", calls.len() + 1),
    };
    calls.push(SlackCall { method, body: body.clone() });
    Json(json!({"ok": true, "channel": body["channel"], "ts": ts}))
}
