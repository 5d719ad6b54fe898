//! Inbound authentication of the mail relay, against the provider's **own configured**
//! `inboundSecret` values only (never a value taken from the request as the expected one):
//!
//! - signed: the generic webhook's `v1` headers (`x-open-cowork-gateway-webhook-timestamp`,
//!   `x-open-cowork-gateway-webhook-signature: v1=<hex HMAC-SHA256(secret, "v1:{ts}:{body}")>`,
//!   300 s window), which bind the body and the time; the replay key is `"{ts}:{sig}"`. When
//!   either header is present the signature alone decides.
//! - otherwise a static secret, as Open Cowork's relays send it: `x-open-cowork-gateway-email-secret:
//!   <secret>` or `Authorization: Bearer <secret>`. It does not bind the body, so such a relay
//!   must reach the gateway over TLS; Message-ID dedupe makes a replay a no-op.
//!
//! Secrets are compared through their SHA-256 digests in constant time ([`subtle`]), every
//! configured secret tried, so neither the value nor its length leaks through timing.

use std::fmt;

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::signature::SignatureScheme;
use crate::webhook::{SIGNATURE_HEADER, SIGNATURE_PREFIX, TIMESTAMP_HEADER};
use crate::{InboundError, InboundRequest};

/// The header a relay puts its static secret in.
pub const SECRET_HEADER: &str = "x-open-cowork-gateway-email-secret";

/// The generic webhook's signature scheme, shared as is.
const SCHEME: SignatureScheme = SignatureScheme {
    timestamp_header: TIMESTAMP_HEADER,
    signature_header: SIGNATURE_HEADER,
    prefix: SIGNATURE_PREFIX,
};

/// The configured `inboundSecret` values. Never printed.
#[derive(Clone)]
pub struct InboundSecrets(Vec<Vec<u8>>);

impl InboundSecrets {
    /// Validates the configured values: at least one, none empty, no control characters.
    pub fn new(values: Vec<String>) -> Result<Self, String> {
        crate::signature::secret_bytes(values, "credentials.inboundSecret", "email").map(Self)
    }

    /// Authenticates a request; returns its replay key when it was signed.
    pub fn authenticate(&self, request: &InboundRequest) -> Result<Option<String>, InboundError> {
        let headers = &request.headers;
        if headers.contains_key(TIMESTAMP_HEADER) || headers.contains_key(SIGNATURE_HEADER) {
            return SCHEME.verify(&self.0, headers, &request.body, request.received_at_ms).map(Some);
        }
        let presented = presented_secret(headers)?;
        let presented = Sha256::digest(presented.as_bytes());
        let mut matched = Choice::from(0);
        for secret in &self.0 {
            matched |= Sha256::digest(secret).as_slice().ct_eq(presented.as_slice());
        }
        if bool::from(matched) { Ok(None) } else { Err(InboundError::Unauthorized("secret mismatch")) }
    }
}

impl fmt::Debug for InboundSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InboundSecrets([redacted; {}])", self.0.len())
    }
}

