//! `/deliveries`: list outbox rows, read one with its attempt history, retry one with a fresh
//! attempt budget, dead-letter one, and redrive many by filter (with a dry run).
//!
//! A delivery is addressed by its outbox id, as `42` or as its delivery id `dlv_42`. Times in
//! the JSON are unix milliseconds. Text that may carry secrets (`lastError`, attempt errors) is
//! redacted on the way out, even though the dispatcher stores it redacted already.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use cowork_providers::BindingId;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{OperatorError, OperatorState};
use crate::redact::Redactor;
use crate::store::{
    DeliveryAttempt, DeliveryFilter, DeliveryRecord, DeliveryState, OperatorChange, OutboxId, RedriveRequest,
};

/// Rows listed when `limit` is absent, and the most a list returns.
const LIST_LIMIT: (u32, u32) = (50, 200);
/// Rows a redrive resets when `limit` is absent, and the most one resets.
const REDRIVE_LIMIT: (u32, u32) = (100, 1000);
/// The `lastError` of an operator dead letter without a reason.
const DEFAULT_DEAD_REASON: &str = "dead-lettered by an operator";

/// `GET /deliveries` query.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    status: Option<String>,
    channel_binding_id: Option<String>,
    limit: Option<String>,
}

/// `POST /deliveries/{id}/retry` body (optional).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RetryBody {
    channel_binding_id: Option<String>,
}

/// `POST /deliveries/{id}/dead-letter` body (optional); `lastError` is Open Cowork's name.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DeadLetterBody {
    reason: Option<String>,
    last_error: Option<String>,
    channel_binding_id: Option<String>,
}

/// `POST /deliveries/redrive` body (optional).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RedriveBody {
    status: Option<String>,
    channel_binding_id: Option<String>,
    dry_run: Option<bool>,
    limit: Option<u32>,
}

