//! Name resolution behind a trait: the system resolver for production, a static map for tests
//! (DNS is never used in tests).

use std::collections::HashMap;
use std::net::IpAddr;

use async_trait::async_trait;

use super::rules::strip_trailing_dots;

/// Why a name could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The name does not exist or has no addresses: permanent.
    #[error("name not found")]
    NotFound,
    /// The resolver failed in a way that may pass (timeout, SERVFAIL, EAI_AGAIN).
    #[error("temporary resolver failure: {0}")]
    Temporary(String),
}

/// Resolves a host name to all of its addresses.
#[async_trait]
pub trait Resolver: Send + Sync + 'static {
    /// Every address of `host` (lowercase ASCII, no trailing dot), in resolver order.
    async fn lookup(&self, host: &str) -> Result<Vec<std::net::IpAddr>, ResolveError>;
}

/// The operating system's resolver (`getaddrinfo` through `tokio::net::lookup_host`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        match tokio::net::lookup_host((host, 0)).await {
            Ok(addrs) => Ok(dedup(addrs.map(|addr| addr.ip()))),
            Err(error) => Err(classify_system_error(&error.to_string())),
        }
    }
}

/// `getaddrinfo` reports its EAI code only as text: the "no such name" messages of glibc, musl,
/// macOS and Windows are permanent; anything else (EAI_AGAIN, EAI_FAIL, timeouts) may pass.
pub(super) fn classify_system_error(message: &str) -> ResolveError {
    const NOT_FOUND: [&str; 5] = [
        "name or service not known",
        "no address associated with hostname",
        "nodename nor servname provided",
        "no such host is known",
        "name does not resolve",
    ];
    let lower = message.to_ascii_lowercase();
    if NOT_FOUND.iter().any(|needle| lower.contains(needle)) {
        ResolveError::NotFound
    } else {
        ResolveError::Temporary(message.to_owned())
    }
}

/// The addresses in order, each once.
pub(super) fn dedup(addrs: impl IntoIterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for addr in addrs {
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

/// A fixed map from host to answer, for tests; an unknown host is [`ResolveError::NotFound`].
#[derive(Clone, Debug, Default)]
pub struct StaticResolver {
    entries: HashMap<String, Result<Vec<IpAddr>, ResolveError>>,
}

impl StaticResolver {
    /// A resolver answering each host with its addresses (names compared case-insensitively,
    /// without trailing dots).
    pub fn new<I, S>(entries: I) -> Self
    where
        I: IntoIterator<Item = (S, Vec<IpAddr>)>,
        S: AsRef<str>,
    {
        let entries = entries.into_iter().map(|(host, addrs)| (normalize(host.as_ref()), Ok(addrs))).collect();
        Self { entries }
    }

    /// The same resolver, answering `host` with `error` instead.
    pub fn with_error(mut self, host: &str, error: ResolveError) -> Self {
        self.entries.insert(normalize(host), Err(error));
        self
    }
}

#[async_trait]
impl Resolver for StaticResolver {
    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        self.entries.get(&normalize(host)).cloned().unwrap_or(Err(ResolveError::NotFound))
    }
}

fn normalize(host: &str) -> String {
    strip_trailing_dots(host).to_ascii_lowercase()
}
