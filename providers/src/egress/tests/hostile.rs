//! The hostile-URL table: each URL is refused with the expected reason.

use std::sync::Arc;
use std::time::Duration;

use super::{PUBLIC_IP, egress, ip, only, open, private};
use crate::egress::{DenyReason, Egress, EgressError, EgressRules, StaticResolver};

use DenyReason::*;

fn table() -> Vec<(&'static str, EgressRules, DenyReason)> {
    let wildcard = || only(&["*.example.com"]);
    vec![
        // Syntax and scheme.
        ("not a url", open(), InvalidUrl),
        ("https://", open(), InvalidUrl),
        ("https://[::1/", open(), InvalidUrl),
        ("https://exa mple.com/", open(), InvalidUrl),
        ("https://[fe80::1%25eth0]/", private(), InvalidUrl),
        ("https://hooks.example.com:0/", open(), InvalidUrl),
        ("file:///etc/passwd", private(), UnsupportedScheme),
        ("ftp://hooks.example.com/x", open(), UnsupportedScheme),
        ("gopher://hooks.example.com:70/_GET%20/", open(), UnsupportedScheme),
        ("javascript:alert(1)", open(), UnsupportedScheme),
        ("data:text/plain,hi", open(), UnsupportedScheme),
        ("ws://hooks.example.com/", open(), UnsupportedScheme),
        ("dict://127.0.0.1:11211/", private(), UnsupportedScheme),
        // Plain http.
        ("http://hooks.example.com/", open(), InsecureHttp),
        ("http://hooks.example.com/", private(), InsecureHttp),
        ("http://10.0.0.1/", private(), InsecureHttp),
        ("http://127.0.0.1:8080/", open(), InsecureHttp),
        ("http://localhost:8080/", open(), InsecureHttp),
        ("http://[::ffff:10.0.0.1]/", private(), InsecureHttp),
        ("http://mixed-loop.test/", private(), InsecureHttp),
        ("http://public-loop.test/", private(), InsecureHttp),
        // Credentials.
        ("https://user:pass@hooks.example.com/", open(), Credentials),
        ("https://user@hooks.example.com/", open(), Credentials),
        ("https://:pass@hooks.example.com/", open(), Credentials),
        ("https://hooks.example.com@evil.test/", open(), Credentials),
        // Cloud metadata, blocked even with allow_private, however written.
        ("https://169.254.169.254/latest/meta-data/", open(), MetadataAddress),
        ("https://169.254.169.254/latest/meta-data/", private(), MetadataAddress),
        ("http://169.254.169.254/", private(), MetadataAddress),
        ("https://169.254.170.2/v2/credentials", private(), MetadataAddress),
        ("https://[fd00:ec2::254]/", private(), MetadataAddress),
        ("https://metadata.google.internal/computeMetadata/v1/", private(), MetadataAddress),
        ("https://METADATA.Google.Internal./", private(), MetadataAddress),
        ("https://metadata/", private(), MetadataAddress),
        ("https://metadata./", open(), MetadataAddress),
        ("https://[::ffff:169.254.169.254]/", private(), MetadataAddress),
        ("https://[::169.254.169.254]/", private(), MetadataAddress),
        // IPv4-translated (`::ffff:0:0:0/96`); the fuzzer found these once judged as public.
        ("https://[::ffff:0:169.254.169.254]/", private(), MetadataAddress),
        ("https://[::ffff:0:a9fe:a9fe]/", open(), MetadataAddress),
        ("https://[64:ff9b::169.254.169.254]/", private(), MetadataAddress),
        ("https://[64:ff9b:1:a9fe:a9:fe00::]/", private(), MetadataAddress),
        ("https://[2002:a9fe:a9fe::1]/", private(), MetadataAddress),
        ("https://[2001:0:4136:e378:8000:63bf:5601:5601]/", private(), MetadataAddress),
        ("https://2852039166/", private(), MetadataAddress),
        ("https://0251.0376.0251.0376/", private(), MetadataAddress),
        ("https://0xa9.0xfe.0xa9.0xfe/", private(), MetadataAddress),
        ("https://0xa9fea9fe/", private(), MetadataAddress),
        ("https://169.254.43518/", private(), MetadataAddress),
        ("https://169.254.169.254./", private(), MetadataAddress),
        ("https://%31%36%39.254.169.254/", private(), MetadataAddress),
        ("https://meta.test/", private(), MetadataAddress),
        ("https://meta6.test/", private(), MetadataAddress),
        ("https://meta-mixed.test/", private(), MetadataAddress),
        // Every private or reserved IPv4 range, as a literal.
        ("https://0.0.0.0/", open(), PrivateAddress),
        ("https://10.0.0.1/", open(), PrivateAddress),
        ("https://100.64.0.1/", open(), PrivateAddress),
        ("https://100.127.255.254/", open(), PrivateAddress),
        ("https://127.0.0.1/", open(), PrivateAddress),
        ("https://127.255.255.254/", open(), PrivateAddress),
        ("https://169.254.1.1/", open(), PrivateAddress),
        ("https://172.16.0.1/", open(), PrivateAddress),
        ("https://172.31.255.254/", open(), PrivateAddress),
        ("https://192.0.0.1/", open(), PrivateAddress),
        ("https://192.0.2.1/", open(), PrivateAddress),
        ("https://192.88.99.1/", open(), PrivateAddress),
        ("https://192.168.1.1/", open(), PrivateAddress),
        ("https://198.18.0.1/", open(), PrivateAddress),
        ("https://198.19.255.1/", open(), PrivateAddress),
        ("https://198.51.100.1/", open(), PrivateAddress),
        ("https://203.0.113.1/", open(), PrivateAddress),
        ("https://224.0.0.1/", open(), PrivateAddress),
        ("https://239.255.255.250/", open(), PrivateAddress),
        ("https://240.0.0.1/", open(), PrivateAddress),
        ("https://255.255.255.255/", open(), PrivateAddress),
        // Every private or reserved IPv6 range, as a literal.
        ("https://[::]/", open(), PrivateAddress),
        ("https://[::1]/", open(), PrivateAddress),
        ("https://[fc00::1]/", open(), PrivateAddress),
        ("https://[fd12:3456::1]/", open(), PrivateAddress),
        ("https://[fe80::1]/", open(), PrivateAddress),
        ("https://[ff02::1]/", open(), PrivateAddress),
        ("https://[2001:db8::1]/", open(), PrivateAddress),
        ("https://[100::1]/", open(), PrivateAddress),
        ("https://[2001:10::1]/", open(), PrivateAddress),
        ("https://[2001:20::1]/", open(), PrivateAddress),
        ("https://[64:ff9b:1::1]/", open(), PrivateAddress),
        // IPv4 wrapped in IPv6, judged by the IPv4 inside.
        ("https://[::ffff:127.0.0.1]/", open(), PrivateAddress),
        ("https://[::ffff:10.0.0.1]/", open(), PrivateAddress),
        ("https://[::ffff:0:10.0.0.1]/", open(), PrivateAddress),
        ("https://[::ffff:0:0.0.4.1]/", open(), PrivateAddress),
        ("https://[::127.0.0.1]/", open(), PrivateAddress),
        ("https://[::10.0.0.1]/", open(), PrivateAddress),
        ("https://[64:ff9b::127.0.0.1]/", open(), PrivateAddress),
        ("https://[64:ff9b::a00:1]/", open(), PrivateAddress),
        ("https://[2002:7f00:1::]/", open(), PrivateAddress),
        ("https://[2002:a00:1::1]/", open(), PrivateAddress),
        ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", open(), PrivateAddress),
        ("https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", open(), PrivateAddress),
        // Numeric forms of 127.0.0.1.
        ("https://2130706433/", open(), PrivateAddress),
        ("https://0177.0.0.1/", open(), PrivateAddress),
        ("https://0x7f.1/", open(), PrivateAddress),
        ("https://0x7f000001/", open(), PrivateAddress),
        ("https://017700000001/", open(), PrivateAddress),
        ("https://127.1/", open(), PrivateAddress),
        ("https://127.0.0.1./", open(), PrivateAddress),
        ("https://%31%32%37.0.0.1/", open(), PrivateAddress),
        // Allowlist misses.
        ("https://example.com/", wildcard(), HostNotAllowed),
        ("https://badexample.com/", wildcard(), HostNotAllowed),
        ("https://example.com.evil.test/", wildcard(), HostNotAllowed),
        ("https://hooks.example.com.evil.test/", wildcard(), HostNotAllowed),
        ("https://a.hooks.example.com/", only(&["hooks.example.com"]), HostNotAllowed),
        ("https://hooks.example.org/", only(&["hooks.example.com"]), HostNotAllowed),
        ("https://10.0.0.1/", wildcard(), HostNotAllowed),
        ("https://localhost/", wildcard(), HostNotAllowed),
        // Names whose answers are not acceptable.
        ("https://private.test/", open(), PrivateAddress),
        ("https://mixed.test/", open(), PrivateAddress),
        ("https://mapped.test/", open(), PrivateAddress),
        ("https://teredo.test/", open(), PrivateAddress),
        ("https://loopback.test/", open(), PrivateAddress),
        ("https://localhost/", open(), PrivateAddress),
        ("https://empty.test/", open(), NoAddresses),
        ("https://empty.test/", private(), NoAddresses),
        ("https://nxdomain.test/", open(), Unresolvable),
    ]
}

