//! File uploads to Slack in three steps: `files.getUploadURLExternal` (form-encoded `filename`
//! and `length`, with the bot token) answers an `upload_url` and a `file_id`; the raw bytes are
//! POSTed to that URL as `application/octet-stream` **without** the bot token; then
//! `files.completeUploadExternal` (JSON) shares the file into the channel and thread, with the
//! caption (as mrkdwn) as its `initial_comment`.
//!
//! The upload URL comes from the platform, so it must stay on the platform's host (DESIGN.md §8,
//! "Egress reach"): the configured `apiBaseUrl`'s origin (scheme, host and port), or
//! `https://files.slack.com` when the API is Slack's own `slack.com`. Anything else is refused
//! before any byte leaves. The upload goes through the egress policy with that single host
//! allowed and private addresses only when `apiBaseUrl` itself is loopback (a test mock).
//!
//! A retry of the same delivery id after the bytes were uploaded (a failed complete step) reuses
//! the remembered file id and only completes. The message id returned is the Slack **file id**
//! (there is no message `ts`): files cannot be edited afterwards. The MIME type is not sent;
//! Slack infers the type from the name and the bytes.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use url::{Host, Url};

use super::api::{self, Api, DEFAULT_RETRY_AFTER, MAX_RESPONSE_BYTES};
use super::mrkdwn::to_mrkdwn;
use super::outbound::Progress;
use super::split::{SLACK_TEXT_LIMIT, first_chunk};
use crate::egress::{EgressRequest, EgressRules};
use crate::{Delivery, OutboundFile, ProviderError, ProviderErrorKind, SentMessage};

/// The largest file the Slack provider uploads, in bytes (20 MiB).
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// The host Slack's own upload URLs are on when `apiBaseUrl` is `https://slack.com/api`.
const SLACK_FILES_HOST: &str = "files.slack.com";
/// The host of Slack's own Web API.
const SLACK_API_HOST: &str = "slack.com";
/// What the raw upload step is named in error messages.
const UPLOAD_STEP: &str = "file upload";

/// Uploads `file` into the delivery's channel (and thread); the file id is the message id.
pub(super) async fn deliver(
    api: &Api,
    uploads: &Progress<String>,
    delivery: &Delivery,
    file: &OutboundFile,
) -> Result<SentMessage, ProviderError> {
    let filename = file.filename.trim();
    if filename.is_empty() || filename.chars().any(char::is_control) {
        return Err(ProviderError::permanent("the file name is empty or has control characters"));
    }
    let bytes = decode(file, MAX_FILE_BYTES)?;
    let file_id = match uploads.get(&delivery.delivery_id) {
        Some(file_id) => file_id,
        None => {
            let file_id = upload_bytes(api, filename, bytes).await?;
            uploads.record(&delivery.delivery_id, file_id.clone());
            file_id
        }
    };
    match complete(api, delivery, filename, file.caption.as_deref(), &file_id).await {
        Ok(message_id) => {
            uploads.forget(&delivery.delivery_id);
            Ok(SentMessage { message_id })
        }
        Err(error) => {
            if error.kind != ProviderErrorKind::Transient {
                uploads.forget(&delivery.delivery_id);
            }
            Err(error)
        }
    }
}

/// The decoded bytes: invalid base64, an empty file and more than `max_bytes` are permanent
/// errors (an oversize encoding is refused before it is decoded).
fn decode(file: &OutboundFile, max_bytes: u64) -> Result<Vec<u8>, ProviderError> {
    let too_large = || ProviderError::permanent(format!("the file is larger than Slack's {max_bytes}-byte limit"));
    let longest_encoding = max_bytes.div_ceil(3).saturating_mul(4);
    if u64::try_from(file.data_base64.len()).map_or(true, |len| len > longest_encoding) {
        return Err(too_large());
    }
    let bytes = file.bytes().ok_or_else(|| ProviderError::permanent("the file data is not valid base64"))?;
    if u64::try_from(bytes.len()).map_or(true, |len| len > max_bytes) {
        return Err(too_large());
    }
    if bytes.is_empty() {
        return Err(ProviderError::permanent("the file is empty"));
    }
    Ok(bytes)
}

