//! OIDC bearer checks against seeded keys and a test clock: algorithms, signature, issuer,
//! audience, expiry, not-before, email and domains.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

use super::testing::{TestKeys, claims};
use super::*;
use crate::auth::human::{HumanRole, HumanSource};
use crate::clock::ManualClock;

const ISSUER: &str = "https://id.example.com";
const CLIENT: &str = "cowork";
const NOW_MS: i64 = 1_800_000_000_000;
const NOW: i64 = NOW_MS / 1000;

async fn verifier(domains: &[&str]) -> (OidcAuth, ManualClock) {
    let clock = ManualClock::at(NOW_MS);
    let config = OidcConfig {
        issuer: Some(format!("{ISSUER}/")),
        client_id: Some(CLIENT.to_owned()),
        allowed_email_domains: domains.iter().map(|d| (*d).to_owned()).collect(),
    };
    let auth = OidcAuth::new(&config, Arc::new(clock.clone())).expect("verifier");
    auth.seed_keys(&TestKeys::shared().jwks()).await;
    (auth, clock)
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().expect("object") {
        if value.is_null() {
            claims.as_object_mut().expect("object").remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

fn rs256(claims: &Value) -> String {
    TestKeys::shared().sign(Algorithm::RS256, claims)
}

#[tokio::test]
async fn a_valid_token_names_the_person() {
    let (auth, _) = verifier(&[]).await;
    for alg in ALGORITHMS {
        let token = TestKeys::shared().sign(alg, &claims(ISSUER, CLIENT, NOW, "admin"));
        let human = auth.authenticate(&token).await.unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!((human.role, human.source), (HumanRole::Admin, HumanSource::Oidc));
        assert_eq!(human.email, "ada@example.com");
        assert_eq!(human.user_id, claims::user_id(ISSUER, "subject-1"));
        assert_eq!(human.user_id.len(), 32);
        assert_eq!(human.tenant_id, "example.com");
    }
    // A trailing slash on the token's issuer and an audience list are fine; an unknown role is a member.
    let listed = with(claims(ISSUER, CLIENT, NOW, "root"), json!({"iss": format!("{ISSUER}/"), "aud": ["x", CLIENT]}));
    let human = auth.authenticate(&rs256(&listed)).await.expect("valid");
    assert_eq!(human.role, HumanRole::Member);
}

#[test]
fn the_user_id_is_open_coworks() {
    // sha256("https://id.example.com\0subject-1"), first 32 hex digits, computed independently with
    // `printf 'https://id.example.com\0subject-1' | sha256sum`.
    let full = hex::encode(sha2::Sha256::digest(b"https://id.example.com\0subject-1"));
    assert_eq!(claims::user_id(ISSUER, "subject-1"), full[..32]);
    assert_ne!(claims::user_id(ISSUER, "subject-1"), claims::user_id("https://other.example.com", "subject-1"));
}

#[tokio::test]
async fn forged_algorithms_are_refused() {
    let (auth, _) = verifier(&[]).await;
    let good = claims(ISSUER, CLIENT, NOW, "owner");
    let none = TestKeys::unsigned(&good);
    assert!(matches!(auth.authenticate(&none).await, Err(OidcError::Malformed)), "alg none");
    let hs256 = TestKeys::shared().sign_hs256_with_public_key(&good);
    assert!(matches!(auth.authenticate(&hs256).await, Err(OidcError::Algorithm)), "HS256");
    // Signed by another key under the same kid.
    let other = TestKeys::generate().sign(Algorithm::RS256, &good);
    assert!(matches!(auth.authenticate(&other).await, Err(OidcError::Signature)));
    // A tampered payload.
    let token = rs256(&good);
    let mut parts: Vec<&str> = token.split('.').collect();
    let promoted = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(with(good.clone(), json!({"sub": "someone-else"})).to_string());
    parts[1] = &promoted;
    assert!(matches!(auth.authenticate(&parts.join(".")).await, Err(OidcError::Signature)));
    assert!(matches!(auth.authenticate("not.a.jwt").await, Err(OidcError::Malformed)));
}

#[tokio::test]
async fn issuer_audience_and_time_are_checked_with_skew() {
    let (auth, clock) = verifier(&[]).await;
    let good = claims(ISSUER, CLIENT, NOW, "admin");
    let refused = |changes: Value| rs256(&with(good.clone(), changes));
    for (changes, expected) in [
        (json!({"iss": "https://evil.example.com"}), ClaimError::Issuer),
        (json!({"iss": null}), ClaimError::Issuer),
        (json!({"aud": "someone-else"}), ClaimError::Audience),
        (json!({"aud": ["a", "b"]}), ClaimError::Audience),
        (json!({"exp": null}), ClaimError::MissingExpiry),
        (json!({"exp": NOW - 61}), ClaimError::Expired),
        (json!({"nbf": NOW + 61}), ClaimError::NotYetValid),
        (json!({"sub": null}), ClaimError::MissingSubject),
    ] {
        let error = auth.authenticate(&refused(changes.clone())).await.expect_err("refused");
        assert!(matches!(error, OidcError::Claims(found) if found == expected), "{changes}: {error}");
    }
    // Within the 60 s skew both ways.
    assert!(auth.authenticate(&refused(json!({"exp": NOW - 59, "nbf": NOW + 59}))).await.is_ok());
    // The clock decides expiry: the same token fails once time moves past it.
    let token = rs256(&good);
    assert!(auth.authenticate(&token).await.is_ok());
    clock.advance(Duration::from_secs(600 + 61));
    assert!(matches!(auth.authenticate(&token).await, Err(OidcError::Claims(ClaimError::Expired))));
}

#[tokio::test]
async fn email_must_be_verified_and_in_an_allowed_domain() {
    let (auth, _) = verifier(&["example.com"]).await;
    let good = claims(ISSUER, CLIENT, NOW, "member");
    for (changes, expected) in [
        (json!({"email_verified": false}), ClaimError::EmailUnverified),
        (json!({"email_verified": "true"}), ClaimError::EmailUnverified),
        (json!({"email_verified": null}), ClaimError::EmailUnverified),
        (json!({"email": null}), ClaimError::MissingEmail),
        (json!({"email": "eve@evil.example"}), ClaimError::DomainNotAllowed),
        (json!({"email": "eve@sub.example.com"}), ClaimError::DomainNotAllowed),
    ] {
        let error = auth.authenticate(&rs256(&with(good.clone(), changes.clone()))).await.expect_err("refused");
        assert!(matches!(error, OidcError::Claims(found) if found == expected), "{changes}: {error}");
    }
    let upper = with(good, json!({"email": "Ada@EXAMPLE.com", "tid": "tenant-7"}));
    let human = auth.authenticate(&rs256(&upper)).await.expect("domains compare without case");
    assert_eq!(human.tenant_id, "tenant-7");
}

#[tokio::test]
async fn an_unknown_key_id_is_refused() {
    let (auth, _) = verifier(&[]).await;
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some("rotated-away".to_owned());
    let keys = TestKeys::shared();
    let token = keys.sign(Algorithm::RS256, &claims(ISSUER, CLIENT, NOW, "admin"));
    // Re-sign under another kid: the cache lacks it, and the issuer (unreachable here) cannot
    // supply it, so the refusal is a clean error, not a panic or a hang.
    let claims_part = token.split('.').nth(1).expect("payload").to_owned();
    let header_part =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header"));
    let forged = format!("{header_part}.{claims_part}.AAAA");
    let error = auth.authenticate(&forged).await.expect_err("refused");
    assert!(matches!(error, OidcError::UnknownKey | OidcError::Unreachable(_)), "{error}");
}
