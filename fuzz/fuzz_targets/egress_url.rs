//! The egress URL policy (`providers/src/egress/`: `url_check.rs`, `rules.rs`, `address.rs`)
//! through the public `Egress::check`, `Egress::explain` and `operator_endpoint_allowed`, with a
//! resolver that answers what the input says.
//!
//! Input, as lines: the URL; flags (`p` anywhere: `allow_private`); the host allowlist
//! (comma-separated); the resolver's answers (comma-separated addresses, `!` for "no such
//! name", `?` for a temporary failure; absent: one public address).
//!
//! Invariants, with an oracle written here from the module's documented rules (not its code):
//! - an allowed URL is `https`, or plain `http` only with `allow_private` and every address
//!   loopback; it has no `user:pass@`; the normalized URL re-parses (with the `url` crate) to
//!   itself, with the checked host and a non-zero port every address carries;
//! - nothing allowed is, or resolves to, a cloud metadata name or address, however written
//!   (IPv4-mapped, -compatible, NAT64, 6to4 and Teredo forms judged by the IPv4 inside), even
//!   with `allow_private`;
//! - without `allow_private` no allowed address is loopback, private, link-local, CGNAT,
//!   documentation, multicast, reserved or otherwise not global (IPv6 forms carrying an IPv4
//!   address judged by it);
//! - with a plain allowlist, an allowed host matches an entry (exact, or `*.suffix` below it),
//!   unless it is loopback named without DNS and private delivery is allowed;
//! - `explain` agrees with `check`; `operator_endpoint_allowed` never allows another scheme or a
//!   metadata host.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cowork_fuzz::{block_on, fields, text};
use cowork_providers::egress::{
    CheckedUrl, Egress, EgressError, EgressRules, ResolveError, Resolver, operator_endpoint_allowed,
};
use libfuzzer_sys::fuzz_target;
use url::{Host, Url};

/// Answers every name with the same addresses (or error).
struct Answers(Result<Vec<IpAddr>, ResolveError>);

#[async_trait]
impl Resolver for Answers {
    async fn lookup(&self, _host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        self.0.clone()
    }
}

const METADATA_NAMES: [&str; 5] =
    ["metadata.google.internal", "metadata", "metadata.goog", "instance-data", "instance-data.ec2.internal"];
const METADATA_V4: [[u8; 4]; 5] =
    [[169, 254, 169, 254], [169, 254, 170, 2], [169, 254, 170, 23], [100, 100, 100, 200], [168, 63, 129, 16]];

fn v4_in(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn v6_in(ip: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
    u128::from(ip) & mask == u128::from(net) & mask
}

fn v6(text: &str) -> Ipv6Addr {
    text.parse().expect("an IPv6 literal")
}

/// The IPv4 address an IPv6 address carries (mapped, translated, compatible, NAT64, 6to4, Teredo).
fn carried_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from(bits as u32);
    if v6_in(ip, v6("::ffff:0:0"), 96) || v6_in(ip, v6("::ffff:0:0:0"), 96) || v6_in(ip, v6("64:ff9b::"), 96) {
        return Some(low);
    }
    if v6_in(ip, v6("::"), 96) && bits > 1 {
        return Some(low);
    }
    if v6_in(ip, v6("2002::"), 16) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    if v6_in(ip, v6("2001::"), 32) {
        return Some(Ipv4Addr::from(!(bits as u32)));
    }
    None
}

fn metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => METADATA_V4.contains(&v4.octets()),
        IpAddr::V6(v6addr) => {
            if [v6("fd00:ec2::254"), v6("fd00:ec2::23")].contains(&v6addr) {
                return true;
            }
            if v6_in(v6addr, v6("64:ff9b:1::"), 48) {
                // Local-use NAT64: the IPv4 may sit at any RFC 6052 position.
                let o = v6addr.octets();
                let candidates = [
                    [o[6], o[7], o[9], o[10]],
                    [o[7], o[9], o[10], o[11]],
                    [o[9], o[10], o[11], o[12]],
                    [o[12], o[13], o[14], o[15]],
                ];
                return candidates.iter().any(|c| METADATA_V4.contains(c));
            }
            carried_v4(v6addr).is_some_and(|v4| metadata(IpAddr::V4(v4)))
        }
    }
}

/// Not globally reachable, by the documented ranges.
fn not_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_unspecified()
                || v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || [
                    ([0, 0, 0, 0], 8),
                    ([100, 64, 0, 0], 10),
                    ([192, 0, 0, 0], 24),
                    ([192, 88, 99, 0], 24),
                    ([198, 18, 0, 0], 15),
                    ([240, 0, 0, 0], 4),
                ]
                .iter()
                .any(|&(net, len)| v4_in(v4, net, len))
        }
        IpAddr::V6(v6addr) => {
            if let Some(v4) = carried_v4(v6addr) {
                return not_global(IpAddr::V4(v4));
            }
            v6addr.is_unspecified()
                || v6addr.is_loopback()
                || v6addr.is_multicast()
                || [
                    ("100::", 64),
                    ("64:ff9b:1::", 48),
                    ("2001:2::", 48),
                    ("2001:10::", 28),
                    ("2001:20::", 28),
                    ("2001:db8::", 32),
                    ("3fff::", 20),
                    ("5f00::", 16),
                    ("fc00::", 7),
                    ("fe80::", 10),
                    ("fec0::", 10),
                ]
                .iter()
                .any(|&(net, len)| v6_in(v6addr, v6(net), len))
        }
    }
}

