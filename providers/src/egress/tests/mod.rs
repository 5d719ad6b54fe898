//! Tests of the egress policy: shared fixtures, allowed cases, `explain`, allowlist patterns,
//! address classes and operator endpoints. The hostile-URL table is in `hostile.rs`, the real
//! HTTP POSTs against a local server in `post.rs`. DNS is never used: every resolver is static.

mod hostile;
mod post;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::address::{AddressClass, classify, embedded_ipv4};
use super::resolve::classify_system_error;
use super::*;

pub(super) const PUBLIC_IP: &str = "93.184.216.34";

pub(super) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or_else(|error| panic!("{text}: {error}"))
}

/// The resolver every policy test shares.
pub(super) fn fixture_resolver() -> StaticResolver {
    StaticResolver::new([
        ("hooks.example.com", vec![ip(PUBLIC_IP)]),
        ("a.b.example.com", vec![ip(PUBLIC_IP)]),
        ("xn--bcher-kva.example.com", vec![ip(PUBLIC_IP)]),
        ("hooks.xn--bcher-kva.de", vec![ip(PUBLIC_IP)]),
        ("example.com", vec![ip(PUBLIC_IP)]),
        ("dual.example.com", vec![ip(PUBLIC_IP), ip("2606:4700::1111")]),
        ("private.test", vec![ip("10.0.0.5")]),
        ("mixed.test", vec![ip(PUBLIC_IP), ip("10.0.0.5")]),
        ("loopback.test", vec![ip("127.0.0.1")]),
        ("mixed-loop.test", vec![ip("127.0.0.1"), ip("10.0.0.5")]),
        ("public-loop.test", vec![ip("127.0.0.1"), ip(PUBLIC_IP)]),
        ("empty.test", vec![]),
        ("meta.test", vec![ip("169.254.169.254")]),
        ("meta6.test", vec![ip("fd00:ec2::254")]),
        ("meta-mixed.test", vec![ip(PUBLIC_IP), ip("::ffff:169.254.169.254")]),
        ("mapped.test", vec![ip("::ffff:10.0.0.1")]),
        ("teredo.test", vec![ip("2001:0:4136:e378:8000:63bf:80ff:fffe")]),
        ("localhost", vec![ip("127.0.0.1"), ip("::1")]),
    ])
    .with_error("flaky.test", ResolveError::Temporary("SERVFAIL".into()))
}

pub(super) fn egress() -> Egress {
    Egress::new(Arc::new(fixture_resolver()), Duration::from_secs(5))
}

/// No allowlist, no private delivery.
pub(super) fn open() -> EgressRules {
    EgressRules::default()
}

/// No allowlist, private delivery allowed.
pub(super) fn private() -> EgressRules {
    EgressRules { allow_private: true, allowed_hosts: Vec::new() }
}

/// Only these hosts, no private delivery.
pub(super) fn only(hosts: &[&str]) -> EgressRules {
    EgressRules { allow_private: false, allowed_hosts: hosts.iter().map(|host| host.to_string()).collect() }
}

async fn allowed(url: &str, rules: &EgressRules) -> CheckedUrl {
    match egress().check(url, rules).await {
        Ok(checked) => checked,
        Err(error) => panic!("{url} should be allowed, got {error}"),
    }
}

#[tokio::test]
async fn egress_allows_public_https_with_public_answers() {
    let checked = allowed("https://hooks.example.com/path?q=1", &open()).await;
    assert_eq!(checked.host(), "hooks.example.com");
    assert_eq!(checked.addresses(), [format!("{PUBLIC_IP}:443").parse().unwrap()]);
    assert_eq!(checked.url().as_str(), "https://hooks.example.com/path?q=1");

    let dual = allowed("https://dual.example.com:8443/", &open()).await;
    assert_eq!(dual.addresses().len(), 2);
    assert!(dual.addresses().iter().all(|addr| addr.port() == 8443));

    let v6 = allowed("https://[2606:4700::1111]/", &open()).await;
    assert_eq!(v6.host(), "2606:4700::1111");
    assert_eq!(allowed("https://8.8.8.8/", &open()).await.addresses(), ["8.8.8.8:443".parse().unwrap()]);
}

