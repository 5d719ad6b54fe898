//! The HTTP surface: `POST /webhooks/{providerId}` (verify, parse, commit to the inbox, 202),
//! the fake provider's transcript, and `/health` + `/ready`. Ingress does no agent work and no
//! egress: it only finds the provider, verifies, parses, inserts durably and answers.

mod error;
mod fake;
mod health;
mod inbound_metrics;
mod protect;
mod source;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

pub use cowork_cloud::http::Readiness;
pub use cowork_cloud::http::{ServerLimits, request_timeout, serve};
pub use error::IngressError;
pub use protect::{IngressLimits, Protection};
pub use source::ProxyTrust;

use crate::inbox::Inbox;
use crate::services::Services;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Stores, providers, backend, clock.
    pub services: Arc<Services>,
    /// The group-commit inbox.
    pub inbox: Inbox,
    /// Worker liveness.
    pub readiness: Arc<Readiness>,
    /// The request body limit.
    pub max_body_bytes: usize,
    /// Rate limits and auth back-off.
    pub protection: Arc<Protection>,
}

/// All routes.
pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route(
            "/webhooks/{provider_id}",
            post(webhook::receive)
                .route_layer(middleware::from_fn_with_state(state.clone(), protect::protect))
                .route_layer(middleware::from_fn_with_state(state.clone(), inbound_metrics::observe)),
        )
        .route("/fake/{provider_id}/transcript", get(fake::transcript))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/openapi.json", get(crate::openapi::serve))
        .fallback(|| async { IngressError::NotFound })
        .method_not_allowed_fallback(|| async { IngressError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