/// Lists deliveries, newest first.
pub(super) async fn list(
    State(state): State<OperatorState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, OperatorError> {
    let Query(query) = query.map_err(|rejection| OperatorError::BadRequest(rejection.body_text()))?;
    let filter = DeliveryFilter {
        state: query.status.as_deref().map(parse_state).transpose()?,
        binding_id: query.channel_binding_id.filter(|b| !b.is_empty()).map(BindingId::new),
        limit: parse_limit(query.limit.as_deref(), LIST_LIMIT)?,
        ..DeliveryFilter::default()
    };
    let rows = state.services.store.list_deliveries(&filter).await?;
    let redactor = &state.services.redactor;
    let deliveries: Vec<Value> = rows.iter().map(|row| delivery_json(row, redactor)).collect();
    let mut body = json!({"ok": true, "deliveries": deliveries});
    // In split mode the cloud keeps a delivery queue of its own for these bindings; list it
    // beside the outbox (a cloud that cannot answer does not hide the outbox).
    let mut cloud_query = Vec::new();
    // The cloud knows the canonical names only (`retrying` is the gateway's alias of `failed`).
    if let Some(status) = filter.state {
        cloud_query.push(format!("status={}", status.as_str()));
    }
    if let Some(binding) = &filter.binding_id {
        cloud_query.push(format!("channelBindingId={}", cowork_cloud_client::http::percent_encode(binding.as_str())));
    }
    cloud_query.push(format!("limit={}", filter.limit));
    if let Some(answer) = state.services.backend.channel_deliveries(&cloud_query.join("&")).await {
        match answer {
            // Each delivery redacted on its own: the list may be longer than a redacted array.
            Ok(cloud) => {
                let listed = cloud["deliveries"].as_array().into_iter().flatten();
                body["cloudDeliveries"] = listed.map(|delivery| redactor.redact_json(delivery)).collect();
            }
            Err(error) => body["cloudError"] = json!(redactor.redact(&error.to_string())),
        }
    }
    Ok(Json(body))
}

/// The cloud delivery a `cloud:<deliveryId>` path names, if it names one.
fn cloud_delivery(raw: &str) -> Option<&str> {
    raw.strip_prefix("cloud:").filter(|id| !id.is_empty())
}

/// Forwards an operator action on a cloud delivery; 404 in standalone mode, which has none.
async fn operate_in_cloud(
    state: &OperatorState,
    delivery_id: &str,
    action: cowork_cloud_client::DeliveryAction,
    body: Value,
) -> Result<Json<Value>, OperatorError> {
    let answer = state.services.backend.operate_channel_delivery(delivery_id, action, &body).await;
    let cloud = answer.ok_or_else(|| OperatorError::NotFound("this gateway has no cloud delivery queue".into()))??;
    tracing::info!(delivery_id, action = action.path(), "operator acted on a cloud delivery");
    Ok(Json(json!({"ok": true, "delivery": state.services.redactor.redact_json(&cloud["delivery"])})))
}

/// One delivery and its attempt history (oldest first).
pub(super) async fn get(
    State(state): State<OperatorState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, OperatorError> {
    let id = parse_id(&id)?;
    let store = &state.services.store;
    let record = store.delivery(id).await?.ok_or_else(|| not_found(id))?;
    let attempts = store.delivery_attempts(id).await?;
    let redactor = &state.services.redactor;
    let history: Vec<Value> = attempts.iter().map(|a| attempt_json(a, redactor)).collect();
    Ok(Json(json!({"ok": true, "delivery": delivery_json(&record, redactor), "attempts": history})))
}

/// Retries a failed or dead delivery now, with a fresh attempt budget.
pub(super) async fn retry(
    State(state): State<OperatorState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, OperatorError> {
    let body: RetryBody = parse_body(&body)?;
    if let Some(cloud) = cloud_delivery(&id) {
        let forwarded = json!({"channelBindingId": body.channel_binding_id});
        return operate_in_cloud(&state, cloud, cowork_cloud_client::DeliveryAction::Retry, forwarded).await;
    }
    let id = parse_id(&id)?;
    check_binding(&state, id, body.channel_binding_id.as_deref()).await?;
    let s = &state.services;
    let change = s.store.retry_delivery(id, s.clock.now_ms()).await?;
    let record = applied(change, id, "retried (only failed or dead deliveries can be)")?;
    s.wake.outbox.notify_one();
    tracing::info!(delivery_id = %delivery_id(id), "operator retried a delivery");
    Ok(Json(json!({"ok": true, "delivery": delivery_json(&record, &s.redactor)})))
}

/// Dead-letters a pending or failed delivery.
pub(super) async fn dead_letter(
    State(state): State<OperatorState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, OperatorError> {
    let body: DeadLetterBody = parse_body(&body)?;
    if let Some(cloud) = cloud_delivery(&id) {
        let reason = body.reason.or(body.last_error);
        let forwarded = json!({"channelBindingId": body.channel_binding_id, "lastError": reason});
        return operate_in_cloud(&state, cloud, cowork_cloud_client::DeliveryAction::DeadLetter, forwarded).await;
    }
    let id = parse_id(&id)?;
    check_binding(&state, id, body.channel_binding_id.as_deref()).await?;
    let s = &state.services;
    let reason = match body.reason.or(body.last_error).map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) {
        Some(reason) => s.redactor.redact(&format!("{DEFAULT_DEAD_REASON}: {reason}")),
        None => DEFAULT_DEAD_REASON.to_owned(),
    };
    let change = s.store.dead_letter_delivery(id, &reason, s.clock.now_ms()).await?;
    let record = applied(change, id, "dead-lettered (only pending or failed deliveries can be)")?;
    tracing::info!(delivery_id = %delivery_id(id), "operator dead-lettered a delivery");
    Ok(Json(json!({"ok": true, "delivery": delivery_json(&record, &s.redactor)})))
}

/// Resets every dead (or failed) delivery matching the filter, oldest first; `dryRun` only
/// reports which ones it would reset.
pub(super) async fn redrive(State(state): State<OperatorState>, body: Bytes) -> Result<Json<Value>, OperatorError> {
    let body: RedriveBody = parse_body(&body)?;
    let status = match body.status.as_deref().map(parse_state).transpose()? {
        None | Some(DeliveryState::Dead) => DeliveryState::Dead,
        Some(DeliveryState::Failed) => DeliveryState::Failed,
        Some(other) => {
            return Err(OperatorError::BadRequest(format!(
                "status `{}` cannot be redriven; use `dead` or `failed`",
                other.as_str()
            )));
        }
    };
    let limit = check_limit(body.limit, REDRIVE_LIMIT)?;
    let dry_run = body.dry_run.unwrap_or(false);
    let binding_id = body.channel_binding_id.filter(|b| !b.is_empty()).map(BindingId::new);
    let request = RedriveRequest { state: status, binding_id, limit, dry_run };
    let s = &state.services;
    let ids = s.store.redrive_deliveries(&request, s.clock.now_ms()).await?;
    if !dry_run && !ids.is_empty() {
        s.wake.outbox.notify_one();
        tracing::info!(count = ids.len(), status = status.as_str(), "operator redrove deliveries");
    }
    let delivery_ids: Vec<String> = ids.iter().map(|id| delivery_id(*id)).collect();
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    Ok(Json(json!({
        "ok": true,
        "dryRun": dry_run,
        "status": status.as_str(),
        "count": ids.len(),
        "ids": ids,
        "deliveryIds": delivery_ids,
    })))
}

/// The JSON of one delivery.
pub(super) fn delivery_json(record: &DeliveryRecord, redactor: &Redactor) -> Value {
    json!({
        "id": record.id.0,
        "deliveryId": delivery_id(record.id),
        "channelBindingId": record.binding_id.as_str(),
        "providerId": record.provider_id.as_str(),
        "chatId": record.chat.chat_id,
        "threadId": record.chat.thread_id,
        "operation": record.operation,
        "state": record.state.as_str(),
        "attempts": record.attempts,
        "nextAttemptAt": record.next_attempt_at,
        "lastError": record.last_error.as_deref().map(|e| redactor.redact(e)),
        "providerMessageId": record.provider_message_id,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
    })
}

fn attempt_json(attempt: &DeliveryAttempt, redactor: &Redactor) -> Value {
    json!({
        "attempt": attempt.attempt,
        "at": attempt.at,
        "outcome": attempt.outcome.as_str(),
        "error": attempt.error.as_deref().map(|e| redactor.redact(e)),
    })
}

/// `dlv_<id>`, the delivery id providers see.
pub(super) fn delivery_id(id: OutboxId) -> String {
    format!("dlv_{}", id.0)
}

pub(super) fn parse_id(raw: &str) -> Result<OutboxId, OperatorError> {
    let digits = raw.strip_prefix("dlv_").unwrap_or(raw);
    match digits.parse::<i64>() {
        Ok(id) if id > 0 => Ok(OutboxId(id)),
        _ => Err(OperatorError::BadRequest("a delivery id is a positive number or `dlv_<number>`".into())),
    }
}

fn parse_state(raw: &str) -> Result<DeliveryState, OperatorError> {
    DeliveryState::parse(raw).ok_or_else(|| {
        OperatorError::BadRequest("status must be one of pending, claimed, sent, failed (or retrying), dead".into())
    })
}

fn parse_limit(raw: Option<&str>, bounds: (u32, u32)) -> Result<u32, OperatorError> {
    let parsed = raw.filter(|r| !r.is_empty()).map(|r| r.parse::<u32>().map_err(|_| bad_limit(bounds))).transpose()?;
    check_limit(parsed, bounds)
}

fn check_limit(limit: Option<u32>, (default, max): (u32, u32)) -> Result<u32, OperatorError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(bad_limit((default, max))),
    }
}

fn bad_limit((_, max): (u32, u32)) -> OperatorError {
    OperatorError::BadRequest(format!("limit must be a whole number from 1 to {max}"))
}

/// An optional JSON body: empty means all defaults; unknown fields are refused (a typo such as
/// `dryrun` must not turn a dry run into a real one).
fn parse_body<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, OperatorError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| OperatorError::BadRequest(format!("invalid JSON body: {e}")))
}

/// With `channelBindingId` given, the delivery must belong to that binding (as in Open Cowork,
/// a delivery of another binding is "not found").
async fn check_binding(state: &OperatorState, id: OutboxId, binding: Option<&str>) -> Result<(), OperatorError> {
    let Some(binding) = binding.filter(|b| !b.is_empty()) else { return Ok(()) };
    match state.services.store.delivery(id).await? {
        Some(record) if record.binding_id.as_str() == binding => Ok(()),
        _ => Err(not_found(id)),
    }
}

fn applied(change: OperatorChange, id: OutboxId, action: &str) -> Result<DeliveryRecord, OperatorError> {
    match change {
        OperatorChange::Applied(record) => Ok(*record),
        OperatorChange::NotFound => Err(not_found(id)),
        OperatorChange::Conflict(current) => Err(OperatorError::Conflict(format!(
            "delivery {} is {}; it cannot be {action}",
            delivery_id(id),
            current.as_str()
        ))),
    }
}

fn not_found(id: OutboxId) -> OperatorError {
    OperatorError::NotFound(format!("no delivery {}", delivery_id(id)))
}
