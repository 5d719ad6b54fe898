//! The admin auth matrix: token forms, wrong and missing tokens, and each condition of the
//! loopback bypass.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::{HeaderMap, HeaderValue};

use super::*;
use crate::config::{GatewayConfig, Storage};

const TOKEN: &str = "s3cret-admin-token-for-tests";

fn config(token: Option<&str>, bypass: bool) -> GatewayConfig {
    let mut config = GatewayConfig::for_tests(Storage::DataDir(PathBuf::from("/tmp")));
    config.operator.admin_token = token.map(|t| Secret::new(t.to_owned()));
    config.operator.allow_loopback_bypass = bypass;
    config
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn loopback() -> Option<SocketAddr> {
    Some("127.0.0.1:50000".parse().unwrap())
}

fn message(result: Result<(), OperatorError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn no_token_and_no_bypass_refuses_everything_saying_why() {
    let auth = AdminAuth::from_config(&config(None, false));
    let text = message(auth.check(&headers(&[("host", "127.0.0.1")]), loopback()));
    assert!(text.contains("admin token is not configured"), "{text}");
    assert!(auth.check(&headers(&[("authorization", "Bearer anything")]), loopback()).is_err());
}

#[test]
fn the_token_is_accepted_as_bearer_or_header() {
    let auth = AdminAuth::from_config(&config(Some(TOKEN), false));
    let remote = Some("203.0.113.9:4000".parse().unwrap());
    assert!(auth.check(&headers(&[("authorization", &format!("Bearer {TOKEN}"))]), remote).is_ok());
    assert!(auth.check(&headers(&[("authorization", &format!("bearer  {TOKEN}"))]), remote).is_ok());
    assert!(auth.check(&headers(&[(ADMIN_TOKEN_HEADER, TOKEN)]), remote).is_ok());
}

#[test]
fn wrong_missing_or_malformed_tokens_are_refused() {
    let auth = AdminAuth::from_config(&config(Some(TOKEN), false));
    let cases = [
        headers(&[]),
        headers(&[("authorization", "Bearer wrong")]),
        headers(&[("authorization", &format!("Basic {TOKEN}"))]),
        headers(&[("authorization", TOKEN)]),
        headers(&[(ADMIN_TOKEN_HEADER, &format!("{TOKEN}x"))]),
        headers(&[(ADMIN_TOKEN_HEADER, "")]),
    ];
    for case in cases {
        assert!(auth.check(&case, loopback()).is_err(), "{case:?}");
    }
}

#[test]
fn bypass_admits_a_plain_local_request() {
    let auth = AdminAuth::from_config(&config(None, true));
    for host in ["127.0.0.1:8790", "localhost", "LOCALHOST:1", "[::1]:8790"] {
        assert!(auth.check(&headers(&[("host", host)]), loopback()).is_ok(), "{host}");
    }
    let v6 = Some("[::1]:5000".parse().unwrap());
    assert!(auth.check(&headers(&[("host", "[::1]")]), v6).is_ok());
}

#[test]
fn any_forwarding_header_defeats_the_bypass() {
    let auth = AdminAuth::from_config(&config(None, true));
    for name in ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"] {
        let request = headers(&[("host", "127.0.0.1"), (name, "127.0.0.1")]);
        let text = message(auth.check(&request, loopback()));
        assert!(text.contains("forwarded"), "{name}: {text}");
    }
}

#[test]
fn bypass_needs_a_loopback_peer_and_host() {
    let auth = AdminAuth::from_config(&config(None, true));
    let local = headers(&[("host", "127.0.0.1")]);
    assert!(auth.check(&local, Some("192.168.1.5:4000".parse().unwrap())).is_err());
    assert!(auth.check(&local, None).is_err(), "an unknown peer fails closed");
    for host in ["gateway.example.com", "127.0.0.1.nip.io", "10.0.0.1:8790"] {
        assert!(auth.check(&headers(&[("host", host)]), loopback()).is_err(), "{host}");
    }
    assert!(auth.check(&headers(&[]), loopback()).is_err(), "no Host header");
}

#[test]
fn bypass_is_off_on_an_exposed_gateway_and_when_a_token_is_set() {
    let mut exposed = config(None, true);
    exposed.public_url = Some("https://gw.example.com".into());
    let auth = AdminAuth::from_config(&exposed);
    assert!(auth.check(&headers(&[("host", "127.0.0.1")]), loopback()).is_err());

    let auth = AdminAuth::from_config(&config(Some(TOKEN), true));
    assert!(auth.check(&headers(&[("host", "127.0.0.1")]), loopback()).is_err(), "the token is required");
}
