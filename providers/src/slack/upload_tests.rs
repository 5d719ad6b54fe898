//! Tests of Slack file uploads against the Web API mock of `tests.rs`, extended here with
//! `files.getUploadURLExternal` (checks the form arguments, answers an `upload_url` on the mock
//! itself), the upload URL (records the bytes and headers) and `files.completeUploadExternal`
//! (checks the JSON shape and that the file was uploaded). Special file names and channels make
//! the mock misbehave: `ratelimited.bin` (429), `elsewhere.bin` (an upload URL on another host),
//! `broken.bin` (the upload URL answers 500), channel `C_FLAKY` (the first complete fails).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::tests::{
    LOCALHOST, Mock, TOKEN, bodies, check_keys, delivery, mock_provider, non_empty_string, provider_at, serve,
    slack_error,
};
use super::*;
use crate::egress::StaticResolver;
use crate::{OutboundFile, OutboundOp, ProviderErrorKind};

/// A name the tests' resolver pins to 127.0.0.1: reachable, but not the platform's host.
const OTHER_HOST: &str = "uploads.evil.test";

/// One file the mock handed out an upload URL for.
pub(super) struct MockFile {
    id: String,
    filename: String,
    length: usize,
    /// Each POST to the upload URL: its headers and bytes.
    uploads: Vec<(HeaderMap, Bytes)>,
}

/// `files.getUploadURLExternal` and `files.completeUploadExternal` (token already checked).
pub(super) fn files_api(mock: &Mock, method: &str, headers: &HeaderMap, body: &Value) -> Response {
    let shape = match method {
        "files.getUploadURLExternal" => check_get_upload_url(body),
        _ => check_complete(body),
    };
    if let Err(problem) = shape {
        mock.problems.lock().unwrap().push(format!("{method}: {problem}"));
        return slack_error(StatusCode::OK, "invalid_arguments");
    }
    if method == "files.getUploadURLExternal" {
        return get_upload_url(mock, headers, body);
    }
    let channel = body["channel_id"].as_str().unwrap_or_default();
    if channel == "C_FLAKY" {
        let mut completes = mock.flaky_completes.lock().unwrap();
        *completes += 1;
        if *completes == 1 {
            return slack_error(StatusCode::OK, "internal_error");
        }
    }
    let id = body["files"][0]["id"].as_str().unwrap_or_default();
    let files = mock.files.lock().unwrap();
    if !files.iter().any(|file| file.id == id && !file.uploads.is_empty()) {
        return slack_error(StatusCode::OK, "file_not_found");
    }
    axum::Json(json!({"ok": true, "files": [{"id": id, "title": body["files"][0]["title"]}]})).into_response()
}

fn get_upload_url(mock: &Mock, headers: &HeaderMap, body: &Value) -> Response {
    let filename = body["filename"].as_str().unwrap_or_default().to_owned();
    if filename == "ratelimited.bin" {
        let answer = slack_error(StatusCode::TOO_MANY_REQUESTS, "ratelimited");
        return ([(http::header::RETRY_AFTER, "7")], answer).into_response();
    }
    let length = body["length"].as_str().and_then(|length| length.parse().ok()).unwrap_or_default();
    let mut files = mock.files.lock().unwrap();
    let id = format!("F{:03}", files.len() + 1);
    let host = headers["host"].to_str().unwrap();
    let upload_url = match filename.as_str() {
        "elsewhere.bin" => {
            let port = host.rsplit(':').next().unwrap();
            format!("http://{OTHER_HOST}:{port}/upload/{id}?token=leak")
        }
        _ => format!("http://{host}/upload/{id}"),
    };
    files.push(MockFile { id: id.clone(), filename, length, uploads: vec![] });
    axum::Json(json!({"ok": true, "upload_url": upload_url, "file_id": id})).into_response()
}

fn check_get_upload_url(body: &Value) -> Result<(), String> {
    check_keys(body.as_object().ok_or("body must be an object")?, &["filename", "length"], &[])?;
    non_empty_string(&body["filename"], "filename")?;
    let length = body["length"].as_str().and_then(|length| length.parse::<usize>().ok());
    if length.is_none_or(|length| length == 0) { Err("length must be a positive integer".into()) } else { Ok(()) }
}

fn check_complete(body: &Value) -> Result<(), String> {
    let map = body.as_object().ok_or("body must be an object")?;
    check_keys(map, &["files", "channel_id"], &["thread_ts", "initial_comment"])?;
    non_empty_string(&body["channel_id"], "channel_id")?;
    let files = body["files"].as_array().filter(|files| files.len() == 1).ok_or("files must hold one file")?;
    check_keys(files[0].as_object().ok_or("a file must be an object")?, &["id"], &["title"])?;
    non_empty_string(&files[0]["id"], "files[0].id")?;
    for key in ["thread_ts", "initial_comment"] {
        if map.contains_key(key) {
            non_empty_string(&body[key], key)?;
        }
    }
    Ok(())
}

