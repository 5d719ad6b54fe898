//! Counts each `POST /webhooks/{providerId}` request, as a route layer outside the rate limiter
//! so refusals at every stage are counted: a 2xx is accepted (and its ack latency observed),
//! anything else is rejected with the ingress error code as its reason.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use cowork_providers::ProviderId;

use super::AppState;
use super::error::ErrorCode;

/// The route layer.
pub(super) async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let requested = request.uri().path().strip_prefix("/webhooks/").unwrap_or_default();
    let provider: Option<ProviderId> =
        state.services.providers.get(&ProviderId::new(requested)).map(|found| found.config.id.clone());
    let response = next.run(request).await;
    let metrics = &state.services.metrics;
    match &provider {
        Some(provider) if response.status().is_success() => {
            metrics.inbound_accepted(provider);
            metrics.ack_latency(Some(provider), started.elapsed());
        }
        _ => match response.extensions().get::<ErrorCode>() {
            Some(code) => metrics.inbound_rejected(provider.as_ref(), code.0),
            // Answered by a layer rather than ingress (a timeout, a panic): the status is the reason.
            None => metrics.inbound_rejected(provider.as_ref(), &format!("http_{}", response.status().as_u16())),
        },
    }
    response
}
