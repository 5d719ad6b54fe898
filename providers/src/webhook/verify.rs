//! Inbound authentication of the generic webhook: the
//! `x-open-cowork-gateway-webhook-timestamp` / `-signature` headers, `v1=` HMAC-SHA256 over
//! `"v1:{ts}:{raw body}"` under any configured secret, a 300 s window both ways, and the replay
//! key `"{ts}:{signature hex}"` the gateway remembers for the window.

use crate::signature;

/// The timestamp header (unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-open-cowork-gateway-webhook-timestamp";
/// The signature header (`v1=<hex>`).
pub const SIGNATURE_HEADER: &str = "x-open-cowork-gateway-webhook-signature";
/// The signature version prefix.
pub const SIGNATURE_PREFIX: &str = "v1";

/// The scheme: these headers and this prefix.
pub(super) const SCHEME: signature::SignatureScheme = signature::SignatureScheme {
    timestamp_header: TIMESTAMP_HEADER,
    signature_header: SIGNATURE_HEADER,
    prefix: SIGNATURE_PREFIX,
};

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    use crate::InboundError;

    const NOW_MS: i64 = 1_700_000_000_000;
    const BODY: &[u8] = br#"{"target":{"chatId":"c"},"sender":{"userId":"u"},"text":"hi"}"#;

    fn signed(secret: &str, ts: &str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(ts).unwrap());
        let signature = signature::signature_header(secret.as_bytes(), "v1", ts, body);
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).unwrap());
        headers
    }

    fn reason(result: Result<String, InboundError>) -> &'static str {
        match result {
            Err(InboundError::Unauthorized(reason)) => reason,
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[test]
    fn valid_request_yields_the_replay_key() {
        let headers = signed("s1", "1700000000", BODY);
        let key = SCHEME.verify(&["s1"], &headers, BODY, NOW_MS).unwrap();
        let hex = signature::sign_hex(b"s1", "v1", "1700000000", BODY);
        assert_eq!(key, format!("1700000000:{hex}"));
        assert_eq!(key.len(), "1700000000:".len() + 64);
    }

    #[test]
    fn uppercase_hex_gives_the_same_replay_key() {
        let mut headers = signed("s1", "1700000000", BODY);
        let lower = SCHEME.verify(&["s1"], &headers, BODY, NOW_MS).unwrap();
        let upper = headers[SIGNATURE_HEADER].to_str().unwrap().to_ascii_uppercase().replacen("V1=", "v1=", 1);
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&upper).unwrap());
        assert_eq!(SCHEME.verify(&["s1"], &headers, BODY, NOW_MS).unwrap(), lower);
    }

    #[test]
    fn any_configured_secret_verifies() {
        let headers = signed("old", "1700000000", BODY);
        assert!(SCHEME.verify(&["new", "old"], &headers, BODY, NOW_MS).is_ok());
        assert_eq!(reason(SCHEME.verify(&["new"], &headers, BODY, NOW_MS)), "signature mismatch");
    }

    #[test]
    fn window_edges() {
        for (ts, ok) in [("1699999700", true), ("1700000300", true), ("1699999699", false), ("1700000301", false)] {
            let headers = signed("s", ts, BODY);
            assert_eq!(SCHEME.verify(&["s"], &headers, BODY, NOW_MS).is_ok(), ok, "{ts}");
        }
        let expired = signed("s", "1699999699", BODY);
        assert_eq!(reason(SCHEME.verify(&["s"], &expired, BODY, NOW_MS)), "timestamp expired");
        let future = signed("s", "1700000301", BODY);
        assert_eq!(reason(SCHEME.verify(&["s"], &future, BODY, NOW_MS)), "timestamp in the future");
    }

    #[test]
    fn every_bad_auth_case_is_unauthorized() {
        let good = signed("s", "1700000000", BODY);
        let mut no_ts = good.clone();
        no_ts.remove(TIMESTAMP_HEADER);
        assert_eq!(reason(SCHEME.verify(&["s"], &no_ts, BODY, NOW_MS)), "missing timestamp");
        let mut no_sig = good.clone();
        no_sig.remove(SIGNATURE_HEADER);
        assert_eq!(reason(SCHEME.verify(&["s"], &no_sig, BODY, NOW_MS)), "missing signature");
        for garbled_ts in ["abc", "17000000.5", "-1700000000", "0x6553f100"] {
            let headers = signed("s", garbled_ts, BODY);
            assert_eq!(reason(SCHEME.verify(&["s"], &headers, BODY, NOW_MS)), "invalid timestamp", "{garbled_ts}");
        }
        for garbled_sig in ["v1=xyz", "sha256=00", "v0=abcd", "v1="] {
            let mut headers = good.clone();
            headers.insert(SIGNATURE_HEADER, HeaderValue::from_static(garbled_sig));
            assert_eq!(reason(SCHEME.verify(&["s"], &headers, BODY, NOW_MS)), "malformed signature", "{garbled_sig}");
        }
        let mut non_ascii = good.clone();
        non_ascii.insert(SIGNATURE_HEADER, HeaderValue::from_bytes(b"v1=\xff").unwrap());
        assert_eq!(reason(SCHEME.verify(&["s"], &non_ascii, BODY, NOW_MS)), "malformed signature");
        let mut doubled = good.clone();
        doubled.append(SIGNATURE_HEADER, good[SIGNATURE_HEADER].clone());
        assert_eq!(reason(SCHEME.verify(&["s"], &doubled, BODY, NOW_MS)), "malformed signature");
        let tampered = br#"{"target":{"chatId":"c"},"sender":{"userId":"u"},"text":"hI"}"#;
        assert_eq!(reason(SCHEME.verify(&["s"], &good, tampered, NOW_MS)), "signature mismatch");
        let wrong_secret = signed("other", "1700000000", BODY);
        assert_eq!(reason(SCHEME.verify(&["s"], &wrong_secret, BODY, NOW_MS)), "signature mismatch");
    }
}
