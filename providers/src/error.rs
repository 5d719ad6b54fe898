//! Provider errors. Inbound failures are [`InboundError`] (the gateway's ingress maps each to one
//! HTTP status); outbound failures are [`ProviderError`], classified by kind and carrying
//! `retry_after` as data so the dispatcher never parses messages.

use std::time::Duration;

/// Why an inbound request was refused.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// The request failed authentication (signature, secret, timestamp window, replay).
    #[error("authentication failed: {0}")]
    Unauthorized(&'static str),
    /// Correctly signed, but for another workspace than the configured one (for example a
    /// Slack team this binding does not serve).
    #[error("the request is for another workspace")]
    WorkspaceMismatch,
    /// The body is not a valid payload for this provider.
    #[error("invalid payload: {0}")]
    BadPayload(String),
    /// A declared size is over a limit.
    #[error("too large: {0}")]
    TooLarge(String),
}

/// The class of an outbound failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// Temporary (timeouts, 5xx, 429, connection errors): retry with backoff.
    Transient,
    /// The request can never succeed as sent: dead-letter it.
    Permanent,
    /// The provider's credentials were refused: stop and mark the provider unhealthy.
    Unauthorized,
}

/// An outbound failure.
#[derive(Debug, thiserror::Error)]
#[error("{kind:?} provider failure: {message}")]
pub struct ProviderError {
    /// Retry or not.
    pub kind: ProviderErrorKind,
    /// How long the platform asked us to wait, when it said so.
    pub retry_after: Option<Duration>,
    /// A short, secret-free description.
    pub message: String,
}

impl ProviderError {
    /// A temporary failure.
    pub fn transient(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self { kind: ProviderErrorKind::Transient, retry_after, message: message.into() }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { kind: ProviderErrorKind::Permanent, retry_after: None, message: message.into() }
    }

    /// Whether the dispatcher should try again later.
    pub fn is_retryable(&self) -> bool {
        self.kind == ProviderErrorKind::Transient
    }
}
