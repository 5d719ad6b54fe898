//! What a call to the cloud can fail with, by status class, as Open Cowork's client names them.

use std::time::Duration;

use crate::BackendError;

/// A failed call to the cloud's API.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// 401: the service token is missing, wrong, expired or revoked.
    #[error("cloud refused the service token (401): {0}")]
    Unauthorized(String),
    /// 402: the organization's plan does not cover this.
    #[error("cloud requires payment (402): {message}")]
    PaymentRequired {
        /// The cloud's message.
        message: String,
    },
    /// 403: the token may not do this (`code` says why).
    #[error("cloud forbade the call (403 {code}): {message}")]
    Forbidden {
        /// The cloud's code (`auth.gateway_scope_required`, `channels.binding_scope_required`, ...).
        code: String,
        /// The cloud's message.
        message: String,
    },
    /// 404.
    #[error("not found in the cloud: {0}")]
    NotFound(String),
    /// 409.
    #[error("conflict in the cloud: {0}")]
    Conflict(String),
    /// 429: a rate limit or quota; retry after the wait.
    #[error("cloud rate limit (429): {message}")]
    RateLimited {
        /// The cloud's message.
        message: String,
        /// How long to wait.
        retry_after: Option<Duration>,
    },
    /// 5xx.
    #[error("cloud failed ({status}): {message}")]
    Server {
        /// The status.
        status: u16,
        /// The cloud's message.
        message: String,
    },
    /// Any other unexpected status.
    #[error("cloud answered {status}: {message}")]
    Http {
        /// The status.
        status: u16,
        /// The cloud's message.
        message: String,
    },
    /// The cloud could not be reached.
    #[error("cloud unreachable: {0}")]
    Network(String),
    /// No answer within the request timeout.
    #[error("cloud did not answer within the request timeout")]
    Timeout,
    /// The answer was not the JSON expected.
    #[error("unexpected answer from the cloud: {0}")]
    Parse(String),
}

impl CloudError {
    /// The error for a non-2xx answer with the body's `error` and `code`.
    pub(crate) fn from_status(status: u16, body: &serde_json::Value, retry_after: Option<Duration>) -> Self {
        let message = body["error"].as_str().unwrap_or("no message").to_owned();
        let code = body["code"].as_str().or_else(|| body["verdict"]["policyCode"].as_str()).unwrap_or("").to_owned();
        match status {
            401 => Self::Unauthorized(message),
            402 => Self::PaymentRequired { message },
            403 => Self::Forbidden { code, message },
            404 => Self::NotFound(message),
            409 => Self::Conflict(message),
            429 => Self::RateLimited { message, retry_after },
            500..=599 => Self::Server { status, message },
            _ => Self::Http { status, message },
        }
    }

    /// Whether the same call may succeed later without anyone changing the request: the cloud
    /// is down, busy, or refused a token an operator can fix.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network(_)
            | Self::Timeout
            | Self::Server { .. }
            | Self::RateLimited { .. }
            | Self::Unauthorized(_) => true,
            // A scope refusal is the token's setup, not the request's fault.
            Self::Forbidden { code, .. } => code.starts_with("auth.") || code == "channels.binding_scope_required",
            _ => false,
        }
    }
}

impl From<CloudError> for BackendError {
    fn from(error: CloudError) -> Self {
        match error {
            CloudError::NotFound(what) => BackendError::NotFound(what),
            CloudError::RateLimited { message, .. } | CloudError::PaymentRequired { message } => {
                BackendError::Refused(message)
            }
            transient if transient.is_transient() => BackendError::Unavailable(Box::new(transient)),
            other => BackendError::Rejected(other.to_string()),
        }
    }
}
