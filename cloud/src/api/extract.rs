//! Request extractors: the calling [`Principal`] (from the bearer token, behind the
//! [`Guard`](super::guard::Guard)'s limits), a JSON body read
//! within the size limit (413 above it, 400 when it is not a JSON object of the right shape),
//! and query strings (400 when malformed).

use axum::body::Body;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::{ApiError, ApiState};
use crate::auth::Principal;

/// The authenticated caller.
pub struct Caller(pub Principal);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).and_then(|value| value.to_str().ok());
        let client =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        state.guard.before_auth(client, header)?;
        let principal = match state.admin.authenticate(header).await {
            Ok(principal) => principal,
            Err(error) => {
                if matches!(error, ApiError::Unauthorized(_)) {
                    state.guard.auth_failed(client, header);
                }
                return Err(error);
            }
        };
        state.guard.after_auth(client, &principal)?;
        Ok(Self(principal))
    }
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
