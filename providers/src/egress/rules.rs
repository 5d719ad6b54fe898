//! Per-destination rules and host allowlist patterns: exact names or `*.suffix` (the wildcard
//! does not match the apex), case-insensitive, trailing dots ignored, IDNs compared in punycode,
//! IP patterns compared as addresses.

use url::Host;

/// Per-destination rules (from a provider's settings).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EgressRules {
    /// Allow private and reserved addresses (and plain http to loopback); metadata stays blocked.
    pub allow_private: bool,
    /// Exact names or `*.suffix`; empty means any host.
    pub allowed_hosts: Vec<String>,
}

impl EgressRules {
    /// Whether `host` (as normalized by the URL check: lowercase ASCII, no trailing dot, IPv6
    /// without brackets) passes the allowlist; an empty allowlist passes every host.
    pub fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts.is_empty()
            || self.allowed_hosts.iter().filter_map(|raw| Pattern::parse(raw)).any(|pattern| pattern.matches(host))
    }

    /// The allowlist entries that can never match (for validating settings at load time).
    pub fn invalid_patterns(&self) -> Vec<String> {
        self.allowed_hosts.iter().filter(|raw| Pattern::parse(raw).is_none()).cloned().collect()
    }
}

/// One parsed allowlist entry.
#[derive(Debug, PartialEq, Eq)]
enum Pattern {
    /// The host itself.
    Exact(String),
    /// Any name ending in `.{suffix}`, never `{suffix}` itself.
    Subdomains(String),
}

impl Pattern {
    fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        match raw.strip_prefix("*.") {
            Some(suffix) => match parse_host(suffix)? {
                Host::Domain(name) => Some(Self::Subdomains(name)),
                Host::Ipv4(_) | Host::Ipv6(_) => None,
            },
            None => Some(Self::Exact(host_key(&parse_host(raw)?))),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => name == host,
            Self::Subdomains(suffix) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix.as_str())
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
        }
    }
}

/// Parses a host the way a URL host is parsed (IDNA, numeric IPv4 forms, `[v6]`), without
/// trailing dots; `None` for anything that is not a host.
fn parse_host(raw: &str) -> Option<Host<String>> {
    let trimmed = strip_trailing_dots(raw);
    if let Ok(v6) = trimmed.parse::<std::net::Ipv6Addr>() {
        return Some(Host::Ipv6(v6));
    }
    if trimmed.is_empty() || (trimmed.contains(['*', '/', '@', ':']) && !trimmed.starts_with('[')) {
        return None;
    }
    let host = Host::parse(trimmed).ok()?;
    match host {
        Host::Domain(name) if name.is_empty() || name.ends_with('.') => None,
        other => Some(other),
    }
}

/// The comparable text of a host: the domain, or the address without brackets.
pub(crate) fn host_key(host: &Host<String>) -> String {
    match host {
        Host::Domain(name) => name.clone(),
        Host::Ipv4(v4) => v4.to_string(),
        Host::Ipv6(v6) => v6.to_string(),
    }
}

/// `name` without its trailing dots (`example.com.` is `example.com`).
pub(crate) fn strip_trailing_dots(name: &str) -> &str {
    name.trim_end_matches('.')
}
