//! The HTTP side of the runtime: one streaming chat completions request, and the parsing of its
//! server-sent events (`data: {json}` lines ending with `data: [DONE]`) into a finished turn.

use std::collections::VecDeque;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use serde_json::Value;

use crate::runtime::sse::SseParser;

/// The longest piece of an error body kept for operators.
const ERROR_BODY_CHARS: usize = 300;

/// A client for one configured endpoint; never follows redirects and uses no proxy.
#[derive(Clone)]
pub(super) struct ChatClient {
    http: reqwest::Client,
    endpoint: String,
    api_key: Option<String>,
}

/// Why a request did not produce a stream.
#[derive(Debug)]
pub(super) enum SendError {
    /// The server answered with a non-success status.
    Status {
        /// The status code.
        status: u16,
        /// The `Retry-After` pause, when given in seconds.
        retry_after: Option<Duration>,
        /// The start of the body, with the key redacted.
        body: String,
    },
    /// No answer: connection refused, timeout, TLS failure.
    Transport(String),
}

impl SendError {
    /// Whether another try may succeed (429, 5xx, transport).
    pub(super) fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Transport(_) => true,
        }
    }

    /// The operator-facing description.
    pub(super) fn detail(&self) -> String {
        match self {
            Self::Status { status, body, .. } => format!("the model endpoint answered {status}: {body}"),
            Self::Transport(message) => format!("the model endpoint could not be reached: {message}"),
        }
    }
}

impl ChatClient {
    /// A client posting to `endpoint` with `api_key` as bearer token.
    pub(super) fn new(endpoint: String, api_key: Option<String>, timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .build()
            .map_err(|error| format!("could not build the HTTP client: {error}"))?;
        Ok(Self { http, endpoint, api_key })
    }

    /// Hides the key wherever it might be echoed.
    pub(super) fn redact(&self, text: &str) -> String {
        match self.api_key.as_deref() {
            Some(key) if !key.is_empty() => text.replace(key, "[redacted]"),
            _ => text.to_owned(),
        }
    }

    /// POSTs `body` and answers the response once its status is a success.
    pub(super) async fn send(&self, body: &Value) -> Result<reqwest::Response, SendError> {
        let mut request = self.http.post(&self.endpoint).header(CONTENT_TYPE, "application/json").json(body);
        if let Some(key) = &self.api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| SendError::Transport("the API key is not a valid header value".to_owned()))?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().await.map_err(|error| SendError::Transport(self.redact(&describe(&error))))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let body = self.redact(&text.chars().take(ERROR_BODY_CHARS).collect::<String>());
        Err(SendError::Status { status: status.as_u16(), retry_after, body })
    }
}

/// A streamed tool call, assembled from its fragments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ToolCallRequest {
    /// The model's call id.
    pub id: String,
    /// The function name.
    pub name: String,
    /// The JSON arguments text.
    pub arguments: String,
}

/// Token counts of one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub(super) struct Usage {
    /// Tokens of the request.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
}

/// What the stream produced so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Turn {
    /// The assistant text.
    pub content: String,
    /// Tool calls by stream index.
    pub tool_calls: Vec<ToolCallRequest>,
    /// Why the model stopped, once it did.
    pub finish_reason: Option<String>,
    /// Token usage, from the last chunk.
    pub usage: Option<Usage>,
    /// Whether `data: [DONE]` arrived.
    pub done: bool,
    /// Whether an abort cut the stream (what arrived before is kept).
    pub stopped: bool,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

impl Turn {
    /// Applies one `data:` payload; answers the content it added (may be empty).
    pub(super) fn apply(&mut self, data: &str) -> Result<String, String> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(String::new());
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|error| format!("unreadable stream chunk: {error}"))?;
        if let Some(error) = chunk.error {
            return Err(format!("the stream reported an error: {error}"));
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        let mut added = String::new();
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                if let Some(content) = delta.content {
                    added.push_str(&content);
                }
                for call in delta.tool_calls {
                    // Indexes are small and dense; a wild one is refused rather than allocated.
                    if call.index > 64 {
                        return Err(format!("tool call index {} is out of range", call.index));
                    }
                    if self.tool_calls.len() <= call.index {
                        self.tool_calls.resize_with(call.index + 1, ToolCallRequest::default);
                    }
                    let slot = &mut self.tool_calls[call.index];
                    if let Some(id) = call.id {
                        slot.id = id;
                    }
                    if let Some(function) = call.function {
                        slot.name.push_str(&function.name.unwrap_or_default());
                        slot.arguments.push_str(&function.arguments.unwrap_or_default());
                    }
                }
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        self.content.push_str(&added);
        Ok(added)
    }

    /// Whether the stream ended properly (`[DONE]`, or at least a finish reason).
    pub(super) fn finished(&self) -> bool {
        self.done || self.finish_reason.is_some() || self.stopped
    }
}

/// The `data` payloads of a streaming response, one at a time.
pub(super) struct ChatStream<'a> {
    client: &'a ChatClient,
    response: reqwest::Response,
    parser: SseParser,
    pending: VecDeque<String>,
    ended: bool,
}

impl<'a> ChatStream<'a> {
    /// Reads the events of `response`.
    pub(super) fn new(client: &'a ChatClient, response: reqwest::Response) -> Self {
        Self { client, response, parser: SseParser::default(), pending: VecDeque::new(), ended: false }
    }

    /// The next payload; `None` once the body ended; an error (redacted) when it broke off.
    pub(super) async fn next_data(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(data) = self.pending.pop_front() {
                return Ok(Some(data));
            }
            if self.ended {
                return Ok(None);
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.pending.extend(self.parser.feed(&bytes)),
                Ok(None) => {
                    self.ended = true;
                    self.pending.extend(self.parser.finish());
                }
                Err(error) => return Err(self.client.redact(&describe(&error))),
            }
        }
    }
}

/// A reqwest error with its causes (the top level alone says little for body errors).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
