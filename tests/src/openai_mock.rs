//! A local OpenAI-compatible server: `POST /v1/chat/completions` streams a fixed answer the way
//! the real API does (role delta, content deltas, a usage chunk, `[DONE]`) and records requests.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

/// The mock.
#[derive(Clone)]
pub struct OpenAiMock {
    /// The base URL to configure: `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

/// The words the mock streams, one delta each.
pub const OPENAI_ANSWER: [&str; 4] = ["Hello ", "from ", "the ", "model."];

impl OpenAiMock {
    /// Starts the mock on a free loopback port.
    pub async fn start() -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().route("/v1/chat/completions", post(complete)).with_state(requests.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind openai mock");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, requests }
    }

    /// The request bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn complete(State(requests): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>) -> impl IntoResponse {
    if let Ok(mut requests) = requests.lock() {
        requests.push(body);
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "mock",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut stream = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    stream.extend(OPENAI_ANSWER.iter().map(|word| chunk(json!({"content": word}), Value::Null)));
    stream.push(chunk(json!({}), json!("stop")));
    stream.push(json!({"id": "c1", "object": "chat.completion.chunk", "choices": [],
                       "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}}));
    let mut text: String = stream.iter().map(|event| format!("data: {event}\n\n")).collect();
    text.push_str("data: [DONE]\n\n");
    ([(header::CONTENT_TYPE, "text/event-stream")], text)
}
