//! `GET /api/channels/agents`, `POST /api/channels/agents` and `PATCH /api/channels/agents/{agentId}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Caller, JsonBody, Query};
use super::{ApiError, ApiState};
use crate::admin::agents::{AgentPatch, NewAgent};
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

pub(super) async fn update(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(agent_id): Path<String>,
    JsonBody(body): JsonBody<AgentPatch>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "agent": state.admin.update_agent(&caller, &agent_id, body).await? })))
}