#[tokio::test]
async fn egress_rejects_every_hostile_url_with_the_right_reason() {
    let egress = egress();
    let table = table();
    assert!(table.len() >= 40, "{} rows", table.len());
    let mut failures = Vec::new();
    for (url, rules, expected) in &table {
        match egress.check(url, rules).await {
            Err(EgressError::Denied(reason)) if reason == *expected => {}
            Err(other) => failures.push(format!("{url} {rules:?}: expected {expected:?}, got {other:?}")),
            Ok(checked) => failures.push(format!("{url} {rules:?}: expected {expected:?}, allowed {checked:?}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), table.len(), failures.join("\n"));
}

#[tokio::test]
async fn egress_localhost_must_resolve_to_loopback_only() {
    let hijacked = StaticResolver::new([("localhost", vec![ip(PUBLIC_IP)])]);
    let egress = Egress::new(Arc::new(hijacked), Duration::from_secs(1));
    for (url, rules) in [("https://localhost/", open()), ("http://localhost:8080/", private())] {
        let error = egress.check(url, &rules).await.err();
        assert!(matches!(error, Some(EgressError::Denied(LocalhostNotLoopback))), "{url}: {error:?}");
    }
    let mixed = StaticResolver::new([("LOCALHOST.", vec![ip("127.0.0.1"), ip("10.0.0.1")])]);
    let egress = Egress::new(Arc::new(mixed), Duration::from_secs(1));
    let error = egress.check("http://localhost.:8080/", &private()).await.err();
    assert!(matches!(error, Some(EgressError::Denied(LocalhostNotLoopback))), "{error:?}");
}
