//! `GET /api/channels/agents` and `POST /api/channels/agents`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Caller, JsonBody, Query};
use super::{ApiError, ApiState};
use crate::admin::agents::NewAgent;
use crate::admin::validate;

/// The list query.
#[derive(Deserialize)]
pub(super) struct ListQuery {
    limit: Option<String>,
}

pub(super) async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = validate::limit(query.limit.as_deref())?;
    Ok(Json(json!({ "agents": state.admin.list_agents(&caller, limit).await? })))
}

pub(super) async fn create(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<NewAgent>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let agent = state.admin.create_agent(&caller, body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "agent": agent }))))
}
