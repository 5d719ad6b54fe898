//! The egress policy: one module that every outbound HTTP call of every provider goes through,
//! so the gateway cannot be turned against internal networks.
//!
//! [`Egress::check`] judges a URL against per-destination [`EgressRules`], in this order
//! (the first failure is the [`DenyReason`]):
//!
//! 1. The URL parses (WHATWG rules, at most 8 KiB) and has a host and a non-zero port: else
//!    `invalid_url`.
//! 2. The scheme is `https`, or `http`: else `unsupported_scheme`.
//! 3. No `user:pass@`: else `credentials`.
//! 4. The host is not a cloud metadata name (`metadata.google.internal`, `metadata`,
//!    `metadata.goog`, `instance-data[.ec2.internal]`) or address (169.254.169.254,
//!    fd00:ec2::254 and the other ECS/EKS/Alibaba/Azure endpoints in `address.rs`, however
//!    written or wrapped): else `metadata_address`, even with `allow_private`.
//! 5. Plain `http` needs `allow_private` and a loopback host: `localhost`, 127/8, `::1`, or a name
//!    whose DNS answers are **all** loopback (so a test name pinned to 127.0.0.1 works); else
//!    `insecure_http`.
//! 6. The host allowlist (exact or `*.suffix`, see [`EgressRules`]): else `host_not_allowed`.
//!    With `allow_private`, `localhost` and loopback literals are exempt, as in Open Cowork.
//! 7. An IP-literal host must be public unless `allow_private`: else `private_address`.
//! 8. A name is resolved (bounded by the timeout) through the [`Resolver`]: not found is
//!    `unresolvable`, a temporary failure or timeout is [`EgressError::Temporary`] (retryable),
//!    no answer is `no_addresses`. **Every** answer must then pass: none a metadata address,
//!    `localhost` loopback only (`localhost_not_loopback`), and all public unless
//!    `allow_private` (a mixed public/private set is `private_address`).
//!
//! IPv4-mapped, IPv4-compatible, NAT64 (`64:ff9b::/96`; the local-use `64:ff9b:1::/48` is
//! private), 6to4 and Teredo addresses are judged by the IPv4 address inside; decimal, octal,
//! hex, short and percent-encoded IPv4 hosts are normalized by the URL parser first.
//!
//! [`Egress::post`] then connects only to the validated addresses (trying the next one when a
//! connection fails), with no second lookup and no proxy, never follows a redirect and caps the
//! response body; the whole call (DNS included) is bounded by the timeout. The policy is not
//! proxy-aware: a deployment that must leave through an HTTP proxy cannot use it yet.
//!
//! Endpoints the operator configures for the service itself are checked by
//! [`operator_endpoint_allowed`] instead.

mod address;
mod client;
mod explain;
mod resolve;
mod rules;
mod url_check;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

pub use explain::Explanation;
pub use resolve::{ResolveError, Resolver, StaticResolver, SystemResolver};
pub use rules::EgressRules;
pub use url_check::operator_endpoint_allowed;

use url_check::{Target, TargetHost};

/// Why the policy refused a destination (permanent: retrying cannot help).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    /// The URL does not parse or has no host.
    #[error("the URL is not valid")]
    InvalidUrl,
    /// The scheme is neither https nor http.
    #[error("only https URLs are allowed")]
    UnsupportedScheme,
    /// Plain http to a non-loopback host, or without allow_private.
    #[error("plain http is only allowed to loopback hosts with private delivery allowed")]
    InsecureHttp,
    /// The URL embeds `user:pass@`.
    #[error("URLs with embedded credentials are not allowed")]
    Credentials,
    /// The host is not on the allowlist.
    #[error("the host is not on the allowed hosts list")]
    HostNotAllowed,
    /// The host is, or resolves to, a cloud metadata endpoint.
    #[error("cloud metadata endpoints are always blocked")]
    MetadataAddress,
    /// The host is, or resolves to, a private or reserved address.
    #[error("the host is or resolves to a private or reserved address")]
    PrivateAddress,
    /// DNS answered with no address.
    #[error("the host has no addresses")]
    NoAddresses,
    /// The name does not exist.
    #[error("the host name does not resolve")]
    Unresolvable,
    /// `localhost` resolved to an address that is not loopback.
    #[error("localhost resolved to a non-loopback address")]
    LocalhostNotLoopback,
}

impl DenyReason {
    /// A stable snake_case code (API output, metrics, dead-letter reasons).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl => "invalid_url",
            Self::UnsupportedScheme => "unsupported_scheme",
            Self::InsecureHttp => "insecure_http",
            Self::Credentials => "credentials",
            Self::HostNotAllowed => "host_not_allowed",
            Self::MetadataAddress => "metadata_address",
            Self::PrivateAddress => "private_address",
            Self::NoAddresses => "no_addresses",
            Self::Unresolvable => "unresolvable",
            Self::LocalhostNotLoopback => "localhost_not_loopback",
        }
    }
}

/// An egress failure; messages never contain the URL (it may carry secrets).
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The policy refused the destination (permanent).
    #[error("egress denied: {0}")]
    Denied(DenyReason),
    /// DNS temporary failure, connect error or timeout (retryable).
    #[error("temporary egress failure: {0}")]
    Temporary(String),
    /// The response body is larger than the cap (the cap in bytes).
    #[error("the response is larger than {0} bytes")]
    ResponseTooLarge(usize),
    /// The destination answered with a redirect (not followed).
    #[error("the destination redirected (status {0}); redirects are not followed")]
    Redirect(u16),
    /// Any other transport error.
    #[error("http error: {0}")]
    Http(String),
}

