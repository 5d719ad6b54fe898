//! The one HMAC-SHA256 request-signature helper of the project, in the `prefix:ts:body` style
//! that both the generic webhook (`v1`) and Slack (`v0`) use:
//! `<prefix>=<lowercase hex HMAC-SHA256(secret, "<prefix>:<timestamp>:<raw body>")>`, with the
//! timestamp in unix seconds and a symmetric window around the receive time. Comparison is
//! constant time ([`subtle`]) and every configured secret is tried (rotation). Schemes that sign
//! several fields with another separator (the cloud's header auth) use [`sign_joined`] and
//! [`verify_joined`].

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// The signature window both Open Cowork and Slack use, in seconds (both ways).
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// The longest timestamp accepted, in digits (unix seconds fit in 11 until the year 5138).
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// Why a signature or its timestamp was refused; [`SignatureError::reason`] is a short,
/// secret-free text for logs and 401 answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The timestamp is not a plain unix-seconds number.
    #[error("invalid timestamp")]
    InvalidTimestamp,
    /// The timestamp is older than the window.
    #[error("timestamp expired")]
    Expired,
    /// The timestamp is further in the future than the window.
    #[error("timestamp in the future")]
    Future,
    /// The signature is not `<prefix>=<64 hex digits>`.
    #[error("malformed signature")]
    Malformed,
    /// No configured secret produces this signature.
    #[error("signature mismatch")]
    Mismatch,
}

impl SignatureError {
    /// The short reason, as a static string.
    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidTimestamp => "invalid timestamp",
            Self::Expired => "timestamp expired",
            Self::Future => "timestamp in the future",
            Self::Malformed => "malformed signature",
            Self::Mismatch => "signature mismatch",
        }
    }
}

/// The raw 32-byte HMAC-SHA256 of `"<prefix>:<timestamp>:<body>"` under `secret`.
pub fn sign_bytes(secret: &[u8], prefix: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    sign_joined(secret, b":", &[prefix.as_bytes(), timestamp.as_bytes(), body])
}

/// The raw 32-byte HMAC-SHA256 of `parts` joined by `separator` under `secret`, for schemes
/// that sign several fields (header auth signs `v1\n<ts>\n<tenant>\n…`).
pub fn sign_joined(secret: &[u8], separator: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            mac.update(separator);
        }
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Verifies a presented `<prefix>=<hex>` value against the HMAC-SHA256 of `parts` joined by
/// `separator` under `secret`, in constant time; returns the signature bytes on a match.
pub fn verify_joined(
    secret: &[u8],
    prefix: &str,
    separator: &[u8],
    parts: &[&[u8]],
    presented: &str,
) -> Result<[u8; 32], SignatureError> {
    let presented = parse_signature(prefix, presented)?;
    let expected = sign_joined(secret, separator, parts);
    if bool::from(expected.ct_eq(&presented)) { Ok(presented) } else { Err(SignatureError::Mismatch) }
}

/// The lowercase hex HMAC-SHA256 of `"<prefix>:<timestamp>:<body>"` under `secret`.
pub fn sign_hex(secret: &[u8], prefix: &str, timestamp: &str, body: &[u8]) -> String {
    hex::encode(sign_bytes(secret, prefix, timestamp, body))
}

/// The full header value `<prefix>=<hex>` for `body` signed at `timestamp`.
pub fn signature_header(secret: &[u8], prefix: &str, timestamp: &str, body: &[u8]) -> String {
    format!("{prefix}={}", sign_hex(secret, prefix, timestamp, body))
}

/// Parses a presented header value `<prefix>=<64 hex digits>` into the 32 signature bytes.
pub fn parse_signature(prefix: &str, presented: &str) -> Result<[u8; 32], SignatureError> {
    let hex_part = presented
        .trim()
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or(SignatureError::Malformed)?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| SignatureError::Malformed)?;
    Ok(bytes)
}

/// Verifies a presented header value against every secret (rotation); returns the signature
/// bytes on a match. All secrets are always tried, each compared in constant time.
pub fn verify<S: AsRef<[u8]>>(
    secrets: &[S],
    prefix: &str,
    timestamp: &str,
    body: &[u8],
    presented: &str,
) -> Result<[u8; 32], SignatureError> {
    let presented = parse_signature(prefix, presented)?;
    let mut matched = Choice::from(0);
    for secret in secrets {
        matched |= sign_bytes(secret.as_ref(), prefix, timestamp, body).ct_eq(&presented);
    }
    if bool::from(matched) { Ok(presented) } else { Err(SignatureError::Mismatch) }
}