fn loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6addr) => v6addr.is_loopback() || v6addr.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// The host of a parsed URL as the allowlist compares it.
fn host_key(url: &Url) -> Option<(String, Option<IpAddr>)> {
    Some(match url.host()? {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let ip = name.parse().ok();
            (name, ip)
        }
        Host::Ipv4(v4) => (v4.to_string(), Some(IpAddr::V4(v4))),
        Host::Ipv6(v6addr) => (v6addr.to_string(), Some(IpAddr::V6(v6addr))),
    })
}

fn check_allowed(raw: &str, checked: &CheckedUrl, rules: &EgressRules) {
    let url = checked.url();
    let reparsed = Url::parse(url.as_str()).expect("the normalized URL re-parses");
    assert_eq!(&reparsed, url, "normalization is not stable");
    let scheme = url.scheme();
    assert!(scheme == "https" || scheme == "http", "scheme {scheme} allowed for {raw:?}");
    assert!(url.username().is_empty() && url.password().is_none(), "credentials allowed: {raw:?}");
    let (host, literal) = host_key(&reparsed).expect("an allowed URL has a host");
    assert_eq!(checked.host(), host, "the checked host is not the URL's");
    assert!(!METADATA_NAMES.contains(&host.as_str()), "metadata name {host} allowed");
    let port = reparsed.port_or_known_default().expect("a port");
    assert_ne!(port, 0);
    let addresses: Vec<IpAddr> = checked.addresses().iter().map(|a| a.ip()).collect();
    assert!(!addresses.is_empty(), "no address to connect to");
    assert!(checked.addresses().iter().all(|a| a.port() == port), "ports differ");
    if let Some(ip) = literal {
        assert_eq!(addresses, [ip], "an IP literal connects elsewhere");
    }
    for &ip in &addresses {
        assert!(!metadata(ip), "metadata address {ip} allowed for {raw:?}");
        assert!(
            rules.allow_private || !not_global(ip),
            "non-global address {ip} allowed for {raw:?} without allow_private"
        );
    }
    if scheme == "http" {
        assert!(rules.allow_private, "plain http without allow_private: {raw:?}");
        assert!(addresses.iter().all(|&ip| loopback(ip)), "plain http to a non-loopback address: {raw:?}");
    }
    // Entries the oracle can compare as text: lowercase ASCII names whose last label starts with a
    // letter (the URL parser reads a numeric last label as an IPv4 address) and no punycode.
    let plain = |p: &str| {
        let labels: Vec<&str> = p.split('.').collect();
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
            && labels.last().is_some_and(|last| last.starts_with(|c: char| c.is_ascii_lowercase()))
            && !labels.iter().any(|label| label.is_empty() || label.starts_with("xn--"))
    };
    let patterns: Vec<&str> = rules.allowed_hosts.iter().map(|p| p.trim()).collect();
    let exempt = rules.allow_private && (host == "localhost" || literal.is_some_and(loopback));
    if !patterns.is_empty()
        && !exempt
        && patterns.iter().all(|p| plain(p.strip_prefix("*.").unwrap_or(p).trim_end_matches('.')))
    {
        let matched = patterns.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => {
                let suffix = suffix.trim_end_matches('.');
                host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}"))
            }
            None => host == p.trim_end_matches('.'),
        });
        assert!(matched, "host {host} allowed outside the allowlist {patterns:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let (lines, _) = fields(data, 4);
    let raw = text(lines[0]);
    let raw = raw.as_ref();
    let flags = lines[1];
    let rules = EgressRules {
        allow_private: flags.contains(&b'p'),
        allowed_hosts: text(lines[2]).split(',').map(str::to_owned).filter(|p| !p.trim().is_empty()).collect(),
    };
    let answers = if data.iter().filter(|&&b| b == b'\n').count() < 3 {
        Ok(vec![IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34))])
    } else {
        match text(lines[3]).trim() {
            "!" => Err(ResolveError::NotFound),
            "?" => Err(ResolveError::Temporary("fuzz".to_owned())),
            list => Ok(list.split(',').filter_map(|a| a.trim().parse().ok()).collect()),
        }
    };
    let egress = Egress::new(Arc::new(Answers(answers)), Duration::from_secs(5));

    let checked = block_on(egress.check(raw, &rules));
    let explained = block_on(egress.explain(raw, &rules));
    match &checked {
        Ok(checked) => {
            check_allowed(raw, checked, &rules);
            assert!(explained.allowed && explained.code == "allowed", "{explained:?}");
        }
        Err(error) => {
            assert!(!explained.allowed, "explain allows what check refuses");
            assert_eq!(explained.code, error.code());
            assert!(matches!(error, EgressError::Denied(_) | EgressError::Temporary(_)), "{error:?}");
        }
    }

    if operator_endpoint_allowed(raw).is_ok() {
        let url = Url::parse(raw).expect("an allowed endpoint parses");
        assert!(matches!(url.scheme(), "http" | "https"), "endpoint scheme {}", url.scheme());
        let (host, literal) = host_key(&url).expect("an endpoint host");
        assert!(!METADATA_NAMES.contains(&host.as_str()), "metadata endpoint {host}");
        assert!(!literal.is_some_and(metadata), "metadata endpoint {host}");
    }
});
