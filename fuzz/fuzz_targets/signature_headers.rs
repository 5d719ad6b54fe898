//! Signature and timestamp headers: `providers/src/signature.rs` and the schemes of
//! `webhook/verify.rs` (`v1`, `x-open-cowork-gateway-webhook-*`) and `slack/verify.rs` (`v0`,
//! `x-slack-*`), plus the email relay's static secret (`email/auth.rs`) through
//! `EmailProvider::parse_inbound`.
//!
//! Input: one mode byte, then `timestamp header value \n signature header value \n body`.
//!
//! Invariants (the oracle is an HMAC computed here with the `hmac` crate):
//! - arbitrary header values never panic, and a request verifies only if its timestamp is 1 to
//!   12 ASCII digits within 300 s of the receive time and its signature is
//!   `<prefix>=<hex HMAC(secret, "<prefix>:<ts>:<body>")>` for a configured secret; the replay
//!   key is then `"<seconds>:<lowercase hex>"`;
//! - the right signature for the fuzzed timestamp and body verifies exactly when the timestamp
//!   is valid (any hex case, surrounding blanks); another secret, one flipped signature bit, or
//!   the header sent twice is refused;
//! - `check_timestamp`, `parse_signature`, `verify` and `verify_joined` agree with the oracle;
//! - the email relay authenticates with a static secret exactly when the secret header (or the
//!   bearer token) is, trimmed, one of the configured secrets.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use cowork_fuzz::{fields, flip_bit, hmac_sha256, platform_signature, signature_value};
use cowork_providers::email::{EmailCredentials, EmailProvider, EmailSettings, SECRET_HEADER};
use cowork_providers::signature::{
    self, SignatureError, SignatureScheme, check_timestamp, parse_signature, verify, verify_joined,
};
use cowork_providers::{ChannelProvider, InboundError, InboundRequest, ProviderId, slack, webhook};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

const SECRETS: [&str; 2] = ["fuzz-secret-new", "fuzz-secret-old"];
const WINDOW_MS: i64 = 300_000;
const DEFAULT_NOW_MS: i64 = 1_700_000_000_000;

const SCHEMES: [SignatureScheme; 2] = [
    SignatureScheme {
        timestamp_header: webhook::TIMESTAMP_HEADER,
        signature_header: webhook::SIGNATURE_HEADER,
        prefix: webhook::SIGNATURE_PREFIX,
    },
    SignatureScheme {
        timestamp_header: slack::TIMESTAMP_HEADER,
        signature_header: slack::SIGNATURE_HEADER,
        prefix: slack::SIGNATURE_PREFIX,
    },
];

static EMAIL: LazyLock<EmailProvider> = LazyLock::new(|| {
    let settings =
        EmailSettings::from_json(&json!({"from": "agent@cowork.example.com", "smtpHost": "smtp.example.com"}))
            .expect("settings");
    let credentials = EmailCredentials { inbound_secrets: SECRETS.map(str::to_owned).to_vec(), smtp_password: None };
    EmailProvider::new(ProviderId::new("fuzz-mail"), credentials, settings, Duration::from_secs(5)).expect("provider")
});

/// The documented timestamp rule: 1 to 12 ASCII digits (blanks around ignored) within the window.
fn oracle_timestamp(ts: &str, now_ms: i64) -> Option<i64> {
    let ts = ts.trim();
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = ts.parse().ok()?;
    let age = now_ms - seconds * 1000;
    (-WINDOW_MS..=WINDOW_MS).contains(&age).then_some(seconds)
}

/// The documented signature form: `<prefix>=` and 64 hex digits (either case), blanks around.
fn oracle_signature(prefix: &str, presented: &str) -> Option<[u8; 32]> {
    let hex_part = presented.trim().strip_prefix(prefix)?.strip_prefix('=')?;
    if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

fn headers(scheme: &SignatureScheme, ts: Option<HeaderValue>, sig: Option<HeaderValue>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(ts) = ts {
        headers.insert(scheme.timestamp_header, ts);
    }
    if let Some(sig) = sig {
        headers.insert(scheme.signature_header, sig);
    }
    headers
}

fn unauthorized(result: Result<String, InboundError>, what: &str) -> &'static str {
    match result {
        Err(InboundError::Unauthorized(reason)) => reason,
        other => panic!("{what}: expected Unauthorized, got {other:?}"),
    }
}

