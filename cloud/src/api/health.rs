//! `/livez` (the process is up), `/readyz` (store reachable, this role's workers running, not
//! draining; 503 with the failing checks otherwise; it names the auth mode too) and `/healthz`, an alias of `/readyz` for
//! load balancers that probe that name.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::ApiState;

/// How long the store may take to answer the readiness ping.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn livez(State(state): State<ApiState>) -> Json<Value> {
    Json(json!({ "ok": true, "role": state.role.as_str(), "profileName": super::PROFILE_NAME }))
}

pub(super) async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<Value>) {
    let store = match tokio::time::timeout(PING_TIMEOUT, state.service.store().database().ping()).await {
        Ok(Ok(())) => check("control_plane", true, "store reachable"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: store ping failed");
            check("control_plane", false, "store query failed")
        }
        Err(_) => check("control_plane", false, "store did not answer within 2 s"),
    };
    let (running, expected) = state.readiness.counts();
    let roles = check(
        "role_loops",
        running >= expected,
        &format!("{running} of {expected} {} loops running", state.role.as_str()),
    );
    let draining = state.shutdown.is_cancelled();
    let drain = check("draining", !draining, if draining { "shutting down" } else { "accepting work" });
    let checks = [store, roles, drain];
    let ok = checks.iter().all(|c| c["status"] == "ok");
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "ok": ok,
        "role": state.role.as_str(),
        "profileName": super::PROFILE_NAME,
        "authMode": state.auth.mode().as_str(),
        "checks": checks,
    });
    (status, Json(body))
}

fn check(name: &str, ok: bool, detail: &str) -> Value {
    json!({ "name": name, "status": if ok { "ok" } else { "error" }, "detail": detail })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::config::server::Role;
    use crate::database::testing::TestDatabase;
    use crate::http::Readiness;
    use crate::{CloudService, CloudSettings, SystemClock};

    async fn ready(state: ApiState) -> (StatusCode, Value) {
        let request = Request::builder().uri("/readyz").body(Body::empty()).unwrap();
        let response = super::super::health_router(state).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn draining_or_stopped_loops_fail_readiness_with_the_failing_check() {
        let test_db = TestDatabase::sqlite().await;
        let service =
            CloudService::without_workers(test_db.db.clone(), CloudSettings::default(), Arc::new(SystemClock));
        let readiness = Arc::new(Readiness::new(1));
        let admin = crate::admin::Admin::open(service.store().clone(), Arc::new(SystemClock), None).await.unwrap();
        let state = ApiState {
            channels: crate::channels::Channels::new(service.clone(), Default::default(), admin.hasher().clone()),
            guard: Arc::new(crate::api::guard::Guard::new(Default::default())),
            sse_poll: std::time::Duration::from_secs(1),
            delivery_poll: std::time::Duration::from_secs(1),
            service,
            admin,
            auth: Arc::new(crate::auth::HumanAuth::Tokens),
            max_body_bytes: 1024,
            role: Role::Web,
            readiness: readiness.clone(),
            shutdown: Default::default(),
        };
        let (status, body) = ready(state.clone()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no loop runs yet: {body}");
        assert_eq!(body["checks"][1]["status"], "error", "{body}");
        readiness.worker_started();
        assert_eq!(ready(state.clone()).await.0, StatusCode::OK);
        state.shutdown.cancel();
        let (status, body) = ready(state).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"][2], json!({"name": "draining", "status": "error", "detail": "shutting down"}));
        assert_eq!(body["ok"], false);
        assert_eq!(body["authMode"], "token");
    }
}