#[tokio::test]
async fn egress_allows_allowlisted_hosts() {
    let wildcard = only(&["*.example.com"]);
    allowed("https://hooks.example.com/", &wildcard).await;
    allowed("https://a.b.example.com/", &wildcard).await;
    allowed("https://bücher.example.com/", &wildcard).await;
    allowed("https://HOOKS.Example.COM./", &only(&["hooks.example.com"])).await;
    allowed("https://hooks.example.com/", &only(&[" Hooks.Example.com. "])).await;
    allowed("https://hooks.bücher.de/", &only(&["*.bücher.de"])).await;
    allowed("https://hooks.xn--bcher-kva.de/", &only(&["*.BÜCHER.de"])).await;
    allowed("https://example.com/", &only(&["*.example.com", "example.com"])).await;
    allowed("https://8.8.8.8/", &only(&["0x8.0x8.0x8.0x8"])).await;
    allowed("https://[2606:4700::1111]/", &only(&["[2606:4700:0::1111]"])).await;
}

#[tokio::test]
async fn egress_allows_private_and_loopback_only_with_allow_private() {
    let local = allowed("http://127.0.0.1:8080/hook", &private()).await;
    assert_eq!(local.addresses(), ["127.0.0.1:8080".parse().unwrap()]);
    allowed("http://[::1]:8080/", &private()).await;
    allowed("http://127.1:8080/", &private()).await;
    allowed("http://loopback.test:8080/", &private()).await;
    let localhost = allowed("http://localhost:9000/", &private()).await;
    assert_eq!(localhost.addresses().len(), 2);
    allowed("https://10.0.0.1/", &private()).await;
    allowed("https://private.test/", &private()).await;
    allowed("https://mixed.test/", &private()).await;
    allowed("https://[fc00::1]/", &private()).await;
    // Loopback named without DNS is exempt from the allowlist once private delivery is on.
    let exempt = EgressRules { allow_private: true, allowed_hosts: vec!["*.example.com".into()] };
    allowed("http://localhost:9000/", &exempt).await;
    allowed("http://127.0.0.1:9000/", &exempt).await;
    assert_eq!(
        egress().check("http://loopback.test:9000/", &exempt).await.err().map(|e| e.code()),
        Some("host_not_allowed")
    );
}

#[tokio::test]
async fn egress_dns_failures_are_classified() {
    let error = egress().check("https://flaky.test/", &open()).await.err();
    assert!(matches!(&error, Some(EgressError::Temporary(m)) if m.contains("SERVFAIL")), "{error:?}");
    assert!(error.is_some_and(|e| e.is_retryable()));

    struct Hanging;
    #[async_trait]
    impl Resolver for Hanging {
        async fn lookup(&self, _host: &str) -> Result<Vec<IpAddr>, ResolveError> {
            std::future::pending().await
        }
    }
    let hanging = Egress::new(Arc::new(Hanging), Duration::from_millis(50));
    let error = hanging.check("https://hooks.example.com/", &open()).await.err();
    assert!(matches!(&error, Some(EgressError::Temporary(m)) if m.contains("timed out")), "{error:?}");

    let not_found = egress().check("https://nxdomain.test/", &open()).await.err();
    assert!(matches!(&not_found, Some(EgressError::Denied(DenyReason::Unresolvable))), "{not_found:?}");
    assert!(!not_found.is_some_and(|e| e.is_retryable()));
}

#[tokio::test]
async fn egress_explain_reports_verdict_code_and_addresses() {
    let ok = egress().explain("https://hooks.example.com/x", &open()).await;
    assert_eq!(
        serde_json::to_value(&ok).unwrap(),
        serde_json::json!({
            "allowed": true, "code": "allowed",
            "reason": "allowed: hooks.example.com passes the policy at every address",
            "addresses": [PUBLIC_IP]
        })
    );
    let mixed = egress().explain("https://mixed.test/", &open()).await;
    assert!(!mixed.allowed);
    assert_eq!(mixed.code, "private_address");
    assert_eq!(mixed.reason, DenyReason::PrivateAddress.to_string());
    assert_eq!(mixed.addresses, [PUBLIC_IP, "10.0.0.5"]);

    let scheme = egress().explain("file:///etc/passwd", &private()).await;
    assert_eq!((scheme.allowed, scheme.code, scheme.addresses.len()), (false, "unsupported_scheme", 0));
    let literal = egress().explain("https://0x7f.1/", &open()).await;
    assert_eq!((literal.code, literal.addresses.len()), ("private_address", 0));
    let flaky = egress().explain("https://flaky.test/", &open()).await;
    assert_eq!((flaky.allowed, flaky.code), (false, "temporary_failure"));
}