/// Arbitrary header values: accepted only when the oracle accepts, with the documented key.
fn arbitrary_headers(scheme: &SignatureScheme, ts_raw: &[u8], sig_raw: &[u8], body: &[u8], now_ms: i64) {
    let ts = HeaderValue::from_bytes(ts_raw).ok();
    let sig = HeaderValue::from_bytes(sig_raw).ok();
    let map = headers(scheme, ts.clone(), sig.clone());
    let result = scheme.verify(&SECRETS, &map, body, now_ms);
    let (Some(ts), Some(sig)) = (ts, sig) else {
        unauthorized(result, "a missing header");
        return;
    };
    let expected = (|| {
        let ts_text = ts.to_str().ok()?;
        let seconds = oracle_timestamp(ts_text, now_ms)?;
        let presented = oracle_signature(scheme.prefix, sig.to_str().ok()?)?;
        SECRETS
            .iter()
            .any(|secret| platform_signature(secret.as_bytes(), scheme.prefix, ts_text.trim(), body) == presented)
            .then(|| format!("{seconds}:{}", hex::encode(presented)))
    })();
    match (result, expected) {
        (Ok(key), Some(expected)) => assert_eq!(key, expected),
        (Err(InboundError::Unauthorized(_)), None) => {}
        (result, expected) => panic!("verify gave {result:?}, the oracle {expected:?}"),
    }
}

/// The right signature for the fuzzed timestamp: verifies exactly when the timestamp is valid.
fn signed_headers(scheme: &SignatureScheme, ts_raw: &[u8], body: &[u8], now_ms: i64, mode: u8) {
    let Ok(ts) = HeaderValue::from_bytes(ts_raw) else { return };
    let Ok(ts_text) = ts.to_str() else { return };
    let secret = SECRETS[usize::from(mode & 1)];
    let signature = platform_signature(secret.as_bytes(), scheme.prefix, ts_text.trim(), body);
    let mut value = signature_value(scheme.prefix, &signature);
    if mode & 2 != 0 {
        value = format!("{}={}", scheme.prefix, hex::encode_upper(signature));
    }
    if mode & 4 != 0 {
        value = format!(" {value}\t");
    }
    let sig = HeaderValue::from_str(&value).expect("a signature header value");
    let map = headers(scheme, Some(ts.clone()), Some(sig.clone()));
    let result = scheme.verify(&SECRETS, &map, body, now_ms);
    let Some(seconds) = oracle_timestamp(ts_text, now_ms) else {
        let reason = unauthorized(result, "an invalid timestamp");
        assert!(
            matches!(
                reason,
                "invalid timestamp" | "missing timestamp" | "timestamp expired" | "timestamp in the future"
            ),
            "{reason}"
        );
        return;
    };
    assert_eq!(result.expect("the right signature verifies"), format!("{seconds}:{}", hex::encode(signature)));

    let wrong = platform_signature(b"another-secret", scheme.prefix, ts_text.trim(), body);
    let map = headers(scheme, Some(ts.clone()), HeaderValue::from_str(&signature_value(scheme.prefix, &wrong)).ok());
    assert_eq!(unauthorized(scheme.verify(&SECRETS, &map, body, now_ms), "wrong secret"), "signature mismatch");
    let flipped = flip_bit(&signature, body.len() + usize::from(mode) * 7);
    let map = headers(scheme, Some(ts.clone()), HeaderValue::from_str(&signature_value(scheme.prefix, &flipped)).ok());
    assert_eq!(unauthorized(scheme.verify(&SECRETS, &map, body, now_ms), "flipped bit"), "signature mismatch");
    let mut doubled = headers(scheme, Some(ts), Some(sig.clone()));
    doubled.append(scheme.signature_header, sig);
    assert_eq!(unauthorized(scheme.verify(&SECRETS, &doubled, body, now_ms), "doubled"), "malformed signature");
}

