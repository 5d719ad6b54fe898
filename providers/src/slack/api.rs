//! One Slack Web API call (`POST {apiBaseUrl}/{method}` with the bot token as bearer and a JSON
//! or form-encoded body, through the egress policy) and the classification of Slack's answers and
//! failures into [`ProviderError`]s (one path for both body kinds): rate limits are transient
//! with `Retry-After`, refused credentials are unauthorized, server trouble is transient and
//! everything else is permanent.

use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::egress::{Egress, EgressError, EgressRequest, EgressResponse, EgressRules};
use crate::{ProviderError, ProviderErrorKind};

/// The largest Web API answer read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// The wait assumed when Slack rate-limits without a usable `Retry-After`.
pub(super) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The longest Slack error code repeated in a message.
const MAX_ERROR_CODE_CHARS: usize = 64;

/// Slack error codes that mean the token is unusable: stop and mark the provider unhealthy.
const UNAUTHORIZED_CODES: [&str; 5] =
    ["invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired"];
/// Slack error codes worth retrying later.
const TRANSIENT_CODES: [&str; 4] = ["internal_error", "fatal_error", "service_unavailable", "request_timeout"];

/// The Web API client of one provider: base URL, bearer header and egress policy.
#[derive(Clone)]
pub(super) struct Api {
    base_url: String,
    authorization: HeaderValue,
    egress: Egress,
    rules: EgressRules,
}

impl Api {
    /// A client for `base_url` (already checked as an operator endpoint): loopback and private
    /// addresses are allowed, cloud metadata never, redirects never followed.
    pub fn new(base_url: String, authorization: HeaderValue, egress: Egress) -> Self {
        let rules = EgressRules { allow_private: true, allowed_hosts: vec![] };
        Self { base_url, authorization, egress, rules }
    }

    /// Calls `method` with a JSON `body`; the parsed answer when Slack said `ok: true`.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, ProviderError> {
        let body = serde_json::to_vec(body)
            .map(Bytes::from)
            .map_err(|e| ProviderError::permanent(format!("Slack {method} body could not be encoded: {e}")))?;
        self.send(method, "application/json; charset=utf-8", body).await
    }

    /// Calls `method` with `application/x-www-form-urlencoded` arguments (for methods such as
    /// `files.getUploadURLExternal` that do not take JSON); answers are judged as for [`Self::call`].
    pub async fn call_form(&self, method: &str, arguments: &[(&str, &str)]) -> Result<Value, ProviderError> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(arguments).finish();
        self.send(method, "application/x-www-form-urlencoded", Bytes::from(body)).await
    }

    /// The configured Web API base URL (without a trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The egress policy calls go through (for the token-less upload of file bytes).
    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    /// POSTs `body` to `{base_url}/{method}` with the bearer token and judges the answer.
    async fn send(&self, method: &str, content_type: &'static str, body: Bytes) -> Result<Value, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        let url = format!("{}/{method}", self.base_url);
        match self.egress.post(&url, &self.rules, EgressRequest { headers, body }, MAX_RESPONSE_BYTES).await {
            Ok(response) => judge(method, &response),
            Err(error) => Err(egress_failure(method, error)),
        }
    }
}

/// Judges one Web API answer: `ok: true` is success; otherwise HTTP 429 and `ratelimited` are
/// transient with `Retry-After` (1 s when absent), token errors unauthorized, 5xx and Slack's
/// server-side codes transient, anything else permanent.
pub(super) fn judge(method: &str, response: &EgressResponse) -> Result<Value, ProviderError> {
    let parsed: Option<Value> = serde_json::from_slice(&response.body).ok();
    let ok = parsed.as_ref().and_then(|value| value.get("ok")).and_then(Value::as_bool) == Some(true);
    let status = response.status;
    let code = parsed.as_ref().and_then(|value| value.get("error")).and_then(Value::as_str).map(sanitize_code);
    if (200..300).contains(&status)
        && ok
        && let Some(value) = parsed
    {
        return Ok(value);
    }
    let message = match &code {
        Some(code) => format!("Slack API {method} failed: {code} (HTTP {status})"),
        None => format!("Slack API {method} failed: HTTP {status}"),
    };
    let code = code.as_deref().unwrap_or_default();
    if status == 429 || code == "ratelimited" {
        let wait = retry_after(&response.headers).unwrap_or(DEFAULT_RETRY_AFTER);
        return Err(ProviderError::transient(message, Some(wait)));
    }
    if UNAUTHORIZED_CODES.contains(&code) || (code.is_empty() && status == 401) {
        return Err(ProviderError { kind: ProviderErrorKind::Unauthorized, retry_after: None, message });
    }
    if TRANSIENT_CODES.contains(&code) || (500..600).contains(&status) {
        return Err(ProviderError::transient(message, retry_after(&response.headers)));
    }
    Err(ProviderError::permanent(message))
}

