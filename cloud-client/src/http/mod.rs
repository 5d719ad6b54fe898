//! The cloud over HTTP: [`CloudClient`] calls the channel API with a service token (a request
//! timeout on every call but streams, typed errors per status class), and [`HttpBackend`]
//! implements [`crate::SessionBackend`] on it, following running sessions' event streams.

mod backend;
mod deliveries;
mod error;
pub(crate) mod follow;

use crate::{TRACEPARENT_HEADER, TraceParent};
use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use serde_json::Value;

pub use backend::{HttpBackend, percent_encode};
pub use deliveries::{ClaimedDelivery, DeliveryAck, DeliveryStreamRequest};
pub use error::CloudError;

/// The request timeout when none is configured.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL does not parse or is not http(s).
    #[error("the cloud URL must be an http:// or https:// URL: {0}")]
    InvalidUrl(String),
    /// Plain http to a cloud that is not on this machine.
    #[error(
        "the cloud URL uses plain http to a host that is not loopback ({0}); use https, or set \
         OPEN_COWORK_GATEWAY_ALLOW_INSECURE_HTTP=true"
    )]
    InsecureHttp(String),
    /// The token cannot be sent as a header.
    #[error("the service token is not a valid header value")]
    InvalidToken,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// Calls to one cloud with one service token; cheap to clone.
#[derive(Clone)]
pub struct CloudClient {
    base: String,
    authorization: HeaderValue,
    /// Calls that answer at once, under the request timeout.
    calls: reqwest::Client,
    /// Event streams: no overall timeout, only on connecting.
    streams: reqwest::Client,
}

impl std::fmt::Debug for CloudClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl CloudClient {
    /// A client of the cloud at `base_url`; plain http only to a loopback host unless
    /// `allow_insecure_http`. A zero `request_timeout` means none.
    pub fn new(
        base_url: &str,
        token: &str,
        request_timeout: Duration,
        allow_insecure_http: bool,
    ) -> Result<Self, ClientError> {
        let url = url::Url::parse(base_url.trim()).map_err(|e| ClientError::InvalidUrl(e.to_string()))?;
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_owned();
        match url.scheme() {
            "https" => {}
            "http" => {
                let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
                if !loopback && !allow_insecure_http {
                    return Err(ClientError::InsecureHttp(host));
                }
            }
            other => return Err(ClientError::InvalidUrl(format!("scheme {other}"))),
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| ClientError::InvalidToken)?;
        authorization.set_sensitive(true);
        let build = |timeout: Option<Duration>| {
            let builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
            let builder = match timeout {
                Some(timeout) if !timeout.is_zero() => builder.timeout(timeout),
                _ => builder,
            };
            builder.build().map_err(|e| ClientError::Build(e.to_string()))
        };
        Ok(Self {
            base: url.as_str().trim_end_matches('/').to_owned(),
            authorization,
            calls: build(Some(request_timeout))?,
            streams: build(None)?,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET` a JSON route.
    pub async fn get(&self, path: &str) -> Result<Value, CloudError> {
        self.send(self.calls.get(self.url(path))).await
    }

    /// `POST` JSON to a route.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CloudError> {
        self.post_traced(path, body, None).await
    }

    /// `POST` JSON to a route, continuing `trace` (sent as `traceparent`).
    pub async fn post_traced(
        &self,
        path: &str,
        body: &Value,
        trace: Option<&TraceParent>,
    ) -> Result<Value, CloudError> {
        let request = self.calls.post(self.url(path)).json(body);
        let request = match trace {
            Some(trace) => request.header(TRACEPARENT_HEADER, trace.as_str()),
            None => request,
        };
        self.send(request).await
    }

    /// Whether the cloud answers its readiness route.
    pub async fn ready(&self) -> Result<(), CloudError> {
        let response = self.calls.get(self.url("/readyz")).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        if status == 200 {
            return Ok(());
        }
        let body: Value = response.json().await.unwrap_or_default();
        Err(CloudError::from_status(status, &body, None))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, CloudError> {
        let response = request.header(AUTHORIZATION, self.authorization.clone()).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body: Value = match response.json().await {
            Ok(body) => body,
            Err(error) if error.is_timeout() => return Err(CloudError::Timeout),
            Err(error) if (200..300).contains(&status) => return Err(CloudError::Parse(error.to_string())),
            Err(_) => Value::Null,
        };
        if (200..300).contains(&status) { Ok(body) } else { Err(CloudError::from_status(status, &body, retry_after)) }
    }

    /// Opens an event stream (`Accept: text/event-stream`), resuming after `last_event_id` if any.
    pub(crate) async fn open_stream(
        &self,
        path: &str,
        last_event_id: Option<i64>,
    ) -> Result<reqwest::Response, CloudError> {
        let mut request = self
            .streams
            .get(self.url(path))
            .header(AUTHORIZATION, self.authorization.clone())
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        if status == 200 {
            return Ok(response);
        }
        let body: Value = response.json().await.unwrap_or_default();
        Err(CloudError::from_status(status, &body, None))
    }
}

fn transport(error: reqwest::Error) -> CloudError {
    if error.is_timeout() { CloudError::Timeout } else { CloudError::Network(without_url(&error)) }
}

/// The error's text without the URL (which names the cloud, not a secret, but is noise).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the cloud");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_for_loopback_unless_allowed() {
        let timeout = DEFAULT_REQUEST_TIMEOUT;
        for ok in ["http://127.0.0.1:8787", "http://localhost:8787/", "http://[::1]:8787", "https://cloud.example"] {
            assert!(CloudClient::new(ok, "occ_x", timeout, false).is_ok(), "{ok}");
        }
        assert!(matches!(
            CloudClient::new("http://cloud.example", "occ_x", timeout, false),
            Err(ClientError::InsecureHttp(_))
        ));
        assert!(CloudClient::new("http://cloud.example", "occ_x", timeout, true).is_ok());
        assert!(matches!(CloudClient::new("ftp://x", "t", timeout, false), Err(ClientError::InvalidUrl(_))));
        assert!(matches!(CloudClient::new("nope", "t", timeout, false), Err(ClientError::InvalidUrl(_))));
        assert!(matches!(CloudClient::new("https://x", "bad\ntoken", timeout, false), Err(ClientError::InvalidToken)));
    }

    #[test]
    fn statuses_map_to_typed_errors_and_retry_decisions() {
        let body = serde_json::json!({"error": "nope", "code": "auth.gateway_scope_required"});
        assert!(matches!(CloudError::from_status(401, &body, None), CloudError::Unauthorized(_)));
        assert!(CloudError::from_status(403, &body, None).is_transient());
        let actor = serde_json::json!({"error": "no", "code": "channels.actor_not_authorized"});
        assert!(!CloudError::from_status(403, &actor, None).is_transient());
        assert!(CloudError::from_status(503, &body, None).is_transient());
        assert!(!CloudError::from_status(400, &body, None).is_transient());
        assert!(matches!(
            crate::BackendError::from(CloudError::from_status(404, &body, None)),
            crate::BackendError::NotFound(_)
        ));
        // Quotas and the plan are told to the sender once, not retried.
        for status in [402, 429] {
            let refused = crate::BackendError::from(CloudError::from_status(status, &body, None));
            assert!(matches!(refused, crate::BackendError::Refused(_)), "{status}");
        }
    }
}
