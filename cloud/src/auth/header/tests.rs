//! Header auth: valid, wrong, stale, replayed and unsigned headers.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

use super::*;
use crate::clock::ManualClock;

const KEY: &str = "0123456789abcdef0123456789abcdef";
const NOW_MS: i64 = 1_800_000_000_000;

fn verifier(secret: Option<&str>) -> (HeaderAuth, ManualClock) {
    let clock = ManualClock::at(NOW_MS);
    let config = HeaderAuthConfig {
        secret: secret.map(|s| Secret::new(s.to_owned())),
        max_signature_age: Duration::from_secs(300),
        allow_unsigned: false,
    };
    (HeaderAuth::new(&config, Arc::new(clock.clone())), clock)
}

fn identity(role: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (TENANT_ID, "default"),
        (TENANT_NAME, "Acme"),
        (USER_ID, "u-1"),
        (USER_EMAIL, "ada@example.com"),
        (USER_ROLE, role),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    headers
}

fn signed(role: &str, timestamp: i64, key: &str) -> HeaderMap {
    let mut headers = identity(role);
    let ts = timestamp.to_string();
    let signature = sign(key.as_bytes(), &ts, ["default", "Acme", "u-1", "ada@example.com", role]);
    headers.insert(TIMESTAMP, HeaderValue::from_str(&ts).unwrap());
    headers.insert(SIGNATURE, HeaderValue::from_str(&signature).unwrap());
    headers
}

#[test]
fn signed_headers_name_the_person() {
    let (auth, _) = verifier(Some(KEY));
    let human = auth.authenticate(&signed("admin", NOW_MS / 1000, KEY)).expect("valid");
    assert_eq!((human.user_id.as_str(), human.email.as_str()), ("u-1", "ada@example.com"));
    assert_eq!(
        (human.role, human.source, human.tenant_id.as_str()),
        (HumanRole::Admin, HumanSource::Header, "default")
    );
}

#[test]
fn the_signature_matches_the_documented_string() {
    // HMAC-SHA256("k", "v1\n1\nt\nn\nu\ne\nmember"), computed independently with
    // `printf 'v1\n1\nt\nn\nu\ne\nmember' | openssl dgst -sha256 -hmac k`.
    let expected = cowork_providers::signature::sign_joined(b"k", b"", &[b"v1\n1\nt\nn\nu\ne\nmember"]);
    assert_eq!(sign(b"k", "1", ["t", "n", "u", "e", "member"]), format!("v1={}", hex::encode(expected)));
}

#[test]
fn a_wrong_signature_or_secret_is_refused() {
    let (auth, _) = verifier(Some(KEY));
    let forged = signed("owner", NOW_MS / 1000, "another-secret-another-secret-xx");
    assert_eq!(auth.authenticate(&forged), Err(HeaderAuthError::Signature(SignatureError::Mismatch)));
    // The fields are signed: changing the role after signing breaks it.
    let mut promoted = signed("member", NOW_MS / 1000, KEY);
    promoted.insert(USER_ROLE, HeaderValue::from_static("owner"));
    assert_eq!(auth.authenticate(&promoted), Err(HeaderAuthError::Signature(SignatureError::Mismatch)));
    let mut unsigned = identity("member");
    assert_eq!(auth.authenticate(&unsigned), Err(HeaderAuthError::MissingSignature));
    unsigned.insert(TIMESTAMP, HeaderValue::from_static("1800000000"));
    unsigned.insert(SIGNATURE, HeaderValue::from_static("v1=zz"));
    assert_eq!(auth.authenticate(&unsigned), Err(HeaderAuthError::Signature(SignatureError::Malformed)));
    // Open Cowork's secret header is optional, but checked when sent.
    let mut with_secret = signed("member", NOW_MS / 1000, KEY);
    with_secret.insert(SECRET, HeaderValue::from_static("not-the-secret"));
    assert_eq!(auth.authenticate(&with_secret), Err(HeaderAuthError::SecretMismatch));
    with_secret.insert(SECRET, HeaderValue::from_static(KEY));
    assert!(auth.authenticate(&with_secret).is_ok());
}

#[test]
fn stale_or_future_timestamps_are_refused() {
    let (auth, clock) = verifier(Some(KEY));
    let headers = signed("admin", NOW_MS / 1000, KEY);
    clock.advance(Duration::from_secs(301));
    assert_eq!(auth.authenticate(&headers), Err(HeaderAuthError::Signature(SignatureError::Expired)));
    let future = signed("admin", NOW_MS / 1000 + 301 + 301, KEY);
    assert_eq!(auth.authenticate(&future), Err(HeaderAuthError::Signature(SignatureError::Future)));
}

#[test]
fn a_signature_is_accepted_once() {
    let (auth, clock) = verifier(Some(KEY));
    let headers = signed("admin", NOW_MS / 1000, KEY);
    assert!(auth.authenticate(&headers).is_ok());
    clock.advance(Duration::from_secs(10));
    assert_eq!(auth.authenticate(&headers), Err(HeaderAuthError::Replay(ReplayError::Replayed)));
    // A fresh signature of the same person is another request.
    assert!(auth.authenticate(&signed("admin", NOW_MS / 1000 + 10, KEY)).is_ok());
    // A forgery is not remembered (it cannot crowd out real signatures).
    let before = auth.replays.len();
    let _ = auth.authenticate(&signed("admin", NOW_MS / 1000 + 10, "another-secret-another-secret-xx"));
    assert_eq!(auth.replays.len(), before);
}

#[test]
fn unknown_roles_and_missing_ids_are_refused() {
    let (auth, _) = verifier(Some(KEY));
    assert_eq!(auth.authenticate(&signed("root", NOW_MS / 1000, KEY)), Err(HeaderAuthError::UnknownRole));
    assert_eq!(auth.authenticate(&signed("Owner", NOW_MS / 1000, KEY)), Err(HeaderAuthError::UnknownRole));
    let mut headers = signed("admin", NOW_MS / 1000, KEY);
    headers.remove(USER_ID);
    assert_eq!(auth.authenticate(&headers), Err(HeaderAuthError::MissingIdentity));
    let mut doubled = signed("admin", NOW_MS / 1000, KEY);
    doubled.append(USER_ROLE, HeaderValue::from_static("member"));
    assert_eq!(auth.authenticate(&doubled), Err(HeaderAuthError::Garbled));
}

#[test]
fn unsigned_headers_only_ever_name_members() {
    let (auth, _) = verifier(None);
    assert!(!auth.signed());
    assert_eq!(auth.authenticate(&identity("owner")), Err(HeaderAuthError::UnsignedPrivileged));
    assert_eq!(auth.authenticate(&identity("admin")), Err(HeaderAuthError::UnsignedPrivileged));
    let member = auth.authenticate(&identity("member")).expect("a member");
    assert_eq!(member.role, HumanRole::Member);
    // A signature does not promote unsigned mode's headers: there is no key to check it with.
    assert_eq!(auth.authenticate(&signed("owner", NOW_MS / 1000, KEY)), Err(HeaderAuthError::UnsignedPrivileged));
}
