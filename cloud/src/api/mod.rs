//! The cloud's HTTP API: health, and (in the roles that serve it) the channel and admin routes.
//! Every route answers errors through [`ApiError`], the one place statuses are chosen.

mod error;
mod health;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

/// The profile the health routes name (this cloud has one).
pub const PROFILE_NAME: &str = "default";

use crate::CloudService;
use crate::config::server::Role;
use crate::http::Readiness;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Sessions, commands, bindings.
    pub service: CloudService,
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
