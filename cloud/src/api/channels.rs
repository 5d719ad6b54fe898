//! The channel routes a gateway calls: identities, binds, prompts, aborts, snapshots, render
//! cursors and the session event stream.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::extract::{Caller, JsonBody, Query, Traced};
use super::{ApiError, ApiState};
use crate::admin::validate;
use crate::channels::deliveries::{
    AckDelivery, CreateDelivery, ListDeliveries, OperateDelivery, RenewDelivery, StreamRequest,
};
use crate::channels::interactions::{CreateInteraction, ResolveInteraction};
use crate::channels::provider_events::{ClaimEvent, CompleteEvent};
use crate::channels::{BindSession, CursorRequest, QueueCommand, ResolveIdentity, SessionCommand, stream};

/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

pub(super) async fn resolve_identity(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<ResolveIdentity>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.resolve_identity(&caller, body).await?))
}

pub(super) async fn bind(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<BindSession>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.bind(&caller, body).await?))
}

/// The by-thread query.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ThreadQuery {
    provider: Option<String>,
    external_workspace_id: Option<String>,
    external_chat_id: Option<String>,
    external_thread_id: Option<String>,
}

pub(super) async fn by_thread(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(query): Query<ThreadQuery>,
) -> Result<Json<Value>, ApiError> {
    let found = state
        .channels
        .by_thread(
            &caller,
            query.provider.as_deref(),
            query.external_workspace_id.as_deref(),
            query.external_chat_id.as_deref(),
            query.external_thread_id.as_deref(),
        )
        .await?;
    Ok(Json(found))
}

pub(super) async fn prompt(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Traced(trace): Traced,
    JsonBody(mut body): JsonBody<SessionCommand>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    body.trace = trace;
    Ok((StatusCode::ACCEPTED, Json(state.channels.prompt(&caller, body).await?)))
}

pub(super) async fn abort(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Traced(trace): Traced,
    JsonBody(mut body): JsonBody<SessionCommand>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    body.trace = trace;
    Ok((StatusCode::ACCEPTED, Json(state.channels.abort(&caller, body).await?)))
}

pub(super) async fn snapshot(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(session_binding_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.snapshot(&caller, &session_binding_id).await?))
}

pub(super) async fn cursor(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<CursorRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.cursor(&caller, body).await?))
}

/// The events query.
#[derive(Deserialize)]
pub(super) struct EventsQuery {
    after: Option<String>,
}

pub(super) async fn events(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(session_binding_id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::Unavailable { code: "service.draining", message: "The cloud is shutting down.".into() });
    }
    let last_event_id = headers.get("last-event-id").map(|value| value.to_str().unwrap_or("invalid"));
    let cursor = stream::start_cursor(query.after.as_deref(), last_event_id)?;
    let events =
        stream::open(&state.channels, &caller, &session_binding_id, cursor, state.sse_poll, state.shutdown.clone())
            .await?;
    Ok(event_stream(futures::StreamExt::map(events, |event| Ok::<_, Infallible>(event.unwrap_or_default()))))
}

pub(super) async fn queue_command(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Traced(trace): Traced,
    JsonBody(mut body): JsonBody<QueueCommand>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    body.trace = trace;
    Ok((StatusCode::ACCEPTED, Json(state.channels.queue_command(&caller, body).await?)))
}

/// The log query.
#[derive(Deserialize)]
pub(super) struct LogQuery {
    after: Option<String>,
    limit: Option<String>,
}

pub(super) async fn log(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(session_binding_id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    let after = stream::start_cursor(query.after.as_deref(), None)?;
    let limit = validate::limit(query.limit.as_deref())?;
    Ok(Json(state.channels.log_page(&caller, &session_binding_id, after, limit).await?))
}

pub(super) async fn claim_provider_event(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<ClaimEvent>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.claim_provider_event(&caller, body).await?))
}

pub(super) async fn complete_provider_event(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(event_id): Path<String>,
    JsonBody(body): JsonBody<CompleteEvent>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.complete_provider_event(&caller, &event_id, body).await?))
}

pub(super) async fn create_interaction(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<CreateInteraction>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.channels.create_interaction(&caller, body).await?)))
}

pub(super) async fn resolve_interaction(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<ResolveInteraction>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.channels.resolve_interaction(&caller, body).await?)))
}

/// The delivery stream's query: `claimedBy`, `ttlMs`, and `channelBindingId` (repeatable).
pub(super) async fn delivery_stream(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::Unavailable { code: "service.draining", message: "The cloud is shutting down.".into() });
    }
    let mut request = StreamRequest::default();
    for (key, value) in pairs {
        match key.as_str() {
            "claimedBy" => request.claimed_by = Some(value),
            "ttlMs" => request.ttl_ms = Some(value),
            "channelBindingId" => request.channel_binding_ids.push(value),
            _ => {}
        }
    }
    let deliveries =
        state.channels.open_delivery_stream(&caller, request, state.delivery_poll, state.shutdown.clone()).await?;
    Ok(event_stream(deliveries))
}

/// An SSE response over `events`, with keep-alive comments and no caching or buffering.
fn event_stream(
    events: impl futures::Stream<Item = Result<axum::response::sse::Event, Infallible>> + Send + 'static,
) -> Response {
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"));
    let mut response = sse.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-transform"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

pub(super) async fn create_delivery(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<CreateDelivery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.channels.create_delivery(&caller, body).await?)))
}

pub(super) async fn list_deliveries(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(query): Query<ListDeliveries>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.list_deliveries(&caller, query).await?))
}

/// The ack's query: a claimant for callers that name it there.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClaimantQuery {
    claimed_by: Option<String>,
}

pub(super) async fn ack_delivery(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(delivery_id): Path<String>,
    Query(query): Query<ClaimantQuery>,
    JsonBody(body): JsonBody<AckDelivery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.ack_delivery(&caller, &delivery_id, query.claimed_by.as_deref(), body).await?))
}

pub(super) async fn renew_delivery(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(delivery_id): Path<String>,
    JsonBody(body): JsonBody<RenewDelivery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.renew_delivery(&caller, &delivery_id, body).await?))
}

pub(super) async fn retry_delivery(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(delivery_id): Path<String>,
    JsonBody(body): JsonBody<OperateDelivery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.retry_delivery(&caller, &delivery_id, body).await?))
}

pub(super) async fn dead_letter_delivery(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(delivery_id): Path<String>,
    JsonBody(body): JsonBody<OperateDelivery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.channels.dead_letter_delivery(&caller, &delivery_id, body).await?))
}
