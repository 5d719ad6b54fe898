//! Outbound deliveries of the generic webhook (`reference/opencowork-gateway.md` §3.3): the JSON
//! body per operation type (`text`, `edit`, `buttons`, `file`), the signed headers, and the judgement of
//! the receiver's answer (message id, retry or not, `Retry-After`).

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::verify::{SIGNATURE_HEADER, SIGNATURE_PREFIX, TIMESTAMP_HEADER};
use crate::egress::{EgressError, EgressResponse};
use crate::signature;
use crate::{Button, ButtonStyle, Delivery, OutboundOp, ProviderError, ProviderErrorKind, ProviderId, SentMessage};

/// The delivery id header.
pub const DELIVERY_ID_HEADER: &str = "x-open-cowork-gateway-delivery-id";
/// The idempotency key header (the delivery id).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The largest response body read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The most buttons in one message.
pub const MAX_BUTTONS: usize = 8;
/// The longest button token on the wire, in bytes.
const MAX_BUTTON_TOKEN_BYTES: usize = 64;
/// The longest message id accepted from a response, in bytes.
const MAX_MESSAGE_ID_BYTES: usize = 512;
/// The provider kind on the wire.
const KIND: &str = "webhook";

/// The JSON body of one delivery.
pub(super) fn request_body(provider: &ProviderId, delivery: &Delivery) -> Result<Bytes, ProviderError> {
    let mut target = json!({"provider": provider.as_str(), "providerKind": KIND, "chatId": delivery.chat.chat_id});
    if let Some(thread_id) = &delivery.chat.thread_id {
        target["threadId"] = json!(thread_id);
    }
    let mut body = json!({
        "deliveryId": delivery.delivery_id,
        "idempotencyKey": delivery.delivery_id,
        "provider": provider.as_str(),
        "providerInstanceId": provider.as_str(),
        "providerKind": KIND,
        "target": target,
        "options": {},
    });
    match &delivery.op {
        OutboundOp::Send { text, buttons } if buttons.is_empty() => {
            body["type"] = json!("text");
            body["text"] = json!(text);
        }
        OutboundOp::Send { text, buttons } => {
            body["type"] = json!("buttons");
            body["text"] = json!(text);
            body["buttons"] = button_rows(buttons)?;
        }
        OutboundOp::Edit { message_id, text, buttons } => {
            body["type"] = json!("edit");
            body["messageId"] = json!(message_id);
            body["text"] = json!(text);
            // An extension of Open Cowork's edit: the buttons the message keeps (absent: none).
            if !buttons.is_empty() {
                body["buttons"] = button_rows(buttons)?;
            }
        }
        OutboundOp::File(file) => {
            body["type"] = json!("file");
            body["file"] =
                json!({"filename": file.filename, "mimeType": file.mime_type, "dataBase64": file.data_base64});
            if let Some(caption) = &file.caption {
                body["text"] = json!(caption);
            }
        }
    }
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| ProviderError::permanent(format!("webhook body could not be encoded: {e}")))
}

