//! The cloud's HTTP API: health, and (in the roles that serve it) the channel and admin routes.
//! Every route answers errors through [`ApiError`], the one place statuses are chosen.

mod agents;
mod bindings;
mod channels;
mod error;
mod extract;
pub mod guard;
mod health;
pub mod openapi;
mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, patch, post};
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

/// The profile the health routes name (this cloud has one).
pub const PROFILE_NAME: &str = "default";

use crate::CloudService;
use crate::admin::Admin;
use crate::channels::Channels;
use crate::config::server::Role;
use crate::http::Readiness;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Sessions, commands, bindings.
    pub service: CloudService,
    /// Agents, bindings and tokens; API token authentication.
    pub admin: Admin,
    /// The human auth mode, for requests without an API token.
    pub auth: Arc<crate::auth::HumanAuth>,
    /// Identities, binds, prompts and streams for gateways.
    pub channels: Channels,
    /// Rate limits and the authentication back-off.
    pub guard: Arc<guard::Guard>,
    /// The largest request body read, in bytes.
    pub max_body_bytes: usize,
    /// How often a session stream re-reads the log when nothing woke it (events appended by
    /// a worker in another process wake no one here).
    pub sse_poll: std::time::Duration,
    /// How often a delivery stream looks for due deliveries when nothing woke it (retries come
    /// due, claims lapse, other processes create deliveries).
    pub delivery_poll: std::time::Duration,
    /// What this process runs.
    pub role: Role,
    /// The background loops this role runs.
    pub readiness: Arc<Readiness>,
    /// Cancelled when shutdown starts: readiness fails and streams end.
    pub shutdown: CancellationToken,
}

/// The health routes every role serves.
pub fn health_router(state: ApiState) -> Router {
    Router::new()
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/healthz", get(health::readyz))
        .with_state(state)
}

/// The API routes (the roles that serve the API mount them beside the health routes): every
/// route but the event stream is cut off after `timeout`; unknown paths and methods answer the
/// JSON error body too.
pub fn api_router(state: ApiState, timeout: std::time::Duration) -> Router {
    let requests = Router::new()
        .route("/api/channels/provider-events/claim", post(channels::claim_provider_event))
        .route("/api/channels/provider-events/{event_id}/complete", post(channels::complete_provider_event))
        .route("/api/channels/identities/resolve", post(channels::resolve_identity))
        .route("/api/channels/sessions/bind", post(channels::bind))
        .route("/api/channels/sessions/by-thread", get(channels::by_thread))
        .route("/api/channels/sessions/prompt", post(channels::prompt))
        .route("/api/channels/sessions/abort", post(channels::abort))
        .route("/api/channels/sessions/commands", post(channels::queue_command))
        .route("/api/channels/sessions/{session_binding_id}/snapshot", get(channels::snapshot))
        .route("/api/channels/sessions/{session_binding_id}/log", get(channels::log))
        .route("/api/channels/cursor", post(channels::cursor))
        .route("/api/channels/interactions", post(channels::create_interaction))
        .route("/api/channels/interactions/resolve", post(channels::resolve_interaction))
        .route("/api/channels/deliveries", get(channels::list_deliveries).post(channels::create_delivery))
        .route("/api/channels/deliveries/{delivery_id}/ack", post(channels::ack_delivery))
        .route("/api/channels/deliveries/{delivery_id}/renew", post(channels::renew_delivery))
        .route("/api/channels/deliveries/{delivery_id}/retry", post(channels::retry_delivery))
        .route("/api/channels/deliveries/{delivery_id}/dead-letter", post(channels::dead_letter_delivery))
        .route("/api/channels/agents", get(agents::list).post(agents::create))
        .route("/api/channels/agents/{agent_id}", patch(agents::update))
        .route("/api/channels/bindings", get(bindings::list).post(bindings::create))
        .route("/api/channels/bindings/{binding_id}", patch(bindings::update))
        .route("/api/channels/identities", get(bindings::identities))
        .route("/api/api-tokens", get(tokens::list).post(tokens::create))
        .route("/api/api-tokens/{token_id}", axum::routing::delete(tokens::revoke))
        .route("/api/api-tokens/{token_id}/channel-bindings", post(tokens::grant))
        .with_state(state.clone());
    let requests = requests.route("/openapi.json", get(openapi::serve));
    let streams = Router::new()
        .route("/api/channels/sessions/{session_binding_id}/events", get(channels::events))
        .route("/api/channels/deliveries/stream", get(channels::delivery_stream))
        .with_state(state);
    crate::http::request_timeout(requests, timeout)
        .merge(streams)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("Not found.".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