/// Classifies a failure of the egress call: temporary ones (DNS, connect, timeout) retry; policy
/// denials, redirects, oversize answers and other transport errors are permanent.
pub(super) fn egress_failure(method: &str, error: EgressError) -> ProviderError {
    let message = format!("Slack API {method} failed: {error}");
    if error.is_retryable() { ProviderError::transient(message, None) } else { ProviderError::permanent(message) }
}

/// `Retry-After` in whole seconds (Slack's form); anything else is ignored.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let valid = !value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| value.parse().ok().map(Duration::from_secs)).flatten()
}

/// A Slack error code as it may appear in logs: `[a-z0-9_.]`, bounded.
fn sanitize_code(code: &str) -> String {
    code.chars()
        .take(MAX_ERROR_CODE_CHARS)
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '.' { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, retry: Option<&'static str>) -> EgressResponse {
        let mut headers = HeaderMap::new();
        if let Some(value) = retry {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
        }
        EgressResponse { status, headers, body: Bytes::copy_from_slice(body.as_bytes()) }
    }

    fn kind(status: u16, body: &str) -> ProviderErrorKind {
        judge("chat.postMessage", &answer(status, body, None)).unwrap_err().kind
    }

    #[test]
    fn ok_answers_are_returned() {
        let value = judge("chat.postMessage", &answer(200, r#"{"ok":true,"ts":"1.2"}"#, None)).unwrap();
        assert_eq!(value["ts"], "1.2");
    }

    #[test]
    fn slack_error_codes_are_classified() {
        use ProviderErrorKind::{Permanent, Transient, Unauthorized};
        let table = [
            ("invalid_auth", Unauthorized),
            ("not_authed", Unauthorized),
            ("token_revoked", Unauthorized),
            ("account_inactive", Unauthorized),
            ("token_expired", Unauthorized),
            ("internal_error", Transient),
            ("fatal_error", Transient),
            ("service_unavailable", Transient),
            ("request_timeout", Transient),
            ("ratelimited", Transient),
            ("channel_not_found", Permanent),
            ("not_in_channel", Permanent),
            ("msg_too_long", Permanent),
            ("invalid_blocks", Permanent),
            ("no_text", Permanent),
            ("something_new", Permanent),
        ];
        for (code, expected) in table {
            assert_eq!(kind(200, &format!(r#"{{"ok":false,"error":"{code}"}}"#)), expected, "{code}");
        }
    }

    #[test]
    fn http_statuses_are_classified() {
        use ProviderErrorKind::{Permanent, Transient, Unauthorized};
        assert_eq!(kind(500, "oops"), Transient);
        assert_eq!(kind(503, r#"{"ok":false}"#), Transient);
        assert_eq!(kind(401, ""), Unauthorized);
        assert_eq!(kind(404, "not found"), Permanent);
        assert_eq!(kind(200, "not json"), Permanent);
        assert_eq!(kind(200, r#"{"ts":"1.2"}"#), Permanent);
        // An `ok: true` body on an error status is still an error.
        assert_eq!(kind(500, r#"{"ok":true}"#), Transient);
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let limited = judge("m", &answer(429, r#"{"ok":false,"error":"ratelimited"}"#, Some("7"))).unwrap_err();
        assert_eq!((limited.kind, limited.retry_after), (ProviderErrorKind::Transient, Some(Duration::from_secs(7))));
        let bare = judge("m", &answer(429, "", None)).unwrap_err();
        assert_eq!(bare.retry_after, Some(DEFAULT_RETRY_AFTER));
        let in_body = judge("m", &answer(200, r#"{"ok":false,"error":"ratelimited"}"#, Some("soon"))).unwrap_err();
        assert_eq!(in_body.retry_after, Some(DEFAULT_RETRY_AFTER));
        let busy = judge("m", &answer(503, "", Some("30"))).unwrap_err();
        assert_eq!(busy.retry_after, Some(Duration::from_secs(30)));
    }

    #[test]
    fn messages_name_the_method_and_a_sanitized_code() {
        let error = judge("chat.update", &answer(200, r#"{"ok":false,"error":"bad\nthing<x>"}"#, None)).unwrap_err();
        assert_eq!(error.message, "Slack API chat.update failed: bad?thing?x? (HTTP 200)");
    }

    #[test]
    fn egress_failures_split_into_transient_and_permanent() {
        let temporary = egress_failure("m", EgressError::Temporary("connection refused".into()));
        assert_eq!(temporary.kind, ProviderErrorKind::Transient);
        let denied = egress_failure("m", EgressError::Denied(crate::egress::DenyReason::MetadataAddress));
        assert_eq!(denied.kind, ProviderErrorKind::Permanent);
        assert_eq!(egress_failure("m", EgressError::Redirect(302)).kind, ProviderErrorKind::Permanent);
        assert_eq!(egress_failure("m", EgressError::ResponseTooLarge(1)).kind, ProviderErrorKind::Permanent);
    }
}