/// `[[{label, token, style}]]`, validated: at most [`MAX_BUTTONS`], non-empty labels, tokens
/// of at most 64 bytes without control characters.
fn button_rows(rows: &[Vec<Button>]) -> Result<Value, ProviderError> {
    let count: usize = rows.iter().map(Vec::len).sum();
    if count > MAX_BUTTONS {
        return Err(ProviderError::permanent(format!("{count} buttons; the webhook allows at most {MAX_BUTTONS}")));
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in rows.iter().filter(|row| !row.is_empty()) {
        let mut buttons = Vec::with_capacity(row.len());
        for button in row {
            if button.label.trim().is_empty() {
                return Err(ProviderError::permanent("a button has an empty label"));
            }
            let token = &button.handle;
            if token.is_empty() || token.len() > MAX_BUTTON_TOKEN_BYTES || token.chars().any(char::is_control) {
                return Err(ProviderError::permanent("a button token is empty, too long or has control characters"));
            }
            let style = match button.style {
                ButtonStyle::Default => "default",
                ButtonStyle::Success => "success",
                ButtonStyle::Danger => "danger",
            };
            buttons.push(json!({"label": button.label, "token": token, "style": style}));
        }
        out.push(Value::Array(buttons));
    }
    Ok(Value::Array(out))
}

/// The request headers: JSON, delivery id, idempotency key, and the `v1` signature of `body`
/// at `timestamp` under the signing secret (the secret itself is never sent).
pub(super) fn request_headers(
    delivery_id: &str,
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
) -> Result<HeaderMap, ProviderError> {
    let value = |text: &str| {
        HeaderValue::from_str(text)
            .map_err(|_| ProviderError::permanent("the delivery id is not a valid HTTP header value"))
    };
    let signature = signature::signature_header(secret, SIGNATURE_PREFIX, timestamp, body);
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(HeaderName::from_static(DELIVERY_ID_HEADER), value(delivery_id)?);
    headers.insert(HeaderName::from_static(IDEMPOTENCY_KEY_HEADER), value(delivery_id)?);
    headers.insert(HeaderName::from_static(TIMESTAMP_HEADER), value(timestamp)?);
    headers.insert(HeaderName::from_static(SIGNATURE_HEADER), value(&signature)?);
    Ok(headers)
}

/// Judges the receiver's answer: 2xx succeeds (with `{messageId}` or the delivery id), 429 and
/// 5xx are transient (with `Retry-After`), 401/403 unauthorized, anything else permanent.
pub(super) fn judge_response(
    response: &EgressResponse,
    delivery_id: &str,
    now_unix_secs: u64,
) -> Result<SentMessage, ProviderError> {
    let status = response.status;
    let message = format!("webhook receiver answered HTTP {status}");
    match status {
        200..=299 => {
            let message_id = message_id(&response.body).unwrap_or_else(|| delivery_id.to_owned());
            Ok(SentMessage { message_id })
        }
        429 | 500..=599 => Err(ProviderError::transient(message, retry_after(&response.headers, now_unix_secs))),
        401 | 403 => Err(ProviderError { kind: ProviderErrorKind::Unauthorized, retry_after: None, message }),
        _ => Err(ProviderError::permanent(message)),
    }
}

/// Classifies a failure of the egress call: temporary ones retry, the rest (policy, redirect,
/// oversize response, other transport errors) are permanent.
pub(super) fn egress_failure(error: EgressError) -> ProviderError {
    let message = format!("webhook delivery failed: {error}");
    if error.is_retryable() { ProviderError::transient(message, None) } else { ProviderError::permanent(message) }
}

/// The `messageId` of a JSON answer, when it is a usable id (1 to 512 bytes, no control
/// characters); anything else leaves the delivery id as the message id, since the message was
/// delivered either way.
fn message_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let id = match value.get("messageId")? {
        Value::String(id) => id.trim().to_owned(),
        Value::Number(id) => id.to_string(),
        _ => return None,
    };
    let usable = !id.is_empty() && id.len() <= MAX_MESSAGE_ID_BYTES && !id.chars().any(char::is_control);
    usable.then_some(id)
}

/// `Retry-After` as delay-seconds or an HTTP date (IMF-fixdate), relative to now; a date in
/// the past is zero.
pub fn retry_after(headers: &HeaderMap, now_unix_secs: u64) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value)?;
    Some(Duration::from_secs(at.saturating_sub(now_unix_secs)))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into unix seconds.
fn parse_http_date(text: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (_weekday, rest) = text.split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, clock, "GMT"] = parts.as_slice() else { return None };
    let number = |part: &str, digits: usize| -> Option<u64> {
        (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.parse().ok()).flatten()
    };
    let day = number(day, 2).filter(|d| (1..=31).contains(d))?;
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let year = number(year, 4).filter(|y| *y >= 1970)?;
    let time: Vec<&str> = clock.split(':').collect();
    let [hour, minute, second] = time.as_slice() else { return None };
    let (hour, minute, second) = (number(hour, 2)?, number(minute, 2)?, number(second, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (years from 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_retry_after(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn retry_after_in_seconds_and_as_an_http_date() {
        let now = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(now));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"), Some(951_825_600));
        assert_eq!(retry_after(&with_retry_after("120"), now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(&with_retry_after(" 7 "), now), Some(Duration::from_secs(7)));
        let date = with_retry_after("Sun, 06 Nov 1994 08:50:07 GMT");
        assert_eq!(retry_after(&date, now), Some(Duration::from_secs(30)));
        let past = with_retry_after("Sun, 06 Nov 1994 08:00:00 GMT");
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        for bad in ["soon", "-5", "1.5", "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT", ""] {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(bad).unwrap());
            assert_eq!(retry_after(&headers, now), None, "{bad}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn message_id_is_taken_only_when_usable() {
        assert_eq!(message_id(br#"{"messageId":" m-1 "}"#).as_deref(), Some("m-1"));
        assert_eq!(message_id(br#"{"messageId":42}"#).as_deref(), Some("42"));
        assert_eq!(message_id(br#"{"messageId":"a\u0000b"}"#), None);
        assert_eq!(message_id(format!(r#"{{"messageId":"{}"}}"#, "m".repeat(513)).as_bytes()), None);
        assert_eq!(message_id(br#"{"messageId":""}"#), None);
        assert_eq!(message_id(b"OK"), None);
        assert_eq!(message_id(b""), None);
    }
}