/// The helpers of `signature.rs` on the raw texts.
fn helpers(ts: &str, sig: &str, body: &[u8], now_ms: i64) {
    match (check_timestamp(ts, now_ms, 300), oracle_timestamp(ts, now_ms)) {
        (Ok(a), Some(b)) => assert_eq!(a, b),
        (Err(_), None) => {}
        (a, b) => panic!("check_timestamp({ts:?}) = {a:?}, the oracle {b:?}"),
    }
    for prefix in ["v1", "v0"] {
        let parsed = parse_signature(prefix, sig);
        assert_eq!(parsed.ok(), oracle_signature(prefix, sig), "parse_signature({prefix}, {sig:?})");
        if let Ok(bytes) = parsed {
            let matches = SECRETS.iter().any(|secret| platform_signature(secret.as_bytes(), prefix, ts, body) == bytes);
            assert_eq!(verify(&SECRETS, prefix, ts, body, sig).is_ok(), matches);
            assert_eq!(
                signature::sign_bytes(SECRETS[0].as_bytes(), prefix, ts, body),
                platform_signature(SECRETS[0].as_bytes(), prefix, ts, body)
            );
        } else {
            assert_eq!(verify(&SECRETS, prefix, ts, body, sig), Err(SignatureError::Malformed));
        }
    }
    // `verify_joined` over the body's lines, newline-joined (the cloud's header auth form).
    let parts: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    let good = hmac_sha256(SECRETS[0].as_bytes(), body);
    let presented = signature_value("v1", &good);
    assert_eq!(verify_joined(SECRETS[0].as_bytes(), "v1", b"\n", &parts, &presented), Ok(good));
    let flipped = signature_value("v1", &flip_bit(&good, body.len()));
    assert_eq!(verify_joined(SECRETS[0].as_bytes(), "v1", b"\n", &parts, &flipped), Err(SignatureError::Mismatch));
    let joined = verify_joined(SECRETS[0].as_bytes(), "v1", b"\n", &parts, sig);
    let expected = oracle_signature("v1", sig).map(|bytes| bytes == good);
    match (joined, expected) {
        (Ok(_), Some(true)) | (Err(SignatureError::Mismatch), Some(false)) | (Err(SignatureError::Malformed), None) => {
        }
        (joined, expected) => panic!("verify_joined({sig:?}) = {joined:?}, the oracle {expected:?}"),
    }
}

/// The email relay's static secret: accepted exactly when the presented secret is configured.
fn email_secret(raw: &[u8], mode: u8) {
    let Ok(value) = HeaderValue::from_bytes(raw) else { return };
    let bearer = mode & 8 != 0;
    let name = if bearer { http::header::AUTHORIZATION.as_str() } else { SECRET_HEADER };
    let presented = value.to_str().ok().map(str::trim).and_then(|v| {
        if !bearer {
            return Some(v);
        }
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let expected = presented.is_some_and(|p| SECRETS.contains(&p));
    for (value, expected) in [
        (value, expected),
        (
            HeaderValue::from_str(&format!(
                "{} {} ",
                if bearer { "Bearer" } else { "" },
                SECRETS[usize::from(mode & 1)]
            ))
            .expect("value"),
            true,
        ),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        let request = InboundRequest { headers, body: Bytes::new(), received_at_ms: DEFAULT_NOW_MS };
        let authenticated = !matches!(EMAIL.parse_inbound(&request), Err(InboundError::Unauthorized(_)));
        assert_eq!(authenticated, expected, "email secret in {name}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let (parts, body) = fields(rest, 2);
    let (ts_raw, sig_raw) = (parts[0], parts[1]);
    let ts_text = String::from_utf8_lossy(ts_raw);
    // Around the timestamp when it is one, so both sides of the window edges get exercised.
    let offset_ms = i64::from(mode as i8) * 3_000;
    let now_ms = match ts_text.trim().parse::<i64>() {
        Ok(seconds) if (0..1_000_000_000_000).contains(&seconds) => seconds * 1000 + offset_ms,
        _ => DEFAULT_NOW_MS + offset_ms,
    };
    for scheme in &SCHEMES {
        arbitrary_headers(scheme, ts_raw, sig_raw, body, now_ms);
        signed_headers(scheme, ts_raw, body, now_ms, mode);
    }
    helpers(&ts_text, &String::from_utf8_lossy(sig_raw), body, now_ms);
    email_secret(sig_raw, mode);
});
