//! The OpenCode HTTP API as the runtime uses it: create a session, prompt it asynchronously,
//! answer its permission requests and questions, read its status, abort it, and open the event
//! stream (`GET /event`).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

/// The longest piece of an error body kept for operators.
const ERROR_BODY_CHARS: usize = 300;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApiError {
    /// OpenCode could not be reached or did not answer in time.
    #[error("OpenCode could not be reached: {0}")]
    Transport(String),
    /// OpenCode answered with a non-success status.
    #[error("OpenCode answered {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer was not what the API describes.
    #[error("OpenCode answered something unexpected: {0}")]
    Unexpected(String),
}

impl ApiError {
    /// Whether another try may succeed.
    pub(super) fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Unexpected(_) => false,
        }
    }
}

/// What one prompt asks of OpenCode.
pub(super) struct PromptRequest<'a> {
    /// The user's text.
    pub text: &'a str,
    /// The OpenCode agent (`build`, `plan`, ...); `None` keeps the session's.
    pub agent: Option<&'a str>,
    /// The model as (provider, model); `None` keeps the configured one.
    pub model: Option<(&'a str, &'a str)>,
}

/// A client of one OpenCode server; never follows redirects and uses no proxy.
#[derive(Clone, Debug)]
pub(super) struct OpenCodeClient {
    http: reqwest::Client,
    stream_http: reqwest::Client,
    base: String,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

impl OpenCodeClient {
    /// A client for the server at `base`.
    pub(super) fn new(base: &str, timeout: Duration) -> Result<Self, String> {
        let build = |read_timeout: Option<Duration>| {
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(timeout);
            if let Some(read_timeout) = read_timeout {
                builder = builder.read_timeout(read_timeout);
            }
            builder.build().map_err(|error| format!("could not build the HTTP client: {error}"))
        };
        // The event stream stays open while sessions are quiet; only its connect is bounded.
        Ok(Self {
            http: build(Some(timeout))?,
            stream_http: build(None)?,
            base: base.trim().trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and answers the body of a success.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<String, ApiError> {
        let response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|error| ApiError::Transport(error.without_url().to_string()))?;
        let status = response.status();
        let body = response.text().await.map_err(|error| ApiError::Transport(error.without_url().to_string()))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(ApiError::Status { status: status.as_u16(), body: body.chars().take(ERROR_BODY_CHARS).collect() })
        }
    }

    /// Whether the server answers its health check.
    pub(super) async fn healthy(&self) -> bool {
        let body = self.call(self.http.get(self.url("/global/health"))).await;
        body.ok().and_then(|body| serde_json::from_str::<Value>(&body).ok()).is_some_and(|v| v["healthy"] == true)
    }

    /// Creates a session titled `title` whose `ask` permissions need an answer before use.
    pub(super) async fn create_session(&self, title: &str, ask: &[String]) -> Result<String, ApiError> {
        let rules: Vec<Value> =
            ask.iter().map(|permission| json!({ "permission": permission, "pattern": "*", "action": "ask" })).collect();
        let body = json!({ "title": title, "permission": rules });
        let text = self.call(self.http.post(self.url("/session")).json(&body)).await?;
        let created: Created = serde_json::from_str(&text).map_err(|error| ApiError::Unexpected(error.to_string()))?;
        Ok(created.id)
    }

    /// Queues a prompt on `session` (OpenCode answers at once and works in the background).
    pub(super) async fn prompt(&self, session: &str, prompt: &PromptRequest<'_>) -> Result<(), ApiError> {
        let mut body = json!({ "parts": [{ "type": "text", "text": prompt.text }] });
        if let Some(agent) = prompt.agent {
            body["agent"] = json!(agent);
        }
        if let Some((provider, model)) = prompt.model {
            body["model"] = json!({ "providerID": provider, "modelID": model });
        }
        let path = format!("/session/{}/prompt_async", segment(session));
        self.call(self.http.post(self.url(&path)).json(&body)).await.map(drop)
    }

    /// Answers a permission request: once, or reject.
    pub(super) async fn reply_permission(&self, request: &str, allowed: bool) -> Result<(), ApiError> {
        let body = json!({ "reply": if allowed { "once" } else { "reject" } });
        let path = format!("/permission/{}/reply", segment(request));
        self.call(self.http.post(self.url(&path)).json(&body)).await.map(drop)
    }

    /// Answers the first question of a request with `answers` (labels or free text).
    pub(super) async fn reply_question(&self, request: &str, answers: &[String]) -> Result<(), ApiError> {
        let body = json!({ "answers": [answers] });
        let path = format!("/question/{}/reply", segment(request));
        self.call(self.http.post(self.url(&path)).json(&body)).await.map(drop)
    }

    /// Declines a question request.
    pub(super) async fn reject_question(&self, request: &str) -> Result<(), ApiError> {
        let path = format!("/question/{}/reject", segment(request));
        self.call(self.http.post(self.url(&path))).await.map(drop)
    }

    /// Whether `session` is working (busy, or waiting to retry its model).
    pub(super) async fn busy(&self, session: &str) -> Result<bool, ApiError> {
        let text = self.call(self.http.get(self.url("/session/status"))).await?;
        let statuses: Value = serde_json::from_str(&text).map_err(|error| ApiError::Unexpected(error.to_string()))?;
        Ok(statuses.get(session).and_then(|status| status["type"].as_str()).is_some_and(|kind| kind != "idle"))
    }

    /// Stops what `session` is doing.
    pub(super) async fn abort(&self, session: &str) -> Result<(), ApiError> {
        let path = format!("/session/{}/abort", segment(session));
        self.call(self.http.post(self.url(&path))).await.map(drop)
    }

    /// Opens the event stream of the whole server.
    pub(super) async fn events(&self) -> Result<reqwest::Response, ApiError> {
        let response = self
            .stream_http
            .get(self.url("/event"))
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|error| ApiError::Transport(error.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            Ok(response)
        } else {
            Err(ApiError::Status { status: status.as_u16(), body: String::new() })
        }
    }
}

/// An id as one URL path segment (OpenCode ids are `[A-Za-z0-9_]`; anything else is escaped).
fn segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
