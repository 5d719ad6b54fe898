//! `GET|POST /api/channels/bindings`, `PATCH /api/channels/bindings/{bindingId}` and
//! `GET /api/channels/identities`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Caller, JsonBody, Query};
use super::{ApiError, ApiState};
use crate::admin::bindings::{BindingPatch, NewBinding};
use crate::admin::validate;

/// The list query.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    agent_id: Option<String>,
    limit: Option<String>,
}

pub(super) async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = validate::limit(query.limit.as_deref())?;
    let bindings = state.admin.list_bindings(&caller, query.agent_id.as_deref(), limit).await?;
    Ok(Json(json!({ "bindings": bindings })))
}

pub(super) async fn create(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<NewBinding>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let binding = state.admin.create_binding(&caller, body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "binding": binding }))))
}

pub(super) async fn update(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(binding_id): Path<String>,
    JsonBody(body): JsonBody<BindingPatch>,
) -> Result<Json<Value>, ApiError> {
    let binding = state.admin.update_binding(&caller, &binding_id, body).await?;
    Ok(Json(json!({ "binding": binding })))
}

/// The identities query.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IdentitiesQuery {
    channel_binding_id: Option<String>,
    limit: Option<String>,
}

pub(super) async fn identities(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(query): Query<IdentitiesQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = validate::limit(query.limit.as_deref())?;
    let identities = state.admin.list_identities(&caller, query.channel_binding_id.as_deref(), limit).await?;
    Ok(Json(json!({ "identities": identities })))
}
