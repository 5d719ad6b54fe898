//! `/health` (the process is up) and `/ready` (database reachable, every worker running and, in
//! split mode, the cloud reachable with a valid token; it also reports whether due session
//! commands wait longer than the stall threshold).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use crate::services::command_backlog_json;

pub(super) async fn health() -> Json<Value> {
    Json(json!({"ok": true, "status": "ok"}))
}

pub(super) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let db = state.services.store.database();
    let database_ok = matches!(tokio::time::timeout(Duration::from_secs(2), db.ping()).await, Ok(Ok(())));
    let workers_ok = state.readiness.workers_running();
    // In split mode the cloud is part of being ready: reachable, and accepting our token.
    let cloud = state.services.backend.remote_health().await;
    let cloud_ok = cloud.as_ref().is_none_or(Result::is_ok);
    let ok = database_ok && workers_ok && cloud_ok;
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    // A stalled command backlog is reported, not made a readiness failure: acceptance is
    // durable and still works, and taking the gateway out of rotation would not drain it.
    let commands = if database_ok { state.services.command_backlog().await } else { None };
    let mut body = json!({
        "ok": ok,
        "status": if ok { "ready" } else { "not_ready" },
        "checks": {
            "database": if database_ok { "ok" } else { "unavailable" },
            "databaseBackend": db.backend().name(),
            "workers": if workers_ok { "ok" } else { "stopped" },
        },
    });
    if let Some(cloud) = &cloud {
        body["checks"]["cloud"] = json!(match cloud {
            Ok(()) => "ok".to_owned(),
            Err(reason) => state.services.redactor.redact(reason),
        });
    }
    if let Some(commands) = &commands {
        body["checks"]["sessionCommands"] = json!(if commands.stalled() { "stalled" } else { "ok" });
        body["sessionCommands"] = command_backlog_json(commands);
    }
    (status, Json(body))
}
