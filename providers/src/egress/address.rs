//! IP classification: public, private/reserved, loopback or cloud metadata, with IPv6 addresses
//! that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) judged by the
//! IPv4 address inside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::DenyReason;
use super::rules::EgressRules;

/// How the policy sees one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddressClass {
    /// Globally reachable unicast.
    Public,
    /// Private, loopback, link-local, documentation, multicast or otherwise reserved.
    Private,
    /// A cloud metadata endpoint: refused always.
    Metadata,
}

/// Cloud metadata IPv4 addresses: AWS/GCP/Azure/OCI IMDS, AWS ECS task credentials, EKS Pod
/// Identity, Alibaba Cloud metadata and the Azure WireServer.
const METADATA_V4: [Ipv4Addr; 5] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(169, 254, 170, 23),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(168, 63, 129, 16),
];

/// Cloud metadata IPv6 addresses: AWS IMDS and EKS Pod Identity.
const METADATA_V6: [Ipv6Addr; 2] =
    [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)];

/// IPv4 ranges that are not globally reachable (network, prefix length).
const PRIVATE_V4: [([u8; 4], u8); 15] = [
    ([0, 0, 0, 0], 8),       // "this network"
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // carrier-grade NAT
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // TEST-NET-1
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // TEST-NET-2
    ([203, 0, 113, 0], 24),  // TEST-NET-3
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, including 255.255.255.255
];

/// IPv6 ranges that are not globally reachable (network, prefix length). Ranges that embed an
/// IPv4 address are handled by [`embedded_ipv4`] instead.
const PRIVATE_V6: [(u128, u8); 14] = [
    (0, 128),                          // unspecified
    (1, 128),                          // loopback
    (0x0100_0000_0000_0000 << 64, 64), // discard-only
    (0x0064_ff9b_0001 << 80, 48),      // local-use NAT64
    (0x2001_0002_0000 << 80, 48),      // benchmarking
    (0x2001_0010 << 96, 28),           // ORCHID
    (0x2001_0020 << 96, 28),           // ORCHIDv2
    (0x2001_0db8 << 96, 32),           // documentation
    (0x3fff << 112, 20),               // documentation (RFC 9637)
    (0x5f00 << 112, 16),               // SRv6 SIDs
    (0xfc00 << 112, 7),                // unique local
    (0xfe80 << 112, 10),               // link-local
    (0xfec0 << 112, 10),               // site-local (deprecated)
    (0xff00 << 112, 8),                // multicast
];

/// Classifies one address (an IPv6 address carrying an IPv4 one is judged by that IPv4).
pub(crate) fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether the address is loopback: 127/8, `::1`, or `::ffff:127.x.y.z`.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    if METADATA_V4.contains(&ip) {
        return AddressClass::Metadata;
    }
    let bits = u32::from(ip);
    let private = PRIVATE_V4.iter().any(|&(net, len)| in_prefix_v4(bits, u32::from(Ipv4Addr::from(net)), len));
    if private { AddressClass::Private } else { AddressClass::Public }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if METADATA_V6.contains(&ip) {
        return AddressClass::Metadata;
    }
    let bits = u128::from(ip);
    if in_prefix_v6(bits, 0x0064_ff9b_0001 << 80, 48) {
        // Local-use NAT64: the prefix length (and so where the IPv4 sits) is the operator's
        // choice; look for a metadata address at every RFC 6052 position, else it is private.
        let metadata = rfc6052_candidates(ip).into_iter().any(|v4| classify_v4(v4) == AddressClass::Metadata);
        return if metadata { AddressClass::Metadata } else { AddressClass::Private };
    }
    if let Some(v4) = embedded_ipv4(ip) {
        return classify_v4(v4);
    }
    let private = PRIVATE_V6.iter().any(|&(net, len)| in_prefix_v6(bits, net, len));
    if private { AddressClass::Private } else { AddressClass::Public }
}

/// The IPv4 address an IPv6 address stands for, when it is one of: IPv4-mapped `::ffff:0:0/96`,
/// IPv4-translated `::ffff:0:0:0/96`, IPv4-compatible `::/96` (other than `::` and `::1`),
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16` (bits 16..48) or Teredo `2001::/32` (the client
/// address: the last 32 bits inverted).
pub(crate) fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from(bits as u32);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // IPv4-translated (SIIT): `ffff` in the fifth group, then `0`, then the IPv4 address.
    if in_prefix_v6(bits, 0xffff << 48, 96) {
        return Some(low32);
    }
    if bits >> 32 == 0 && bits > 1 {
        return Some(low32);
    }
    if in_prefix_v6(bits, 0x0064_ff9b << 96, 96) {
        return Some(low32);
    }
    if in_prefix_v6(bits, 0x2002 << 112, 16) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    if in_prefix_v6(bits, 0x2001_0000 << 96, 32) {
        return Some(Ipv4Addr::from(!(bits as u32)));
    }
    None
}

/// The IPv4 addresses an RFC 6052 translator could extract, for prefix lengths 48, 56, 64, 96
/// (bits 64..72 are the reserved "u" octet).
fn rfc6052_candidates(ip: Ipv6Addr) -> [Ipv4Addr; 4] {
    let o = ip.octets();
    [
        Ipv4Addr::new(o[6], o[7], o[9], o[10]),
        Ipv4Addr::new(o[7], o[9], o[10], o[11]),
        Ipv4Addr::new(o[9], o[10], o[11], o[12]),
        Ipv4Addr::new(o[12], o[13], o[14], o[15]),
    ]
}

fn in_prefix_v4(addr: u32, net: u32, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
    addr & mask == net & mask
}

fn in_prefix_v6(addr: u128, net: u128, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
    addr & mask == net & mask
}

/// Judges every DNS answer for `name`: there must be one; none may be a metadata address;
/// `localhost` must be loopback only; without `allow_private` all must be public (a mixed set is
/// refused); plain http needs all of them loopback.
pub(crate) fn judge_answers(
    name: &str,
    answers: &[IpAddr],
    plain_http: bool,
    rules: &EgressRules,
) -> Result<(), DenyReason> {
    if answers.is_empty() {
        return Err(DenyReason::NoAddresses);
    }
    if answers.iter().any(|&ip| classify(ip) == AddressClass::Metadata) {
        return Err(DenyReason::MetadataAddress);
    }
    let all_loopback = answers.iter().all(|&ip| is_loopback(ip));
    if name == "localhost" && !all_loopback {
        return Err(DenyReason::LocalhostNotLoopback);
    }
    if !rules.allow_private && answers.iter().any(|&ip| classify(ip) == AddressClass::Private) {
        return Err(DenyReason::PrivateAddress);
    }
    if plain_http && !all_loopback {
        return Err(DenyReason::InsecureHttp);
    }
    Ok(())
}