/// The secret from the email header or the bearer token; exactly one of them, once.
fn presented_secret(headers: &HeaderMap) -> Result<&str, InboundError> {
    use InboundError::Unauthorized;
    let mut found = None;
    for value in headers.get_all(SECRET_HEADER) {
        let value = value.to_str().map_err(|_| Unauthorized("malformed secret"))?.trim();
        found = match found {
            None => Some(value),
            Some(_) => return Err(Unauthorized("malformed secret")),
        };
    }
    for value in headers.get_all(http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| Unauthorized("malformed authorization"))?.trim();
        let (scheme, token) = value.split_once(' ').ok_or(Unauthorized("malformed authorization"))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Unauthorized("unsupported authorization scheme"));
        }
        found = match found {
            None => Some(token.trim()),
            Some(_) => return Err(Unauthorized("malformed secret")),
        };
    }
    found.filter(|secret| !secret.is_empty()).ok_or(Unauthorized("missing secret"))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::HeaderValue;

    use super::*;
    use crate::signature;

    const NOW_MS: i64 = 1_700_000_000_000;

    fn secrets() -> InboundSecrets {
        InboundSecrets::new(vec!["old-secret".into(), "new-secret".into()]).unwrap()
    }

    fn request(headers: &[(&str, &str)]) -> InboundRequest {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        InboundRequest { headers: map, body: Bytes::from_static(b"body"), received_at_ms: NOW_MS }
    }

    fn reason(result: Result<Option<String>, InboundError>) -> &'static str {
        match result {
            Err(InboundError::Unauthorized(reason)) => reason,
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[test]
    fn header_or_bearer_with_any_configured_secret() {
        assert_eq!(secrets().authenticate(&request(&[(SECRET_HEADER, "new-secret")])).unwrap(), None);
        assert_eq!(secrets().authenticate(&request(&[(SECRET_HEADER, " old-secret ")])).unwrap(), None);
        assert_eq!(secrets().authenticate(&request(&[("authorization", "Bearer old-secret")])).unwrap(), None);
        assert_eq!(secrets().authenticate(&request(&[("authorization", "bearer new-secret")])).unwrap(), None);
    }

    #[test]
    fn missing_wrong_or_ambiguous_secrets_are_unauthorized() {
        let s = secrets();
        assert_eq!(reason(s.authenticate(&request(&[]))), "missing secret");
        assert_eq!(reason(s.authenticate(&request(&[(SECRET_HEADER, "")]))), "missing secret");
        assert_eq!(reason(s.authenticate(&request(&[(SECRET_HEADER, "new-secre")]))), "secret mismatch");
        assert_eq!(reason(s.authenticate(&request(&[(SECRET_HEADER, "new-secret!")]))), "secret mismatch");
        assert_eq!(
            reason(s.authenticate(&request(&[("authorization", "Basic bmV3LXNlY3JldA==")]))),
            "unsupported authorization scheme"
        );
        assert_eq!(reason(s.authenticate(&request(&[("authorization", "Bearer")]))), "malformed authorization");
        let doubled = request(&[(SECRET_HEADER, "new-secret"), (SECRET_HEADER, "new-secret")]);
        assert_eq!(reason(s.authenticate(&doubled)), "malformed secret");
        let both = request(&[(SECRET_HEADER, "new-secret"), ("authorization", "Bearer new-secret")]);
        assert_eq!(reason(s.authenticate(&both)), "malformed secret");
    }

    #[test]
    fn v1_signature_authenticates_and_gives_the_replay_key() {
        let header = signature::signature_header(b"new-secret", "v1", "1700000000", b"body");
        let signed = request(&[(TIMESTAMP_HEADER, "1700000000"), (SIGNATURE_HEADER, &header)]);
        let key = secrets().authenticate(&signed).unwrap().unwrap();
        assert_eq!(key, format!("1700000000:{}", &header[3..]));
        let forged = signature::signature_header(b"other", "v1", "1700000000", b"body");
        let bad =
            request(&[(TIMESTAMP_HEADER, "1700000000"), (SIGNATURE_HEADER, &forged), (SECRET_HEADER, "new-secret")]);
        assert_eq!(reason(secrets().authenticate(&bad)), "signature mismatch");
        let half = request(&[(TIMESTAMP_HEADER, "1700000000"), (SECRET_HEADER, "new-secret")]);
        assert_eq!(reason(secrets().authenticate(&half)), "missing signature");
        let stale = request(&[(TIMESTAMP_HEADER, "1699999000"), (SIGNATURE_HEADER, &header)]);
        assert_eq!(reason(secrets().authenticate(&stale)), "timestamp expired");
    }

    #[test]
    fn secrets_are_validated_and_never_printed() {
        assert!(InboundSecrets::new(vec![]).unwrap_err().contains("credentials.inboundSecret"));
        assert!(InboundSecrets::new(vec!["a\nb".into()]).unwrap_err().contains("inboundSecret[0]"));
        assert!(!format!("{:?}", secrets()).contains("secret\""));
        assert!(!format!("{:?}", secrets()).contains("new-secret"));
    }
}