#[test]
fn egress_codes_and_retryability() {
    let all = [
        (DenyReason::InvalidUrl, "invalid_url"),
        (DenyReason::UnsupportedScheme, "unsupported_scheme"),
        (DenyReason::InsecureHttp, "insecure_http"),
        (DenyReason::Credentials, "credentials"),
        (DenyReason::HostNotAllowed, "host_not_allowed"),
        (DenyReason::MetadataAddress, "metadata_address"),
        (DenyReason::PrivateAddress, "private_address"),
        (DenyReason::NoAddresses, "no_addresses"),
        (DenyReason::Unresolvable, "unresolvable"),
        (DenyReason::LocalhostNotLoopback, "localhost_not_loopback"),
    ];
    for (reason, code) in all {
        assert_eq!(reason.code(), code);
        assert!(!reason.to_string().is_empty());
        let error = EgressError::from(reason);
        assert!(!error.is_retryable());
        assert_eq!(error.code(), code);
    }
    assert!(EgressError::Temporary("x".into()).is_retryable());
    assert!(!EgressError::Redirect(302).is_retryable());
    assert!(!EgressError::ResponseTooLarge(10).is_retryable());
    assert!(!EgressError::Http("x".into()).is_retryable());
}

#[test]
fn egress_allowlist_patterns() {
    let rules = only(&["*.example.com", "api.test.", "[::1]"]);
    assert!(rules.host_allowed("a.example.com"));
    assert!(rules.host_allowed("a.b.example.com"));
    assert!(!rules.host_allowed("example.com"));
    assert!(!rules.host_allowed("badexample.com"));
    assert!(!rules.host_allowed(".example.com"));
    assert!(rules.host_allowed("api.test"));
    assert!(!rules.host_allowed("x.api.test"));
    assert!(rules.host_allowed("::1"));
    assert!(open().host_allowed("anything.test"));
    let bad = only(&["*", "*.", "", "a/b", "*.1.2.3.4", "user@host", "a.*.com", "ok.test"]);
    assert_eq!(bad.invalid_patterns(), ["*", "*.", "", "a/b", "*.1.2.3.4", "user@host", "a.*.com"]);
    assert!(!bad.host_allowed("anything.test"));
}

#[test]
fn egress_address_classes() {
    for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "2002:808:808::1", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
        assert_eq!(classify(ip(public)), AddressClass::Public, "{public}");
    }
    for private in ["10.1.2.3", "172.31.255.255", "255.255.255.255", "::", "::1", "fe80::1", "100::1", "2001:2::1"] {
        assert_eq!(classify(ip(private)), AddressClass::Private, "{private}");
    }
    for metadata in
        ["169.254.169.254", "169.254.170.2", "fd00:ec2::254", "::ffff:169.254.169.254", "64:ff9b:1:a9fe:a9:fe00::"]
    {
        assert_eq!(classify(ip(metadata)), AddressClass::Metadata, "{metadata}");
    }
    let v6 = |text: &str| match ip(text) {
        IpAddr::V6(v6) => v6,
        IpAddr::V4(_) => panic!("{text} is not IPv6"),
    };
    let teredo = embedded_ipv4(v6("2001:0:4136:e378:8000:63bf:80ff:fffe"));
    assert_eq!(teredo, Some(std::net::Ipv4Addr::LOCALHOST));
    assert_eq!(embedded_ipv4(v6("2002:a00:1::")), Some(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(embedded_ipv4(v6("2606:4700::1111")), None);
}

#[test]
fn egress_system_resolver_error_classes() {
    let not_found = "failed to lookup address information: Name or service not known";
    assert_eq!(classify_system_error(not_found), ResolveError::NotFound);
    let again = "failed to lookup address information: Temporary failure in name resolution";
    assert!(matches!(classify_system_error(again), ResolveError::Temporary(_)));
}

#[test]
fn egress_operator_endpoints() {
    for ok in ["http://localhost:11434/v1", "http://127.0.0.1:4096", "https://slack.com/api", "http://10.0.0.1:8080"] {
        assert_eq!(operator_endpoint_allowed(ok), Ok(()), "{ok}");
    }
    let metadata = [
        "http://169.254.169.254/latest",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://Metadata./",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[fd00:ec2::254]/",
        "http://2852039166/",
        "http://0251.0376.0251.0376/",
    ];
    for url in metadata {
        assert_eq!(operator_endpoint_allowed(url), Err(DenyReason::MetadataAddress), "{url}");
    }
    assert_eq!(operator_endpoint_allowed("file:///etc/passwd"), Err(DenyReason::UnsupportedScheme));
    assert_eq!(operator_endpoint_allowed("not a url"), Err(DenyReason::InvalidUrl));
}