/// Steps 1 and 2: asks for an upload URL, checks it stays on the platform's host and POSTs the
/// bytes there without the bot token; the file id.
async fn upload_bytes(api: &Api, filename: &str, bytes: Vec<u8>) -> Result<String, ProviderError> {
    let method = "files.getUploadURLExternal";
    let length = bytes.len().to_string();
    let answer = api.call_form(method, &[("filename", filename), ("length", &length)]).await?;
    let upload_url = answer_string(method, &answer, "upload_url")?;
    let file_id = answer_string(method, &answer, "file_id")?;
    let rules = upload_rules(api.base_url(), &upload_url)?;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    let request = EgressRequest { headers, body: Bytes::from(bytes) };
    let response = api
        .egress()
        .post(&upload_url, &rules, request, MAX_RESPONSE_BYTES)
        .await
        .map_err(|error| api::egress_failure(UPLOAD_STEP, error))?;
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(file_id);
    }
    let message = format!("Slack {UPLOAD_STEP} failed: HTTP {status}");
    match status {
        429 => {
            let wait = api::retry_after(&response.headers).unwrap_or(DEFAULT_RETRY_AFTER);
            Err(ProviderError::transient(message, Some(wait)))
        }
        500..=599 => Err(ProviderError::transient(message, api::retry_after(&response.headers))),
        _ => Err(ProviderError::permanent(message)),
    }
}

/// Step 3: shares the uploaded file into the channel (and thread) with the caption; the file id.
async fn complete(
    api: &Api,
    delivery: &Delivery,
    filename: &str,
    caption: Option<&str>,
    file_id: &str,
) -> Result<String, ProviderError> {
    let mut body = json!({"files": [{"id": file_id, "title": filename}], "channel_id": delivery.chat.chat_id});
    if let Some(thread_ts) = delivery.chat.thread_id.as_deref() {
        body["thread_ts"] = json!(thread_ts);
    }
    let comment = caption.map(|caption| first_chunk(&to_mrkdwn(caption), SLACK_TEXT_LIMIT));
    if let Some(comment) = comment.filter(|comment| !comment.trim().is_empty()) {
        body["initial_comment"] = json!(comment);
    }
    let answer = api.call("files.completeUploadExternal", &body).await?;
    let answered = answer.pointer("/files/0/id").and_then(Value::as_str).filter(|id| !id.is_empty());
    Ok(answered.unwrap_or(file_id).to_owned())
}

/// A non-empty string field of an `ok` answer.
fn answer_string(method: &str, answer: &Value, field: &str) -> Result<String, ProviderError> {
    answer
        .get(field)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::permanent(format!("Slack API {method} answered ok without {field}")))
}

/// The egress rules for `upload_url` when it stays on the platform: the configured API origin,
/// or `https://files.slack.com` for Slack's own API; anything else is a permanent error that
/// names the host at most (never the path, query or token).
fn upload_rules(base_url: &str, upload_url: &str) -> Result<EgressRules, ProviderError> {
    let base = Url::parse(base_url).map_err(|_| ProviderError::permanent("settings.apiBaseUrl is not a valid URL"))?;
    let target = Url::parse(upload_url)
        .map_err(|_| ProviderError::permanent("Slack returned an upload URL that is not a valid URL; refused"))?;
    let (Some(base_host), Some(target_host)) = (host_key(&base), host_key(&target)) else {
        return Err(ProviderError::permanent("Slack returned an upload URL without a host; refused"));
    };
    let same_origin = target.scheme() == base.scheme()
        && target_host == base_host
        && target.port_or_known_default() == base.port_or_known_default();
    let slack_files = base.scheme() == "https"
        && base_host == SLACK_API_HOST
        && target.scheme() == "https"
        && target_host == SLACK_FILES_HOST
        && target.port_or_known_default() == Some(443);
    if !same_origin && !slack_files {
        return Err(ProviderError::permanent(format!(
            "Slack returned an upload URL on another host ({target_host}) than the configured API; refused"
        )));
    }
    Ok(EgressRules { allow_private: is_loopback(&base), allowed_hosts: vec![target_host] })
}

