//! Operator API errors and their one mapping to HTTP statuses and
//! `{"ok":false,"error":"<code>","message":"…"}` (the same body shape as ingress). Messages are
//! redacted where they are built; 5xx bodies are generic and the cause goes to the log.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Why an operator request failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// No valid admin credentials (the message says what is missing).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A query parameter, path id or body is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// No such delivery (or route).
    #[error("{0}")]
    NotFound(String),
    /// The delivery's state does not allow the action.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error("the gateway store failed")]
    Store(#[from] StoreError),
    /// The cloud could not answer for its delivery queue.
    #[error("the cloud's delivery queue is unavailable: {0}")]
    Upstream(String),
}

impl From<cowork_cloud_client::BackendError> for OperatorError {
    fn from(error: cowork_cloud_client::BackendError) -> Self {
        use cowork_cloud_client::BackendError;
        match error {
            BackendError::NotFound(what) => Self::NotFound(what),
            BackendError::Rejected(why) | BackendError::Refused(why) => Self::Conflict(why),
            unavailable @ BackendError::Unavailable(_) => Self::Upstream(unavailable.to_string()),
        }
    }
}

impl OperatorError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Store(error) if error.is_unavailable() => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
            Self::Upstream(_) => (StatusCode::BAD_GATEWAY, "cloud_unavailable"),
        }
    }
}

impl IntoResponse for OperatorError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Store(error) => {
                tracing::error!(error = %error, source = ?std::error::Error::source(error), "operator request failed");
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    "the gateway store is unavailable; retry later".to_owned()
                } else {
                    "internal error".to_owned()
                }
            }
            other => other.to_string(),
        };
        let mut response = (status, Json(json!({"ok": false, "error": code, "message": message}))).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
