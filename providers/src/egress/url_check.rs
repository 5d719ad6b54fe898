//! URL parsing and normalisation, and every check that needs no DNS: scheme, credentials,
//! metadata names and addresses, plain http, the host allowlist and IP-literal hosts.
//!
//! Hosts are parsed by the `url` crate's WHATWG host parser, which already turns decimal
//! (`2130706433`), octal (`0177.0.0.1`), hex (`0x7f.1`), short (`127.1`) and percent-encoded
//! IPv4 forms into one address and IDNs into punycode; domain names are then lowercase and
//! compared without trailing dots.

use std::net::IpAddr;

use url::{Host, Url};

use super::DenyReason;
use super::address::{self, AddressClass};
use super::rules::{EgressRules, strip_trailing_dots};

/// The longest URL accepted, in bytes.
const MAX_URL_BYTES: usize = 8 * 1024;

/// Host names of cloud metadata services, blocked always (compared lowercase, no trailing dot).
const METADATA_NAMES: [&str; 5] =
    ["metadata.google.internal", "metadata", "metadata.goog", "instance-data", "instance-data.ec2.internal"];

/// The host of a screened URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TargetHost {
    /// An IP literal (after numeric-form normalisation).
    Ip(IpAddr),
    /// A domain name: lowercase ASCII, no trailing dot.
    Name(String),
}

/// A URL that passed every check that needs no DNS.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The parsed (normalized) URL, as it will be requested.
    pub url: Url,
    /// The host, classified.
    pub host: TargetHost,
    /// The port to connect to (explicit, or the scheme's default).
    pub port: u16,
    /// Plain http (only ever to loopback, and only with `allow_private`).
    pub plain_http: bool,
}

impl TargetHost {
    /// The host as the allowlist and the resolver see it.
    pub fn as_key(&self) -> String {
        match self {
            Self::Ip(ip) => ip.to_string(),
            Self::Name(name) => name.clone(),
        }
    }

    /// Whether this names loopback without DNS: `localhost` or a loopback literal.
    fn is_local(&self) -> bool {
        match self {
            Self::Ip(ip) => address::is_loopback(*ip),
            Self::Name(name) => name == "localhost",
        }
    }
}

/// Runs the checks that need no DNS, in order: URL syntax, scheme, credentials, metadata,
/// plain http, allowlist, private IP literal.
pub(crate) fn screen(raw: &str, rules: &EgressRules) -> Result<Target, DenyReason> {
    let url = parse(raw)?;
    let plain_http = match url.scheme() {
        "https" => false,
        "http" => true,
        _ => return Err(DenyReason::UnsupportedScheme),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DenyReason::Credentials);
    }
    let host = target_host(&url)?;
    let port = url.port_or_known_default().filter(|&port| port != 0).ok_or(DenyReason::InvalidUrl)?;
    if is_metadata_host(&host) {
        return Err(DenyReason::MetadataAddress);
    }
    if plain_http {
        let other_literal = matches!(host, TargetHost::Ip(ip) if !address::is_loopback(ip));
        if !rules.allow_private || other_literal {
            return Err(DenyReason::InsecureHttp);
        }
    }
    // Loopback named without DNS is exempt from the allowlist once private delivery is allowed
    // (as in Open Cowork); every other host must be listed.
    let exempt = rules.allow_private && host.is_local();
    if !exempt && !rules.host_allowed(&host.as_key()) {
        return Err(DenyReason::HostNotAllowed);
    }
    if let TargetHost::Ip(ip) = host
        && address::classify(ip) == AddressClass::Private
        && !rules.allow_private
    {
        return Err(DenyReason::PrivateAddress);
    }
    Ok(Target { url, host, port, plain_http })
}

/// Operator-configured endpoints (Slack apiBaseUrl, model base URLs): used as configured,
/// loopback allowed, but never a cloud metadata address and never a redirect.
///
/// Checks syntax, an http(s) scheme and that the host is not a metadata name or address
/// (however the address is written). A name that only *resolves* to a metadata address is not
/// caught here (no DNS); the caller's client must also disable redirects.
pub fn operator_endpoint_allowed(url: &str) -> Result<(), DenyReason> {
    let url = parse(url)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DenyReason::UnsupportedScheme);
    }
    if is_metadata_host(&target_host(&url)?) {
        return Err(DenyReason::MetadataAddress);
    }
    Ok(())
}

fn parse(raw: &str) -> Result<Url, DenyReason> {
    if raw.len() > MAX_URL_BYTES {
        return Err(DenyReason::InvalidUrl);
    }
    Url::parse(raw).map_err(|_| DenyReason::InvalidUrl)
}

fn target_host(url: &Url) -> Result<TargetHost, DenyReason> {
    match url.host() {
        Some(Host::Ipv4(v4)) => Ok(TargetHost::Ip(IpAddr::V4(v4))),
        Some(Host::Ipv6(v6)) => Ok(TargetHost::Ip(IpAddr::V6(v6))),
        Some(Host::Domain(name)) => {
            let name = strip_trailing_dots(name).to_ascii_lowercase();
            if name.is_empty() {
                return Err(DenyReason::InvalidUrl);
            }
            // The WHATWG parser turns numeric hosts into addresses; be safe if one slips by.
            match name.parse::<IpAddr>() {
                Ok(ip) => Ok(TargetHost::Ip(ip)),
                Err(_) => Ok(TargetHost::Name(name)),
            }
        }
        None => Err(DenyReason::InvalidUrl),
    }
}

fn is_metadata_host(host: &TargetHost) -> bool {
    match host {
        TargetHost::Ip(ip) => address::classify(*ip) == AddressClass::Metadata,
        TargetHost::Name(name) => METADATA_NAMES.contains(&name.as_str()),
    }
}