/// The host as the egress allowlist compares it: lowercase name without trailing dots, or the
/// address without brackets.
fn host_key(url: &Url) -> Option<String> {
    let key = match url.host()? {
        Host::Domain(name) => name.trim_end_matches('.').to_ascii_lowercase(),
        Host::Ipv4(v4) => v4.to_string(),
        Host::Ipv6(v6) => v6.to_string(),
    };
    (!key.is_empty()).then_some(key)
}

/// Whether `url`'s host is loopback without DNS: `localhost` or a loopback address.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4).is_loopback(),
        Some(Host::Ipv6(v6)) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data_base64: &str) -> OutboundFile {
        let data_base64 = data_base64.to_owned();
        OutboundFile { filename: "a.txt".into(), mime_type: "text/plain".into(), data_base64, caption: None }
    }

    #[test]
    fn decoding_refuses_invalid_empty_and_oversize_data() {
        assert_eq!(decode(&file("aGVsbG8="), 5).unwrap(), b"hello");
        for (data, max, needle) in [
            ("not base64!", 100, "base64"),
            ("", 100, "empty"),
            ("aGVsbG8h", 5, "limit"),     // 6 bytes, decoded then refused
            ("aGVsbG8hIQ==", 5, "limit"), // refused before decoding
        ] {
            let error = decode(&file(data), max).unwrap_err();
            assert_eq!(error.kind, ProviderErrorKind::Permanent);
            assert!(error.message.contains(needle), "{data}: {}", error.message);
        }
    }

    #[test]
    fn upload_urls_must_stay_on_the_platform_host() {
        let slack = "https://slack.com/api";
        let rules = upload_rules(slack, "https://files.slack.com/upload/v1/abc?x=1").unwrap();
        assert_eq!(rules, EgressRules { allow_private: false, allowed_hosts: vec!["files.slack.com".into()] });
        assert!(upload_rules(slack, "https://slack.com/upload/v1/abc").is_ok());
        let mock = "http://127.0.0.1:8080/api";
        let rules = upload_rules(mock, "http://127.0.0.1:8080/upload/F1").unwrap();
        assert_eq!(rules, EgressRules { allow_private: true, allowed_hosts: vec!["127.0.0.1".into()] });
        let proxy = "https://slack.example.com/api";
        assert!(!upload_rules(proxy, "https://SLACK.example.com./up").unwrap().allow_private);
        let refused = [
            (slack, "https://files.slack.com.evil.example/upload?token=q"),
            (slack, "http://files.slack.com/upload"),
            (slack, "https://files.slack.com:8443/upload"),
            (slack, "https://evil.example/upload?secret=q"),
            (mock, "http://127.0.0.1:9999/upload/F1"),
            (mock, "http://localhost:8080/upload/F1"),
            (mock, "https://files.slack.com/upload/F1"),
            (proxy, "https://files.slack.com/upload/F1"),
            (slack, "not a url?secret=q"),
            (slack, "data:text/plain,secret"),
        ];
        for (base, url) in refused {
            let error = upload_rules(base, url).unwrap_err();
            assert_eq!(error.kind, ProviderErrorKind::Permanent, "{url}");
            assert!(!error.message.contains("secret") && !error.message.contains("token=q"), "{}", error.message);
            assert!(!error.message.contains("/upload"), "{}", error.message);
        }
    }

    #[test]
    fn loopback_is_recognized_without_dns() {
        for (url, expected) in [
            ("http://127.0.0.1/api", true),
            ("http://127.9.9.9/api", true),
            ("http://[::1]/api", true),
            ("http://localhost./api", true),
            ("https://slack.com/api", false),
            ("http://10.0.0.1/api", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(url).unwrap()), expected, "{url}");
        }
    }
}