/// Parses a unix-seconds timestamp (plain ASCII digits) and checks it lies within
/// `window_secs` of `now_ms` in either direction (edges included); returns the seconds.
pub fn check_timestamp(timestamp: &str, now_ms: i64, window_secs: u64) -> Result<i64, SignatureError> {
    let window_ms = i64::try_from(window_secs).unwrap_or(i64::MAX / 2).saturating_mul(1000);
    check_timestamp_ms(timestamp, now_ms, window_ms)
}

/// [`check_timestamp`] with the window in milliseconds (settings given in ms keep their
/// precision).
pub fn check_timestamp_ms(timestamp: &str, now_ms: i64, window_ms: i64) -> Result<i64, SignatureError> {
    let timestamp = timestamp.trim();
    if timestamp.is_empty() || timestamp.len() > MAX_TIMESTAMP_DIGITS || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SignatureError::InvalidTimestamp);
    }
    let seconds: i64 = timestamp.parse().map_err(|_| SignatureError::InvalidTimestamp)?;
    let age_ms = now_ms.saturating_sub(seconds.saturating_mul(1000));
    if age_ms > window_ms {
        Err(SignatureError::Expired)
    } else if age_ms < -window_ms {
        Err(SignatureError::Future)
    } else {
        Ok(seconds)
    }
}

/// Where a platform puts its timestamp and signature, and its version prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureScheme {
    /// The timestamp header (unix seconds).
    pub timestamp_header: &'static str,
    /// The signature header (`<prefix>=<hex>`).
    pub signature_header: &'static str,
    /// The version prefix (`v1`, `v0`).
    pub prefix: &'static str,
}

impl SignatureScheme {
    /// Verifies a signed request the way both Open Cowork (`v1`) and Slack (`v0`) sign them: the
    /// timestamp header within the window, then `prefix=hex(HMAC(secret, "prefix:ts:body"))` in
    /// the signature header under any of `secrets`. Returns the request's replay key
    /// (`seconds:lowercase hex`, canonical so re-casing a captured signature makes no new key).
    pub fn verify<S: AsRef<[u8]>>(
        &self,
        secrets: &[S],
        headers: &http::HeaderMap,
        body: &[u8],
        received_at_ms: i64,
    ) -> Result<String, crate::InboundError> {
        let unauthorized = |error: SignatureError| crate::InboundError::Unauthorized(error.reason());
        let timestamp = single_header(headers, self.timestamp_header, "missing timestamp", "invalid timestamp")?;
        let presented = single_header(headers, self.signature_header, "missing signature", "malformed signature")?;
        let seconds = check_timestamp(timestamp, received_at_ms, DEFAULT_WINDOW_SECS).map_err(unauthorized)?;
        let signature = verify(secrets, self.prefix, timestamp.trim(), body, presented).map_err(unauthorized)?;
        Ok(format!("{seconds}:{}", hex::encode(signature)))
    }
}

/// One request header as text for signature checks: absent or empty -> `missing`; repeated or
/// not visible ASCII -> `garbled` (both as [`InboundError::Unauthorized`]).
fn single_header<'a>(
    headers: &'a http::HeaderMap,
    name: &str,
    missing: &'static str,
    garbled: &'static str,
) -> Result<&'a str, crate::InboundError> {
    use crate::InboundError::Unauthorized;
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(Unauthorized(missing))?;
    if values.next().is_some() {
        return Err(Unauthorized(garbled));
    }
    let value = value.to_str().map_err(|_| Unauthorized(garbled))?;
    if value.trim().is_empty() {
        return Err(Unauthorized(missing));
    }
    Ok(value)
}

