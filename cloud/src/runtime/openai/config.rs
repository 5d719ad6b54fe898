//! Settings of the OpenAI-compatible runtime: endpoint, model, key, system prompt, timeouts,
//! retries, snapshot pacing, whether the built-in tool is offered, and the tools declared in config.

use std::fmt;
use std::time::Duration;

use cowork_providers::egress::operator_endpoint_allowed;

use super::declared::{self, DeclaredTool};

/// The default endpoint base.
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// How the runtime reaches and drives an OpenAI-compatible chat completions endpoint.
#[derive(Clone, PartialEq)]
pub struct OpenAiSettings {
    /// The API base; requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// The model name sent with every request.
    pub model: String,
    /// The bearer key; `None` sends no `Authorization` header (a local Ollama).
    pub api_key: Option<String>,
    /// The system prompt put first in every conversation.
    pub system_prompt: Option<String>,
    /// Bound on connecting and on each wait for stream data.
    pub request_timeout: Duration,
    /// Extra tries after a 429, a 5xx or a connection failure (before anything was streamed).
    pub max_retries: u32,
    /// Whether the built-in `fetch_url` tool is offered (each call needs an approval).
    pub tools_enabled: bool,
    /// Tools declared in config (each call needs an approval).
    pub declared_tools: Vec<DeclaredTool>,
    /// The first backoff pause when the server gives no `Retry-After`; doubles per retry.
    pub retry_base_delay: Duration,
    /// The longest pause between two tries, `Retry-After` included.
    pub max_retry_delay: Duration,
    /// At most one streamed snapshot per this much stream time...
    pub snapshot_interval: Duration,
    /// ...unless this many characters arrived since the last one.
    pub snapshot_chars: usize,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_OPENAI_BASE_URL.to_owned(),
            model: "gpt-4o-mini".to_owned(),
            api_key: None,
            system_prompt: None,
            request_timeout: Duration::from_secs(120),
            max_retries: 3,
            tools_enabled: false,
            declared_tools: Vec::new(),
            retry_base_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(60),
            snapshot_interval: Duration::from_millis(100),
            snapshot_chars: 400,
        }
    }
}

impl fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("system_prompt", &self.system_prompt.as_ref().map(|p| p.chars().count()))
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("tools_enabled", &self.tools_enabled)
            .field("declared_tools", &self.declared_tools.iter().map(|tool| &tool.name).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl OpenAiSettings {
    /// Checks the settings (the base URL as an operator endpoint: loopback allowed, metadata
    /// never) and answers the chat completions URL.
    pub(super) fn endpoint(&self) -> Result<String, String> {
        let base = self.base_url.trim().trim_end_matches('/');
        operator_endpoint_allowed(base).map_err(|reason| format!("the OpenAI base URL is not allowed: {reason}"))?;
        if self.model.trim().is_empty() {
            return Err("the OpenAI model is not set".to_owned());
        }
        if self.api_key.as_deref().is_some_and(|key| key.trim().is_empty() || key.contains(['\r', '\n'])) {
            return Err("the OpenAI API key is empty or not a single line".to_owned());
        }
        if self.request_timeout.is_zero() {
            return Err("the OpenAI request timeout must be above zero".to_owned());
        }
        declared::check_all(&self.declared_tools)
            .map_err(|(index, error)| format!("declared tool {index}: `{}` {error}", error.field()))?;
        Ok(format!("{base}/chat/completions"))
    }

    /// The pause before retry number `retry` (1-based): `Retry-After` when given, otherwise
    /// exponential from [`Self::retry_base_delay`]; both capped by [`Self::max_retry_delay`].
    pub(super) fn retry_delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = || self.retry_base_delay.saturating_mul(1_u32 << retry.saturating_sub(1).min(16));
        retry_after.unwrap_or_else(backoff).min(self.max_retry_delay)
    }
}
