//! The built-in tool `fetch_url(url)`: a GET through the egress policy. [`Egress::check`]
//! validates the URL and its addresses, then the request connects only to those addresses (no
//! second lookup, no proxy, no redirects) and keeps at most 64 KiB of the body.

use std::time::Duration;

use cowork_providers::egress::{Egress, EgressError, EgressRules};
use serde_json::{Value, json};

/// The tool's name as declared to the model.
pub(super) const FETCH_URL: &str = "fetch_url";

/// The most body bytes handed to the model.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The prefix of the `permission.requested` description; the URL follows it.
const DESCRIPTION_PREFIX: &str = "Fetch ";

/// The tool's entry in a request's `tools` array.
pub(super) fn declaration() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": FETCH_URL,
            "description": "Fetch a web page or document by URL (HTTP GET) and return its text. \
                            The user approves every fetch.",
            "parameters": {
                "type": "object",
                "properties": { "url": { "type": "string", "description": "The absolute http(s) URL." } },
                "required": ["url"],
            },
        },
    })
}

/// The URL argument of a `fetch_url` call.
pub(super) fn url_argument(arguments: &str) -> Option<String> {
    let value: Value = serde_json::from_str(arguments).ok()?;
    let url = value.get("url")?.as_str()?.trim();
    (!url.is_empty() && !url.contains(char::is_whitespace)).then(|| url.to_owned())
}

/// The approval description for fetching `url` (the URL is read back from it on the answer).
pub(super) fn describe(url: &str) -> String {
    format!("{DESCRIPTION_PREFIX}{url}")
}

/// The URL of an approval description written by [`describe`].
pub(super) fn described_url(description: &str) -> Option<&str> {
    description.strip_prefix(DESCRIPTION_PREFIX).filter(|url| !url.is_empty())
}

/// A fetch that did not produce a page.
#[derive(Debug)]
pub(super) struct FetchError {
    /// A short, user-safe reason (also told to the model).
    pub message: String,
    /// The operator-facing cause.
    pub detail: String,
}

/// Runs `fetch_url` under an egress policy.
#[derive(Clone, Debug)]
pub(super) struct Fetcher {
    egress: Egress,
    rules: EgressRules,
}

impl Fetcher {
    /// A fetcher judging URLs with `egress` under `rules`.
    pub(super) fn new(egress: Egress, rules: EgressRules) -> Self {
        Self { egress, rules }
    }

    /// GETs `url`: the status line and the body text (cut at 64 KiB).
    pub(super) async fn fetch(&self, url: &str) -> Result<String, FetchError> {
        let timeout = self.egress.timeout();
        match tokio::time::timeout(timeout, self.get(url, timeout)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError {
                message: "The page took too long to answer.".to_owned(),
                detail: format!("fetch timed out after {} ms", timeout.as_millis()),
            }),
        }
    }

    async fn get(&self, url: &str, timeout: Duration) -> Result<String, FetchError> {
        let checked = self.egress.check(url, &self.rules).await.map_err(|error| match error {
            EgressError::Denied(reason) => FetchError {
                message: format!("The URL is not allowed ({}).", reason.code()),
                detail: format!("egress denied the fetch: {reason}"),
            },
            other => FetchError { message: "The page could not be reached.".to_owned(), detail: other.to_string() },
        })?;
        let mut builder =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().timeout(timeout);
        if let Some(name) = checked.url().domain() {
            builder = builder.resolve_to_addrs(name, checked.addresses());
        }
        let unreachable = |detail: String| FetchError { message: "The page could not be reached.".to_owned(), detail };
        let client = builder.build().map_err(|error| unreachable(error.to_string()))?;
        let mut response = client
            .get(checked.url().clone())
            .send()
            .await
            .map_err(|error| unreachable(error.without_url().to_string()))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError {
                message: "The page redirected elsewhere; redirects are not followed.".to_owned(),
                detail: format!("fetch answered {status}"),
            });
        }
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(|error| unreachable(error.without_url().to_string()))? {
            let room = MAX_BODY_BYTES - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.len() > room {
                truncated = true;
                break;
            }
        }
        let mut text = format!("HTTP {}\n\n{}", status.as_u16(), String::from_utf8_lossy(&body));
        if truncated {
            text.push_str("\n\n[truncated at 64 KiB]");
        }
        Ok(text)
    }
}