/// The upload URL: records the bytes; answers 500 for `broken.bin`.
pub(super) async fn upload(
    State(mock): State<Arc<Mock>>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut files = mock.files.lock().unwrap();
    let Some(file) = files.iter_mut().find(|file| file.id == file_id) else {
        return (StatusCode::NOT_FOUND, "unknown upload").into_response();
    };
    if headers.get("content-type").is_none_or(|v| v != "application/octet-stream") || body.len() != file.length {
        mock.problems.lock().unwrap().push(format!("upload {file_id}: content-type or length"));
    }
    file.uploads.push((headers, body));
    if file.filename == "broken.bin" {
        return (StatusCode::INTERNAL_SERVER_ERROR, "storage trouble").into_response();
    }
    (StatusCode::OK, format!("OK - {}", file.length)).into_response()
}

fn file_delivery(channel: &str, thread: Option<&str>, filename: &str, data: &[u8], caption: Option<&str>) -> Delivery {
    let data_base64 = base64::engine::general_purpose::STANDARD.encode(data);
    let file = OutboundFile {
        filename: filename.into(),
        mime_type: "application/octet-stream".into(),
        data_base64,
        caption: caption.map(str::to_owned),
    };
    delivery(channel, thread, OutboundOp::File(file))
}

/// The bytes POSTed to each upload URL, in order.
fn uploaded(mock: &Mock) -> Vec<(HeaderMap, Bytes)> {
    mock.files.lock().unwrap().iter().flat_map(|file| file.uploads.clone()).collect()
}

fn methods(mock: &Mock) -> Vec<String> {
    mock.calls.lock().unwrap().iter().map(|(method, _, _)| method.clone()).collect()
}

#[tokio::test]
async fn a_file_is_uploaded_in_three_steps_into_the_thread_with_its_comment() {
    let (provider, mock) = mock_provider().await;
    let data = b"line 1\nline 2\n\x00\xff binary tail";
    let file = file_delivery("C1", Some("1699.1"), "build.log", data, Some("**Build** log for [PR](https://x.io/1)"));
    let sent = provider.deliver(&file).await.unwrap();
    assert_eq!(sent.message_id, "F001", "the file id");
    assert_eq!(methods(&mock), ["files.getUploadURLExternal", "files.completeUploadExternal"]);
    let [ask] = bodies(&mock, "files.getUploadURLExternal").try_into().unwrap();
    assert_eq!(ask, json!({"filename": "build.log", "length": data.len().to_string()}));
    let [(_, bytes)] = uploaded(&mock).try_into().unwrap();
    assert_eq!(bytes.as_ref(), data);
    let [complete] = bodies(&mock, "files.completeUploadExternal").try_into().unwrap();
    let expected = json!({"files": [{"id": "F001", "title": "build.log"}], "channel_id": "C1",
        "thread_ts": "1699.1", "initial_comment": "*Build* log for <https://x.io/1|PR>"});
    assert_eq!(complete, expected);
    let calls = mock.calls.lock().unwrap();
    assert_eq!(calls[0].1["content-type"], "application/x-www-form-urlencoded");
    assert!(calls.iter().all(|(_, headers, _)| headers["authorization"] == format!("Bearer {TOKEN}")));
}

#[tokio::test]
async fn the_upload_step_does_not_carry_the_bot_token() {
    let (provider, mock) = mock_provider().await;
    provider.deliver(&file_delivery("C1", None, "a.txt", b"hello", None)).await.unwrap();
    let [(headers, _)] = uploaded(&mock).try_into().unwrap();
    assert!(headers.get("authorization").is_none());
    assert!(headers.values().all(|value| !value.to_str().unwrap_or_default().contains(TOKEN)), "{headers:?}");
    assert_eq!(headers["content-type"], "application/octet-stream");
}

