//! `GET /ownership` (the replicas sharing this database and who owns each channel binding) and
//! `POST /ownership/{binding}/release` (move a binding to another replica now).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{OperatorError, OperatorState};
use crate::clock::{duration_ms, iso8601};

/// The members and the owners, by the database's clock.
pub(super) async fn list(State(state): State<OperatorState>) -> Result<Json<Value>, OperatorError> {
    let s = &state.services;
    let ownership = &s.ownership;
    let now = s.store.database_now().await?;
    let lease = duration_ms(ownership.settings().lease);
    let members: Vec<Value> = s
        .store
        .members()
        .await?
        .into_iter()
        .map(|m| {
            json!({
                "instanceId": m.instance_id,
                "state": m.state,
                "live": m.state == "active" && m.heartbeat_at > now - lease,
                "heartbeatAgeMs": (now - m.heartbeat_at).max(0),
                "startedAt": iso8601(m.started_at),
                "self": m.instance_id == ownership.instance_id(),
            })
        })
        .collect();
    let bindings: Vec<Value> = s
        .store
        .binding_owners()
        .await?
        .into_iter()
        .map(|b| {
            let held = b.owner_id.is_some() && b.lease_expires_at > now;
            json!({
                "channelBindingId": b.binding_id,
                "owner": if held { b.owner_id } else { None },
                "epoch": b.epoch,
                "leaseExpiresAt": held.then(|| iso8601(b.lease_expires_at)),
                "leaseRemainingMs": if held { b.lease_expires_at - now } else { 0 },
                "heldHere": ownership.epoch(&b.binding_id) == Some(b.epoch),
                "avoiding": b.avoid_owner,
            })
        })
        .collect();
    Ok(Json(json!({
        "ok": true,
        "instanceId": ownership.instance_id(),
        "fenced": ownership.is_fenced(),
        "heartbeatIntervalMs": duration_ms(ownership.settings().heartbeat),
        "leaseMs": lease,
        "members": members,
        "bindings": bindings,
    })))
}

/// Moves a binding away from its owner now: the owner is fenced at once (the epoch grows) and
/// another live replica takes the binding on its next round.
pub(super) async fn release(
    State(state): State<OperatorState>,
    Path(binding): Path<String>,
) -> Result<Json<Value>, OperatorError> {
    let s = &state.services;
    let (epoch, moved_from) = s
        .store
        .move_binding(&binding)
        .await?
        .ok_or_else(|| OperatorError::NotFound(format!("channel binding {binding} is not known here")))?;
    if moved_from.as_deref() == Some(s.ownership.instance_id()) {
        s.ownership.write_refused(&binding);
    }
    tracing::info!(binding, epoch, from = ?moved_from, "channel binding released by an operator");
    Ok(Json(json!({"ok": true, "channelBindingId": binding, "epoch": epoch, "movedFrom": moved_from})))
}
