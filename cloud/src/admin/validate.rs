//! The shape rules of the admin and channel inputs, answering 400 (never 500) with the field's
//! name: text trimmed and at most 256 characters, JSON blobs at most 16 KiB, known enums, and
//! provider ids as Open Cowork accepts them.

use serde_json::Value;

use crate::api::ApiError;

/// The longest text field, in characters.
pub const MAX_TEXT: usize = 256;

/// The largest JSON blob (settings, metadata), serialized, in bytes.
pub const MAX_JSON_BYTES: usize = 16 * 1024;

/// The providers Open Cowork names, plus `fake` (the gateway's test provider).
const KNOWN_PROVIDERS: [&str; 9] =
    ["telegram", "slack", "email", "discord", "whatsapp", "signal", "webhook", "cli", "fake"];

/// A trimmed, non-empty text of at most [`MAX_TEXT`] characters.
pub fn required_text(field: &str, value: Option<&str>) -> Result<String, ApiError> {
    optional_text(field, value)?.ok_or_else(|| invalid(format!("{field} is required.")))
}

/// A trimmed text of at most [`MAX_TEXT`] characters; empty counts as absent.
pub fn optional_text(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.chars().count() > MAX_TEXT {
        return Err(invalid(format!("{field} must be at most {MAX_TEXT} characters.")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!("{field} must not contain control characters.")));
    }
    Ok(Some(value.to_owned()))
}

/// An id given verbatim (on the command line): 1 to 128 of `A-Z a-z 0-9 . _ : -`.
pub fn verbatim_id(field: &str, value: &str) -> Result<String, ApiError> {
    let ok = (1..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok { Ok(value.to_owned()) } else { Err(invalid(format!("{field} must be 1-128 of A-Z a-z 0-9 . _ : -"))) }
}

/// A provider id: a known provider, or `^[a-z][a-z0-9_-]{1,63}$` with a dash (`slack-prod`).
pub fn provider(value: Option<&str>) -> Result<String, ApiError> {
    let value = required_text("provider", value)?;
    let custom = value.contains('-')
        && (2..=64).contains(&value.len())
        && value.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if KNOWN_PROVIDERS.contains(&value.as_str()) || custom {
        Ok(value)
    } else {
        Err(invalid(format!(
            "provider {value:?} is not supported (use one of {} or a name with a dash such as slack-prod).",
            KNOWN_PROVIDERS.join(", ")
        )))
    }
}

/// One of `allowed`, or `default` when absent.
pub fn one_of(
    field: &str,
    value: Option<&str>,
    allowed: &[&'static str],
    default: &'static str,
) -> Result<String, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(default.to_owned()),
        Some(value) => allowed
            .iter()
            .find(|a| **a == value)
            .map(|a| (*a).to_owned())
            .ok_or_else(|| invalid(format!("{field} must be one of {}.", allowed.join(", ")))),
    }
}

/// A JSON object of at most [`MAX_JSON_BYTES`] serialized, as stored text.
pub fn json_object(field: &str, value: Option<&Value>) -> Result<String, ApiError> {
    match value {
        None | Some(Value::Null) => Ok("{}".to_owned()),
        Some(object @ Value::Object(_)) => {
            let text = object.to_string();
            if text.len() > MAX_JSON_BYTES {
                return Err(invalid(format!("{field} must be at most {MAX_JSON_BYTES} bytes as JSON.")));
            }
            Ok(text)
        }
        Some(_) => Err(invalid(format!("{field} must be a JSON object."))),
    }
}

/// A non-negative integer; absent is refused when `required`.
pub fn non_negative(field: &str, value: Option<i64>, required: bool) -> Result<Option<i64>, ApiError> {
    match value {
        Some(n) if n < 0 => Err(invalid(format!("{field} must be a non-negative integer."))),
        None if required => Err(invalid(format!("{field} must be a non-negative integer."))),
        other => Ok(other),
    }
}

/// An RFC 3339 time, as unix ms.
pub fn instant(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    match value {
        None => Ok(None),
        Some(text) => crate::clock::parse_rfc3339(text)
            .map(Some)
            .ok_or_else(|| invalid(format!("{field} must be an RFC 3339 time."))),
    }
}

/// A list `limit`: 100 by default, at most 500.
pub fn limit(value: Option<&str>) -> Result<u32, ApiError> {
    match value {
        None | Some("") => Ok(100),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n.min(500))
            .ok_or_else(|| invalid("limit must be a positive integer.")),
    }
}

/// A 400 for a field that breaks the rules.
pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("request.invalid_field", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(required_text("name", Some("  a  ")).ok(), Some("a".to_owned()));
        assert!(required_text("name", Some("   ")).is_err());
        assert!(required_text("name", None).is_err());
        assert!(optional_text("name", Some(&"x".repeat(257))).is_err());
        assert!(optional_text("name", Some(&"é".repeat(256))).is_ok());
        assert!(optional_text("name", Some("a\u{0}b")).is_err());
    }

    #[test]
    fn providers_follow_open_coworks_rule() {
        for good in ["slack", "webhook", "fake", "telegram-prod", "slack_eu-1"] {
            assert!(provider(Some(good)).is_ok(), "{good}");
        }
        for bad in ["Slack", "mastodon", "-x", "1-x", "x".repeat(70).as_str(), "slack prod"] {
            assert!(provider(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_blobs_must_be_small_objects() {
        assert_eq!(json_object("settings", None).ok(), Some("{}".to_owned()));
        assert!(json_object("settings", Some(&json!([1]))).is_err());
        assert!(json_object("settings", Some(&json!({"a": "x".repeat(MAX_JSON_BYTES)}))).is_err());
        assert!(limit(Some("0")).is_err());
        assert!(limit(Some("x")).is_err());
        assert_eq!(limit(Some("9999")).ok(), Some(500));
        assert!(non_negative("n", Some(-1), false).is_err());
        assert!(non_negative("n", None, true).is_err());
        assert_eq!(non_negative("n", None, false).ok(), Some(None));
    }
}
