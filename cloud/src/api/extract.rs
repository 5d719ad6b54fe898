//! Request extractors: the calling [`Principal`] (an API token, else the configured human auth
//! mode, behind the [`Guard`](super::guard::Guard)'s limits), a JSON body read
//! within the size limit (413 above it, 400 when it is not a JSON object of the right shape),
//! and query strings (400 when malformed).

use axum::body::Body;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::{ApiError, ApiState};
use crate::auth::header::SIGNATURE;
use crate::auth::mode;
use crate::auth::oidc::OidcError;
use crate::auth::token::TOKEN_PREFIX;
use crate::auth::{HumanAuthError, Principal};

/// The authenticated caller.
pub struct Caller(pub Principal);

/// The request's W3C `traceparent`, when it carries a valid one (an invalid one is ignored).
pub struct Traced(pub Option<cowork_cloud_client::TraceParent>);

impl<S: Send + Sync> FromRequestParts<S> for Traced {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(cowork_cloud_client::TRACEPARENT_HEADER).and_then(|v| v.to_str().ok());
        Ok(Self(header.and_then(cowork_cloud_client::TraceParent::parse)))
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).and_then(|value| value.to_str().ok());
        // Header auth sends no Authorization: its signature is the credential the back-off keys on.
        let credential = header.or_else(|| parts.headers.get(SIGNATURE).and_then(|value| value.to_str().ok()));
        let client =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        state.guard.before_auth(client, credential)?;
        let principal = match authenticate(state, &parts.headers, header).await {
            Ok(principal) => principal,
            Err(error) => {
                if matches!(error, ApiError::Unauthorized(_)) {
                    state.guard.auth_failed(client, credential);
                }
                return Err(error);
            }
        };
        state.guard.after_auth(client, &principal)?;
        Ok(Self(principal))
    }
}

/// The composite resolver (§5.1): an API token when the request carries one (a bad token is
/// refused, never handed to the mode), else the configured human auth mode.
async fn authenticate(
    state: &ApiState,
    headers: &HeaderMap,
    authorization: Option<&str>,
) -> Result<Principal, ApiError> {
    let bearer = mode::bearer(authorization);
    let api_token = bearer.is_some_and(|token| token.starts_with(TOKEN_PREFIX));
    if api_token || state.auth.tokens_only() {
        return state.admin.authenticate(authorization).await;
    }
    state.auth.authenticate(headers, bearer).await.map_err(|error| {
        // The reason is for the operator; the caller learns only that it was refused.
        match &error {
            HumanAuthError::Oidc(OidcError::Unreachable(cause)) => {
                tracing::warn!(error = %cause, "OIDC issuer unavailable; request refused");
            }
            other => tracing::info!(reason = %other, mode = %state.auth.mode(), "authentication refused"),
        }
        ApiError::Unauthorized("Valid credentials are required.")
    })
}

/// A JSON object body deserialized into `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<ApiState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request<Body>, state: &ApiState) -> Result<Self, Self::Rejection> {
        let limit = state.max_body_bytes;
        let bytes = axum::body::to_bytes(request.into_body(), limit).await.map_err(|error| {
            let too_large =
                std::error::Error::source(&error).is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::bad_request("request.body_unreadable", "The request body could not be read.")
            }
        })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| ApiError::bad_request("request.invalid_json", "Request body must be valid JSON."))?;
        if !value.is_object() {
            return Err(ApiError::bad_request("request.invalid_json", "Request body must be a JSON object."));
        }
        serde_json::from_value(value)
            .map(Self)
            .map_err(|error| ApiError::bad_request("request.invalid_field", format!("Invalid request body: {error}.")))
    }
}

/// A query string deserialized into `T`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::try_from_uri(&parts.uri).map(|query| Self(query.0)).map_err(|error| {
            ApiError::bad_request("request.invalid_query", format!("Invalid query string: {}.", error.body_text()))
        })
    }
}