/// Validates configured signing secrets (at least one, none empty, no control characters);
/// errors name `path` (for example `credentials.sharedSecret`) and the index, never the value.
pub fn secret_bytes(values: Vec<String>, path: &str, kind: &str) -> Result<Vec<Vec<u8>>, String> {
    if values.is_empty() {
        return Err(format!("{path} is required for a {kind} provider"));
    }
    let mut secrets = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        if value.is_empty() {
            return Err(format!("{path}[{index}] is empty"));
        }
        if value.chars().any(char::is_control) {
            return Err(format!("{path}[{index}] contains control characters"));
        }
        secrets.push(value.into_bytes());
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed once with `printf 'v1:1700000000:{"hello":"world"}' | openssl dgst -sha256 -hmac s3cret`.
    const KNOWN_HEX: &str = "7eb31e0ae593e6cd33d3487be9464bfb2addeaff0032ce0728d6cf276a7b430b";

    #[test]
    fn known_vector_matches_the_wire_format() {
        let hex = sign_hex(b"s3cret", "v1", "1700000000", br#"{"hello":"world"}"#);
        assert_eq!(hex, KNOWN_HEX);
        let header = signature_header(b"s3cret", "v1", "1700000000", br#"{"hello":"world"}"#);
        assert_eq!(header, format!("v1={KNOWN_HEX}"));
    }

    #[test]
    fn round_trip_and_rotation() {
        let header = signature_header(b"new", "v0", "42", b"body");
        assert!(verify(&["new"], "v0", "42", b"body", &header).is_ok());
        assert!(verify(&["old", "new"], "v0", "42", b"body", &header).is_ok());
        assert_eq!(verify(&["old"], "v0", "42", b"body", &header), Err(SignatureError::Mismatch));
        assert_eq!(verify(&["new"], "v0", "43", b"body", &header), Err(SignatureError::Mismatch));
        assert_eq!(verify(&["new"], "v0", "42", b"body!", &header), Err(SignatureError::Mismatch));
        let upper = header.to_ascii_uppercase().replacen("V0=", "v0=", 1);
        assert!(verify(&["new"], "v0", "42", b"body", &upper).is_ok());
    }

    #[test]
    fn joined_fields_sign_like_the_colon_scheme_and_verify() {
        let parts: [&[u8]; 3] = [b"v1", b"1700000000", br#"{"hello":"world"}"#];
        assert_eq!(hex::encode(sign_joined(b"s3cret", b":", &parts)), KNOWN_HEX);
        let lines: [&[u8]; 3] = [b"v1", b"42", b"x"];
        let header = format!("v1={}", hex::encode(sign_joined(b"k", b"\n", &lines)));
        assert!(verify_joined(b"k", "v1", b"\n", &lines, &header).is_ok());
        assert_eq!(verify_joined(b"k", "v1", b":", &lines, &header), Err(SignatureError::Mismatch));
        assert_eq!(verify_joined(b"other", "v1", b"\n", &lines, &header), Err(SignatureError::Mismatch));
        assert_eq!(verify_joined(b"k", "v1", b"\n", &lines, "v1=zz"), Err(SignatureError::Malformed));
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let good = sign_hex(b"k", "v1", "1", b"");
        for presented in
            ["", "v1=", "v1", &good, &format!("v0={good}"), &format!("v1={}", &good[..62]), &format!("v1={good}00")]
        {
            assert_eq!(verify(&["k"], "v1", "1", b"", presented), Err(SignatureError::Malformed), "{presented}");
        }
        let garbled = format!("v1={}zz", &good[..62]);
        assert_eq!(verify(&["k"], "v1", "1", b"", &garbled), Err(SignatureError::Malformed));
    }

    #[test]
    fn timestamp_window_is_symmetric_and_inclusive() {
        let now_ms = 1_700_000_000_000;
        assert_eq!(check_timestamp("1700000000", now_ms, 300), Ok(1_700_000_000));
        assert!(check_timestamp("1699999700", now_ms, 300).is_ok());
        assert!(check_timestamp("1700000300", now_ms, 300).is_ok());
        assert_eq!(check_timestamp("1699999699", now_ms, 300), Err(SignatureError::Expired));
        assert_eq!(check_timestamp("1700000301", now_ms, 300), Err(SignatureError::Future));
        for bad in ["", "abc", "-5", "+1700000000", "17e8", "1700000000.5", "9999999999999"] {
            assert_eq!(check_timestamp(bad, now_ms, 300), Err(SignatureError::InvalidTimestamp), "{bad}");
        }
    }
}