impl EgressError {
    /// Whether trying again later may succeed (only [`EgressError::Temporary`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Temporary(_))
    }

    /// A stable snake_case code: the deny reason's, or the kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Denied(reason) => reason.code(),
            Self::Temporary(_) => "temporary_failure",
            Self::ResponseTooLarge(_) => "response_too_large",
            Self::Redirect(_) => "redirect",
            Self::Http(_) => "http_error",
        }
    }
}

impl From<DenyReason> for EgressError {
    fn from(reason: DenyReason) -> Self {
        Self::Denied(reason)
    }
}

/// What to POST: headers (`Host`, `Content-Length`, `Transfer-Encoding` and `Connection` are
/// set by the client and dropped here) and the body.
#[derive(Clone, Debug, Default)]
pub struct EgressRequest {
    /// Request headers.
    pub headers: http::HeaderMap,
    /// Request body.
    pub body: bytes::Bytes,
}

/// A response that was not a redirect and fit the cap (any status; the caller judges it).
#[derive(Clone, Debug)]
pub struct EgressResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The whole body (at most the cap).
    pub body: bytes::Bytes,
}

/// A URL that passed the policy, with the addresses it may be reached at.
#[derive(Clone, Debug)]
pub struct CheckedUrl {
    url: Url,
    host: String,
    addresses: Vec<SocketAddr>,
    pinned_name: Option<String>,
}

impl CheckedUrl {
    fn new(target: Target, ips: &[IpAddr]) -> Self {
        let addresses = ips.iter().map(|&ip| SocketAddr::new(ip, target.port)).collect();
        let pinned_name = match target.host {
            TargetHost::Name(_) => target.url.host_str().map(str::to_owned),
            TargetHost::Ip(_) => None,
        };
        Self { host: target.host.as_key(), url: target.url, addresses, pinned_name }
    }

    /// The normalized URL (numeric hosts rewritten as addresses).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host: lowercase name without trailing dot, or the address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The validated addresses to connect to, with the port, in resolver order.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// The name to pin to [`Self::addresses`] in the client (`None` for an IP-literal host).
    fn pinned_name(&self) -> Option<&str> {
        self.pinned_name.as_deref()
    }
}

/// The egress policy with its resolver and timeout; cheap to clone.
#[derive(Clone)]
pub struct Egress {
    resolver: Arc<dyn Resolver>,
    timeout: Duration,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

/// The outcome of a check, with whatever DNS answered (for [`Egress::explain`]).
struct Evaluation {
    result: Result<CheckedUrl, EgressError>,
    resolved: Vec<IpAddr>,
}

impl Egress {
    /// A policy resolving through `resolver`, bounding DNS plus request by `timeout`.
    pub fn new(resolver: Arc<dyn Resolver>, timeout: Duration) -> Self {
        Self { resolver, timeout }
    }

    /// The bound on DNS plus request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Validates url against rules (and DNS): the checked URL and the validated addresses to connect to.
    pub async fn check(&self, url: &str, rules: &EgressRules) -> Result<CheckedUrl, EgressError> {
        self.evaluate(url, rules).await.result
    }

    /// The verdict on `url` as JSON-ready data (for `GET /egress/explain`).
    pub async fn explain(&self, url: &str, rules: &EgressRules) -> Explanation {
        let evaluation = self.evaluate(url, rules).await;
        Explanation::new(&evaluation.result, &evaluation.resolved)
    }

    /// POSTs to url after `check`, connecting ONLY to a validated address (no second DNS lookup;
    /// TLS SNI and certificate checks still use the host name), never following redirects (a 3xx
    /// -> EgressError::Redirect), reading at most max_response_bytes of the body (more ->
    /// ResponseTooLarge), bounded by the timeout (DNS + request).
    pub async fn post(
        &self,
        url: &str,
        rules: &EgressRules,
        request: EgressRequest,
        max_response_bytes: usize,
    ) -> Result<EgressResponse, EgressError> {
        let call = async {
            let checked = self.check(url, rules).await?;
            client::post(&checked, request, max_response_bytes, self.timeout).await
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(EgressError::Temporary(format!("timed out after {} ms", self.timeout.as_millis()))),
        }
    }

    async fn evaluate(&self, url: &str, rules: &EgressRules) -> Evaluation {
        let denied = |reason: DenyReason, resolved: Vec<IpAddr>| Evaluation { result: Err(reason.into()), resolved };
        let target = match url_check::screen(url, rules) {
            Ok(target) => target,
            Err(reason) => return denied(reason, Vec::new()),
        };
        let name = match &target.host {
            TargetHost::Ip(ip) => {
                let ip = *ip;
                return Evaluation { result: Ok(CheckedUrl::new(target, &[ip])), resolved: vec![ip] };
            }
            TargetHost::Name(name) => name.clone(),
        };
        let answers = match tokio::time::timeout(self.timeout, self.resolver.lookup(&name)).await {
            Ok(Ok(answers)) => resolve::dedup(answers),
            Ok(Err(ResolveError::NotFound)) => return denied(DenyReason::Unresolvable, Vec::new()),
            Ok(Err(ResolveError::Temporary(message))) => {
                let result = Err(EgressError::Temporary(format!("DNS lookup failed: {message}")));
                return Evaluation { result, resolved: Vec::new() };
            }
            Err(_) => {
                let result = Err(EgressError::Temporary("DNS lookup timed out".to_owned()));
                return Evaluation { result, resolved: Vec::new() };
            }
        };
        match address::judge_answers(&name, &answers, target.plain_http, rules) {
            Ok(()) => Evaluation { result: Ok(CheckedUrl::new(target, &answers)), resolved: answers },
            Err(reason) => denied(reason, answers),
        }
    }
}