#[tokio::test]
async fn an_upload_url_on_another_host_is_refused_and_nothing_is_uploaded() {
    let (addr, mock) = serve().await;
    // The other host resolves to the mock, so only the host check keeps the bytes home.
    let egress = Egress::new(Arc::new(StaticResolver::new([(OTHER_HOST, vec![LOCALHOST])])), Duration::from_secs(5));
    let settings = SlackSettings::from_json(&json!({"apiBaseUrl": format!("http://{addr}/api")})).unwrap();
    let provider =
        SlackProvider::new(ProviderId::new("slack"), TOKEN.into(), vec!["s".into()], settings, None, egress).unwrap();
    let error = provider.deliver(&file_delivery("C1", None, "elsewhere.bin", b"secret", None)).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Permanent);
    let message = &error.message;
    assert!(!message.contains("leak") && !message.contains("/upload") && !message.contains(TOKEN), "{message}");
    assert!(uploaded(&mock).is_empty());
    assert_eq!(methods(&mock), ["files.getUploadURLExternal"]);
}

#[tokio::test]
async fn a_500_from_the_upload_url_is_transient() {
    let (provider, mock) = mock_provider().await;
    let error = provider.deliver(&file_delivery("C1", None, "broken.bin", b"bytes", None)).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Transient, "{error}");
    assert!(error.message.contains("HTTP 500"), "{}", error.message);
    assert_eq!(methods(&mock), ["files.getUploadURLExternal"]);
}

#[tokio::test]
async fn a_retry_after_a_failed_complete_step_does_not_upload_twice() {
    let (provider, mock) = mock_provider().await;
    let file = file_delivery("C_FLAKY", None, "report.csv", b"a,b\n1,2\n", Some("  "));
    let first = provider.deliver(&file).await.unwrap_err();
    assert_eq!(first.kind, ProviderErrorKind::Transient, "{first}");
    let sent = provider.deliver(&file).await.unwrap();
    assert_eq!(sent.message_id, "F001");
    assert_eq!(uploaded(&mock).len(), 1, "the bytes are uploaded once");
    let expected = ["files.getUploadURLExternal", "files.completeUploadExternal", "files.completeUploadExternal"];
    assert_eq!(methods(&mock), expected);
    let completes = bodies(&mock, "files.completeUploadExternal");
    let body = json!({"files": [{"id": "F001", "title": "report.csv"}], "channel_id": "C_FLAKY"});
    assert_eq!(completes, [body.clone(), body], "no thread, no blank comment");
    // Done: the same delivery id is uploaded afresh, not completed from memory.
    provider.deliver(&file).await.unwrap();
    assert_eq!(uploaded(&mock).len(), 2);
}

#[tokio::test]
async fn invalid_and_oversize_files_are_permanent_without_any_call() {
    let (provider, mock) = mock_provider().await;
    let limit = usize::try_from(MAX_FILE_BYTES).unwrap();
    let mut invalid = file_delivery("C1", None, "a.txt", b"x", None);
    if let OutboundOp::File(file) = &mut invalid.op {
        file.data_base64 = "not base64!".into();
    }
    let operations = [
        invalid,
        file_delivery("C1", None, "big.bin", &vec![7; limit + 1], None),
        file_delivery("C1", None, "huge.bin", &vec![7; limit + 4096], None),
        file_delivery("C1", None, "empty.bin", b"", None),
        file_delivery("C1", None, " ", b"x", None),
        file_delivery("C1", None, "a\nb.txt", b"x", None),
    ];
    for operation in operations {
        let error = provider.deliver(&operation).await.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Permanent, "{error}");
    }
    assert!(mock.calls.lock().unwrap().is_empty() && uploaded(&mock).is_empty());
}

#[tokio::test]
async fn slack_errors_on_get_upload_url_are_classified_as_for_other_methods() {
    let (addr, mock) = serve().await;
    let provider = provider_at(&format!("http://{addr}/api"), TOKEN);
    let busy = provider.deliver(&file_delivery("C1", None, "ratelimited.bin", b"x", None)).await.unwrap_err();
    assert_eq!((busy.kind, busy.retry_after), (ProviderErrorKind::Transient, Some(Duration::from_secs(7))));
    assert!(busy.message.contains("files.getUploadURLExternal"), "{}", busy.message);

    let wrong_token = provider_at(&format!("http://{addr}/api"), "xoxb-revoked");
    let refused = wrong_token.deliver(&file_delivery("C1", None, "a.txt", b"x", None)).await.unwrap_err();
    assert_eq!(refused.kind, ProviderErrorKind::Unauthorized);
    assert!(refused.message.contains("invalid_auth") && !refused.message.contains("xoxb"), "{}", refused.message);
    assert!(uploaded(&mock).is_empty());
}

#[test]
fn capabilities_announce_uploads_of_up_to_20_mib() {
    let provider = provider_at("https://slack.com/api", TOKEN);
    let caps = provider.capabilities();
    assert!(caps.file_uploads);
    assert_eq!(caps.max_file_bytes, 20 * 1024 * 1024);
}
