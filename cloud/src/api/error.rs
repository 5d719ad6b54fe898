//! The API's errors and the one place they become HTTP responses: the status, and Open Cowork's
//! error body `{error, code, retryAfterMs?, verdict?}` with `Retry-After` when there is a wait.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::StoreError;

/// Why a request failed, as the caller sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed or invalid request (400).
    #[error("{message}")]
    BadRequest {
        /// A machine-readable code such as `request.invalid_json`.
        code: &'static str,
        /// What is wrong, naming the field.
        message: String,
    },
    /// No credentials, or credentials that are not valid now (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The organization's plan does not cover the action (402).
    #[error("{message}")]
    PaymentRequired {
        /// The policy code (`billing.subscription_inactive`, ...).
        code: &'static str,
        /// What is refused.
        message: String,
    },
    /// Valid credentials that may not do this (403).
    #[error("{message}")]
    Forbidden {
        /// The policy code (`auth.scope_required`, ...).
        code: &'static str,
        /// What is refused.
        message: String,
    },
    /// The resource does not exist or is not the caller's to see (404).
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this method (405).
    #[error("Method not allowed.")]
    MethodNotAllowed,
    /// The request conflicts with the stored state (409).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the limit (413).
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A rate limit or quota is exhausted (429).
    #[error("{message}")]
    RateLimited {
        /// The policy code (`rate_limit.http_exceeded`, ...).
        code: &'static str,
        /// Which limit.
        message: String,
        /// When a retry may succeed.
        retry_after_ms: u64,
    },
    /// The service cannot answer now (503): draining, or its store is down.
    #[error("{message}")]
    Unavailable {
        /// `service.draining`, `store.unavailable`, ...
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A fault on our side (500); the detail is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 with `code` and `message`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    /// A 403 with `code` and `message`.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden { code, message: message.into() }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The top-level `code` of the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::PaymentRequired { code, .. }
            | Self::Forbidden { code, .. }
            | Self::RateLimited { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::Unauthorized(_) => "auth.unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "request.too_large",
            Self::Internal(_) => "internal",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let message = match self {
            Self::Internal(_) => "Internal server error.".to_owned(),
            other => other.to_string(),
        };
        let mut body = json!({ "error": message, "code": self.code() });
        if let Self::RateLimited { retry_after_ms, .. } = self {
            body["retryAfterMs"] = json!(retry_after_ms);
        }
        // Policy denials carry Open Cowork's verdict beside the code.
        if let Self::PaymentRequired { code, message }
        | Self::Forbidden { code, message }
        | Self::RateLimited { code, message, .. } = self
        {
            body["verdict"] = json!({ "allowed": false, "reason": message, "policyCode": code });
        }
        body
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => Self::NotFound(format!("{what} was not found.")),
            StoreError::Rejected(why) => Self::Conflict(why),
            StoreError::Database(error) => {
                tracing::warn!(%error, "store unavailable");
                Self::Unavailable {
                    code: "store.unavailable",
                    message: "The store is unavailable; retry shortly.".into(),
                }
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        let wait_ms = match &self {
            Self::RateLimited { retry_after_ms, .. } => Some(*retry_after_ms),
            Self::Unavailable { .. } => Some(1_000),
            _ => None,
        };
        if let Some(ms) = wait_ms {
            let seconds = ms.div_ceil(1_000).max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_open_coworks_with_a_top_level_code() {
        let limited = ApiError::RateLimited {
            code: "rate_limit.http_exceeded",
            message: "Too many requests.".into(),
            retry_after_ms: 1500,
        };
        assert_eq!(
            limited.body(),
            json!({
                "error": "Too many requests.",
                "code": "rate_limit.http_exceeded",
                "retryAfterMs": 1500,
                "verdict": {"allowed": false, "reason": "Too many requests.", "policyCode": "rate_limit.http_exceeded"}
            })
        );
        let response = limited.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let error = ApiError::Internal(anyhow::anyhow!("password=hunter2 at db"));
        assert_eq!(error.body(), json!({"error": "Internal server error.", "code": "internal"}));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
