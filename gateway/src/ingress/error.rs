//! Ingress errors and their one mapping to HTTP statuses and `{"ok":false,"error","message"}`.
//! Input the sender got wrong is always a 4xx; 5xx bodies are generic.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cowork_providers::InboundError;
use serde_json::json;

use crate::redact::Redactor;

/// Why an ingress request was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// No provider with that id.
    #[error("no provider with this id is configured")]
    UnknownProvider,
    /// Authentication failed.
    #[error("authentication failed")]
    Unauthorized,
    /// Correctly signed, but for another workspace than the binding serves.
    #[error("this request is for another workspace than the one this provider serves")]
    WorkspaceMismatch,
    /// A signed request already accepted was sent again with new events.
    #[error("this signed request was already used")]
    Replayed,
    /// The body is not a valid payload.
    #[error("{0}")]
    BadPayload(String),
    /// The body or a part of it is over a limit.
    #[error("{0}")]
    TooLarge(String),
    /// The source sent too many requests.
    #[error("too many requests from this source; retry later")]
    RateLimited,
    /// The source failed authentication too often and is blocked for a while.
    #[error("too many failed authentications from this source; retry later")]
    AuthBackoff,
    /// The interaction handle is not known.
    #[error("this interaction handle is not known")]
    InteractionUnknown,
    /// The interaction handle has expired.
    #[error("this interaction has expired")]
    InteractionExpired,
    /// The inbox could not commit; the sender should retry.
    #[error("the gateway cannot accept messages right now")]
    Unavailable,
    /// No such route.
    #[error("not found")]
    NotFound,
    /// The route exists, but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl From<InboundError> for IngressError {
    fn from(error: InboundError) -> Self {
        match error {
            InboundError::Unauthorized(_) => Self::Unauthorized,
            InboundError::WorkspaceMismatch => Self::WorkspaceMismatch,
            InboundError::BadPayload(message) => Self::BadPayload(message),
            InboundError::TooLarge(message) => Self::TooLarge(message),
        }
    }
}

impl IngressError {
    /// The stable error code (`unauthorized`, `payload_too_large`, ...), as the body says it.
    pub fn kind(&self) -> &'static str {
        self.status_and_code().1
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::UnknownProvider => (StatusCode::NOT_FOUND, "unknown_provider"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Replayed => (StatusCode::UNAUTHORIZED, "replayed"),
            Self::WorkspaceMismatch => (StatusCode::FORBIDDEN, "workspace_mismatch"),
            Self::BadPayload(_) => (StatusCode::BAD_REQUEST, "invalid_payload"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::AuthBackoff => (StatusCode::TOO_MANY_REQUESTS, "auth_backoff"),
            Self::InteractionUnknown => (StatusCode::BAD_REQUEST, "interaction_unknown"),
            Self::InteractionExpired => (StatusCode::BAD_REQUEST, "interaction_expired"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        }
    }
}

/// The error code of an ingress refusal, attached to the response for the metrics layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorCode(pub &'static str);

impl IngressError {
    /// The same error with provider-written text (which may echo the request) redacted.
    pub(crate) fn redacted(self, redactor: &Redactor) -> Self {
        match self {
            Self::BadPayload(message) => Self::BadPayload(redactor.redact(&message)),
            Self::TooLarge(message) => Self::TooLarge(redactor.redact(&message)),
            other => other,
        }
    }
}

impl IntoResponse for IngressError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = Json(json!({"ok": false, "error": code, "message": self.to_string()}));
        let mut response = (status, body).into_response();
        response.extensions_mut().insert(ErrorCode(code));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
