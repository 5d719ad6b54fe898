//! The client address a request counts against: the socket peer, or, only when proxy headers
//! are trusted and the peer is a trusted proxy, the first untrusted hop of `X-Forwarded-For`
//! walked right to left (the part of the chain our own proxies appended).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Which proxies may tell us the client address.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProxyTrust {
    /// Whether forwarded headers are read at all.
    pub trust_headers: bool,
    /// The proxies whose forwarded headers are believed.
    pub trusted: Vec<IpNet>,
}

impl ProxyTrust {
    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The address `peer`'s request counts against.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer.ip());
        if !self.trust_headers || !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            client = *hop;
            if !self.is_trusted(*hop) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    fn trust() -> ProxyTrust {
        ProxyTrust { trust_headers: true, trusted: vec!["10.0.0.0/8".parse().unwrap()] }
    }

    #[test]
    fn untrusted_peers_and_disabled_trust_use_the_socket_address() {
        let peer: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        assert_eq!(trust().client(peer, &headers("1.2.3.4")), peer.ip());
        let off = ProxyTrust { trust_headers: false, ..trust() };
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        assert_eq!(off.client(proxy, &headers("1.2.3.4")), proxy.ip());
    }

    #[test]
    fn trusted_proxies_are_skipped_right_to_left() {
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let client = trust().client(proxy, &headers("6.6.6.6, 1.2.3.4, 10.0.0.7"));
        assert_eq!(client, "1.2.3.4".parse::<IpAddr>().unwrap(), "a spoofed left part is ignored");
        let all_trusted = trust().client(proxy, &headers("10.1.1.1"));
        assert_eq!(all_trusted, "10.1.1.1".parse::<IpAddr>().unwrap());
        let garbage = trust().client(proxy, &headers("not-an-ip"));
        assert_eq!(garbage, proxy.ip());
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:5000".parse().unwrap();
        assert_eq!(trust().client(mapped, &headers("1.2.3.4")), "1.2.3.4".parse::<IpAddr>().unwrap());
    }
}
