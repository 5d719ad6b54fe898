//! Inbound authentication of Slack requests: `X-Slack-Request-Timestamp` within 300 s both ways
//! and `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:{ts}:{raw body}")>` under any
//! configured signing secret, compared in constant time (through [`crate::signature`]).

use crate::signature;

/// The timestamp header (unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// The signature header (`v0=<hex>`).
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The signature version prefix.
pub const SIGNATURE_PREFIX: &str = "v0";

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
    const BODY: &[u8] = br#"{"type":"url_verification","challenge":"abc"}"#;

    /// Slack's own worked example (api.slack.com/authentication/verifying-requests-from-slack),
    /// checked once with `printf 'v0:1531420618:<body>' | openssl dgst -sha256 -hmac <secret>`.
    const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TIMESTAMP: &str = "1531420618";
    const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn signed(secret: &str, ts: &str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(ts).unwrap());
        let signature = signature::signature_header(secret.as_bytes(), "v0", ts, body);
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
    fn slacks_documented_example_verifies() {
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_static(DOC_TIMESTAMP));
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_static(DOC_SIGNATURE));
        let signed_at_ms = 1_531_420_618_000;
        assert!(SCHEME.verify(&[DOC_SECRET], &headers, DOC_BODY.as_bytes(), signed_at_ms).is_ok());
        let computed = signature::signature_header(DOC_SECRET.as_bytes(), "v0", DOC_TIMESTAMP, DOC_BODY.as_bytes());
        assert_eq!(computed, DOC_SIGNATURE);
        // The same request five minutes and one second later is stale.
        let late = SCHEME.verify(&[DOC_SECRET], &headers, DOC_BODY.as_bytes(), signed_at_ms + 301_000);
        assert_eq!(reason(late), "timestamp expired");
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
        let garbled_ts = signed("s", "17e8", BODY);
        assert_eq!(reason(SCHEME.verify(&["s"], &garbled_ts, BODY, NOW_MS)), "invalid timestamp");
        for garbled in ["v0=xyz", "v1=00", "sha256=ab", "v0="] {
            let mut headers = good.clone();
            headers.insert(SIGNATURE_HEADER, HeaderValue::from_static(garbled));
            assert_eq!(reason(SCHEME.verify(&["s"], &headers, BODY, NOW_MS)), "malformed signature", "{garbled}");
        }
        let mut doubled = good.clone();
        doubled.append(SIGNATURE_HEADER, good[SIGNATURE_HEADER].clone());
        assert_eq!(reason(SCHEME.verify(&["s"], &doubled, BODY, NOW_MS)), "malformed signature");
        assert_eq!(reason(SCHEME.verify(&["s"], &good, b"{}", NOW_MS)), "signature mismatch");
        let wrong_secret = signed("other", "1700000000", BODY);
        assert_eq!(reason(SCHEME.verify(&["s"], &wrong_secret, BODY, NOW_MS)), "signature mismatch");
    }
}
