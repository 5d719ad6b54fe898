//! A local OpenAI-compatible server for the tests: it answers `POST /v1/chat/completions` from a
//! script of replies, streaming the way the real API does (role delta, content or tool-call
//! deltas, finish reason, usage chunk, `[DONE]`), records each request, serves a page at
//! `GET /page` for the fetch tool, and can hold a stream open to see the client hang up.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use futures::StreamExt;
use serde_json::{Value, json};

/// The text of `GET /page`.
pub(crate) const PAGE_TEXT: &str = "The answer on the page is 42.";

/// One scripted answer to a chat completions request.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// Stream these `data:` payloads, then `[DONE]`, or break the connection instead.
    Stream { payloads: Vec<Value>, disconnect: bool },
    /// Answer with a status, an optional `Retry-After` and a body.
    Status { status: u16, retry_after: Option<u64>, body: String },
    /// Stream these payloads, then hold the connection open until the client drops it.
    Hold { payloads: Vec<Value> },
}

/// A request the server received.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: Value,
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    hangups: AtomicUsize,
    tool_calls: Mutex<Vec<Value>>,
}

/// What `POST /tool` answers.
pub(crate) const TOOL_ANSWER: &str = r#"{"temperature":21}"#;

/// Counts a held stream's end (the client closed the connection) when dropped.
struct Hangup(Arc<Script>);

impl Drop for Hangup {
    fn drop(&mut self) {
        self.0.hangups.fetch_add(1, Ordering::SeqCst);
    }
}

/// The running mock.
pub(crate) struct MockModel {
    /// Where it listens.
    pub addr: SocketAddr,
    script: Arc<Script>,
}

impl MockModel {
    /// Starts a server answering with `replies` in order (then 500s).
    pub(crate) async fn start(replies: Vec<Reply>) -> Self {
        let script = Arc::new(Script { replies: Mutex::new(replies.into()), ..Script::default() });
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .route("/page", get(|| async { PAGE_TEXT }))
            .route("/tool", post(tool))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, script }
    }

    /// The base URL to configure.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Adds a reply to the end of the script.
    pub(crate) fn push(&self, reply: Reply) {
        if let Ok(mut replies) = self.script.replies.lock() {
            replies.push_back(reply);
        }
    }

    /// The JSON bodies `POST /tool` received.
    pub(crate) fn tool_calls(&self) -> Vec<Value> {
        self.script.tool_calls.lock().map(|calls| calls.clone()).unwrap_or_default()
    }

    /// How many held streams the client hung up on.
    pub(crate) fn hangups(&self) -> usize {
        self.script.hangups.load(Ordering::SeqCst)
    }

    /// The requests received so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.script.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// A declared tool's endpoint: records the arguments, answers [`TOOL_ANSWER`].
async fn tool(State(script): State<Arc<Script>>, body: String) -> &'static str {
    if let Ok(mut calls) = script.tool_calls.lock() {
        calls.push(serde_json::from_str(&body).unwrap_or(Value::Null));
    }
    TOOL_ANSWER
}

async fn completions(State(script): State<Arc<Script>>, headers: HeaderMap, body: String) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Ok(mut requests) = script.requests.lock() {
        requests.push(Recorded { authorization, body });
    }
    let reply = script.replies.lock().ok().and_then(|mut replies| replies.pop_front());
    let reply = reply.unwrap_or(Reply::Status { status: 500, retry_after: None, body: "no scripted reply".into() });
    let built = match reply {
        Reply::Hold { payloads } => {
            let hangup = Hangup(script.clone());
            let frames: Vec<String> = payloads.iter().map(|p| format!("data: {p}\n\n")).collect();
            let frames = futures::stream::iter(frames.into_iter().map(Ok::<_, std::io::Error>));
            let held = frames.chain(futures::stream::pending()).map(move |frame| {
                let _ = &hangup;
                frame
            });
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from_stream(held))
        }
        Reply::Status { status, retry_after, body } => {
            let mut response = Response::builder().status(status);
            if let Some(seconds) = retry_after {
                response = response.header(header::RETRY_AFTER, seconds.to_string());
            }
            response.body(Body::from(body))
        }
        Reply::Stream { payloads, disconnect } => {
            let mut frames: Vec<String> = payloads.iter().map(|p| format!("data: {p}\n\n")).collect();
            if !disconnect {
                frames.push("data: [DONE]\n\n".to_owned());
            }
            let frames = futures::stream::iter(frames.into_iter().map(Ok::<_, std::io::Error>));
            let tail = futures::stream::once(async move {
                // Let the frames reach the client before the connection breaks.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::other("cut"))
            })
            .filter(move |_| std::future::ready(disconnect));
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from_stream(frames.chain(tail)))
        }
    };
    built.unwrap_or_else(|e| panic!("response: {e}"))
}

fn chunk(delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "mock",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason }],
    })
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "mock", "choices": [],
        "usage": { "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion },
    })
}

/// A streamed text answer in `parts`, with usage (7 prompt, 5 completion tokens).
pub(crate) fn text(parts: &[&str]) -> Reply {
    let mut payloads = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    payloads.extend(parts.iter().map(|part| chunk(json!({ "content": part }), None)));
    payloads.push(chunk(json!({}), Some("stop")));
    payloads.push(usage(7, 5));
    Reply::Stream { payloads, disconnect: false }
}

/// A text answer that streams `parts` and then neither finishes nor breaks off.
pub(crate) fn hold(parts: &[&str]) -> Reply {
    let mut payloads = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    payloads.extend(parts.iter().map(|part| chunk(json!({ "content": part }), None)));
    Reply::Hold { payloads }
}

/// A text answer that breaks off after `parts`.
pub(crate) fn cut(parts: &[&str]) -> Reply {
    let mut payloads = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    payloads.extend(parts.iter().map(|part| chunk(json!({ "content": part }), None)));
    Reply::Stream { payloads, disconnect: true }
}

/// A short text, then a `fetch_url` call with id `call_id`, its arguments in fragments.
pub(crate) fn fetch_call(call_id: &str, url: &str) -> Reply {
    tool_call(call_id, "fetch_url", &json!({ "url": url }).to_string())
}

/// A short text, then a call of `name` with id `call_id`, its arguments text in fragments.
pub(crate) fn tool_call(call_id: &str, name: &str, arguments: &str) -> Reply {
    let middle = arguments.char_indices().map(|(i, _)| i).find(|&i| i >= arguments.len() / 2).unwrap_or(0);
    let (head, tail) = arguments.split_at(middle);
    let start = json!({ "tool_calls": [{ "index": 0, "id": call_id, "type": "function",
        "function": { "name": name, "arguments": "" } }] });
    let fragment = |text: &str| json!({ "tool_calls": [{ "index": 0, "function": { "arguments": text } }] });
    let payloads = vec![
        chunk(json!({ "role": "assistant", "content": "" }), None),
        chunk(json!({ "content": "Let me look." }), None),
        chunk(start, None),
        chunk(fragment(head), None),
        chunk(fragment(tail), None),
        chunk(json!({}), Some("tool_calls")),
        usage(9, 3),
    ];
    Reply::Stream { payloads, disconnect: false }
}

/// An error status.
pub(crate) fn status(status: u16, retry_after: Option<u64>, body: &str) -> Reply {
    Reply::Status { status, retry_after, body: body.to_owned() }
}
