//! The operator API, every route admin-only (one route layer, see [`AdminAuth`]):
//!
//! | route | what |
//! |---|---|
//! | `GET /deliveries?status=&channelBindingId=&limit=` | outbox rows, newest first |
//! | `GET /deliveries/{id}` | one row and its attempt history |
//! | `POST /deliveries/{id}/retry` | a failed or dead row, now, with a fresh attempt budget |
//! | `POST /deliveries/{id}/dead-letter` | give up on a pending or failed row |
//! | `POST /deliveries/redrive` | reset dead (or failed) rows by filter; `dryRun` only lists |
//! | `GET /diagnostics` | redacted config, provider states, circuits, backlog per binding |
//! | `GET /metrics` | Prometheus text |
//! | `GET /egress/explain?url=&providerId=` | whether egress may reach a URL, and why |
//!
//! | `GET /console` | the operator console (its own sign-in, see `console/`) |
//!
//! Errors use the ingress body shape `{"ok":false,"error","message"}` ([`OperatorError`]).

mod auth;
mod console;
mod deliveries;
mod diagnostics;
mod egress;
mod error;
mod ownership;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use serde_json::Value;

pub use auth::{ADMIN_TOKEN_HEADER, AdminAuth};
pub use error::OperatorError;

use crate::config::GatewayConfig;
use crate::services::Services;

/// What the operator handlers share.
#[derive(Clone)]
pub struct OperatorState {
    /// Store, clock, metrics, redactor, circuits.
    pub services: Arc<Services>,
    /// The redacted configuration shown by `/diagnostics` (built once at startup).
    pub config_view: Arc<Value>,
}

/// The operator routes behind admin auth; merge into the server's router.
pub fn router(services: Arc<Services>, config: &GatewayConfig) -> Router {
    let auth = Arc::new(AdminAuth::from_config(config));
    let config_view = Arc::new(diagnostics::config_view(config, &services.redactor));
    let state = OperatorState { services, config_view };
    Router::new()
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/redrive", post(deliveries::redrive))
        .route("/deliveries/{id}", get(deliveries::get))
        .route("/deliveries/{id}/retry", post(deliveries::retry))
        .route("/deliveries/{id}/dead-letter", post(deliveries::dead_letter))
        .route("/diagnostics", get(diagnostics::diagnostics))
        .route("/metrics", get(diagnostics::metrics))
        .route("/egress/explain", get(egress::explain))
        .route("/ownership", get(ownership::list))
        .route("/ownership/{binding}/release", post(ownership::release))
        .route_layer(middleware::from_fn_with_state(auth, auth::require_admin))
        .with_state(state.clone())
        .merge(console::router(state.services, config))
}
