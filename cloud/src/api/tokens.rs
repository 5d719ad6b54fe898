//! `GET|POST /api/api-tokens`, `POST /api/api-tokens/{tokenId}/channel-bindings` and
//! `DELETE /api/api-tokens/{tokenId}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Caller, JsonBody, Query};
use super::{ApiError, ApiState};
use crate::admin::tokens::NewTokenRequest;
use crate::admin::validate;

/// The list query.
#[derive(Deserialize)]
pub(super) struct ListQuery {
    limit: Option<String>,
}

/// The grant body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GrantBody {
    channel_binding_id: Option<String>,
}

pub(super) async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = validate::limit(query.limit.as_deref())?;
    Ok(Json(json!({ "tokens": state.admin.list_tokens(&caller, limit).await? })))
}

pub(super) async fn create(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<NewTokenRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let issued = state.admin.issue_token_request(&caller, body).await?;
    Ok((StatusCode::CREATED, Json(issued.body())))
}

pub(super) async fn grant(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(token_id): Path<String>,
    JsonBody(body): JsonBody<GrantBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.admin.grant_binding(&caller, &token_id, body.channel_binding_id.as_deref()).await?))
}

pub(super) async fn revoke(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(token_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.admin.revoke_token(&caller, &token_id).await?))
}
