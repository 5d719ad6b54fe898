//! Tools declared in config: a name, a description and a JSON Schema for the model, and an
//! endpoint the runtime POSTs the model's arguments to (as JSON) once the channel approved the
//! call. Calls go through the egress policy, pinned to the declared host; the answer (status and
//! body, at most 64 KiB) goes back to the model as the tool's result.

use std::sync::Arc;
use std::time::Duration;

use cowork_providers::egress::{Egress, EgressError, EgressRequest, EgressRules, Resolver};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

/// The most response bytes handed to the model.
const MAX_RESULT_BYTES: usize = 64 * 1024;
/// The longest arguments text a call may carry (it is shown to the person approving it).
pub(super) const MAX_ARGUMENTS_CHARS: usize = 4000;
/// The longest description.
const MAX_DESCRIPTION_CHARS: usize = 1024;
/// The bounds of a call's timeout.
const TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=300_000;

/// A tool declared in config.
#[derive(Clone, Debug, PartialEq)]
pub struct DeclaredTool {
    /// The function name the model calls (letters, digits, `_` and `-`, at most 64).
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// The JSON Schema of the arguments (an object schema).
    pub parameters: Value,
    /// The endpoint the arguments are POSTed to: https, or http with `allow_private` (the egress
    /// policy then lets plain http reach loopback only).
    pub url: String,
    /// The bound on one call (DNS included).
    pub timeout: Duration,
    /// Allow a private or loopback address for the endpoint (an in-house tool server).
    pub allow_private: bool,
}

/// A declaration that cannot be used; [`ToolDeclarationError::field`] names the bad field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolDeclarationError {
    /// The name is empty, too long, has other characters, or is taken.
    #[error("must be 1 to 64 letters, digits, `_` or `-`, and not `fetch_url` or another tool's name")]
    Name,
    /// The description is empty or too long.
    #[error("must be 1 to {MAX_DESCRIPTION_CHARS} characters")]
    Description,
    /// The parameters are not an object schema.
    #[error("must be a JSON Schema object with \"type\": \"object\"")]
    Parameters,
    /// The URL is not an allowed endpoint.
    #[error("must be an https URL (http only with allowPrivate, for a loopback tool server): {0}")]
    Url(String),
    /// The timeout is out of range.
    #[error("must be between 100 and 300000 milliseconds")]
    Timeout,
}

impl ToolDeclarationError {
    /// The config key of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Description => "description",
            Self::Parameters => "parameters",
            Self::Url(_) => "url",
            Self::Timeout => "timeoutMs",
        }
    }
}

impl DeclaredTool {
    /// Checks the declaration; `taken` are the names declared before it.
    pub fn check(&self, taken: &[&str]) -> Result<(), ToolDeclarationError> {
        let name_ok = (1..=64).contains(&self.name.len())
            && self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && self.name != super::tools::FETCH_URL
            && !taken.contains(&self.name.as_str());
        if !name_ok {
            return Err(ToolDeclarationError::Name);
        }
        let description = self.description.trim();
        if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ToolDeclarationError::Description);
        }
        if self.parameters.get("type").and_then(Value::as_str) != Some("object") {
            return Err(ToolDeclarationError::Parameters);
        }
        let url = reqwest::Url::parse(&self.url).map_err(|error| ToolDeclarationError::Url(error.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            other => return Err(ToolDeclarationError::Url(format!("scheme `{other}` here"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ToolDeclarationError::Url("credentials in the URL".to_owned()));
        }
        let millis = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        if !TIMEOUT_RANGE_MS.contains(&millis) {
            return Err(ToolDeclarationError::Timeout);
        }
        Ok(())
    }

    /// The entry of the request's `tools` array.
    pub(super) fn declaration(&self) -> Value {
        json!({
            "type": "function",
            "function": { "name": self.name, "description": self.description, "parameters": self.parameters },
        })
    }

    /// The egress rules of calls: the declared host only.
    fn rules(&self) -> EgressRules {
        let host = reqwest::Url::parse(&self.url).ok().and_then(|url| url.host_str().map(str::to_owned));
        EgressRules { allow_private: self.allow_private, allowed_hosts: host.into_iter().collect() }
    }
}

/// Checks every declaration of a list; the error carries the index of the first bad one.
pub fn check_all(tools: &[DeclaredTool]) -> Result<(), (usize, ToolDeclarationError)> {
    let mut taken: Vec<&str> = Vec::new();
    for (index, tool) in tools.iter().enumerate() {
        tool.check(&taken).map_err(|error| (index, error))?;
        taken.push(&tool.name);
    }
    Ok(())
}

/// The approval description of a call (the arguments are read back from it on the answer).
pub(super) fn describe(tool: &str, arguments: &str) -> String {
    format!("Call {tool} with {arguments}")
}

/// The arguments of an approval description written by [`describe`] for `tool`.
pub(super) fn described_arguments<'a>(tool: &str, description: &'a str) -> Option<&'a str> {
    description.strip_prefix("Call ")?.strip_prefix(tool)?.strip_prefix(" with ")
}

/// A call that produced no answer.
#[derive(Debug)]
pub(super) struct CallError {
    /// A short, user-safe reason (also told to the model).
    pub message: String,
    /// The operator-facing cause.
    pub detail: String,
}

/// Runs approved calls of declared tools through the egress policy.
#[derive(Clone)]
pub(super) struct ToolCaller {
    resolver: Arc<dyn Resolver>,
}

impl ToolCaller {
    /// A caller resolving endpoint names through `resolver`.
    pub(super) fn new(resolver: Arc<dyn Resolver>) -> Self {
        Self { resolver }
    }

    /// POSTs `arguments` (a JSON object text) to the tool's endpoint; answers the status line
    /// and the body text.
    pub(super) async fn call(&self, tool: &DeclaredTool, arguments: &str) -> Result<String, CallError> {
        let egress = Egress::new(self.resolver.clone(), tool.timeout);
        let mut request = EgressRequest { body: arguments.to_owned().into(), ..EgressRequest::default() };
        request.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let response = egress.post(&tool.url, &tool.rules(), request, MAX_RESULT_BYTES).await.map_err(|error| {
            let message = match &error {
                EgressError::Denied(reason) => format!("The tool's endpoint is not allowed ({}).", reason.code()),
                EgressError::ResponseTooLarge(_) => "The tool's answer was too large.".to_owned(),
                EgressError::Temporary(_) => "The tool did not answer in time.".to_owned(),
                _ => "The tool could not be reached.".to_owned(),
            };
            CallError { message, detail: format!("declared tool {}: {error}", tool.name) }
        })?;
        Ok(format!("HTTP {}\n\n{}", response.status, String::from_utf8_lossy(&response.body)))
    }
}
