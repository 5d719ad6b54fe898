//! `POST /webhooks/{providerId}`: the provider authenticates and parses, interaction handles are
//! checked, and the events are committed to the inbox before the `202 {"ok":true}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use cowork_cloud::telemetry::{Span, SpanKind};
use cowork_cloud_client::{TRACEPARENT_HEADER, TraceParent};
use cowork_providers::{BindingId, InboundBody, InboundEvent, InboundRequest, ProviderId};
use serde_json::{Value, json};

use super::{AppState, IngressError};
use crate::interactions::handle;
use crate::store::{NewInbound, NewRequest, ReplayKey, RequestOutcome};

/// How long a replay key is kept: the signature window both ways (300 s each) and a margin.
const REPLAY_WINDOW_MS: i64 = 11 * 60 * 1000;

/// Receives one webhook, in the `ingress` span that starts the message's trace (joining the
/// sender's `traceparent` when it sends a valid one).
pub(super) async fn receive(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), IngressError> {
    let sender_trace =
        headers.get(TRACEPARENT_HEADER).and_then(|value| value.to_str().ok()).and_then(TraceParent::parse);
    let span = Span::start("ingress", SpanKind::Server, sender_trace.as_ref());
    span.set("cowork.provider.id", provider_id.clone());
    let answer = accept(&state, provider_id, headers, body, &span).await;
    if let Err(error) = &answer {
        span.fail(error.kind());
    }
    answer
}

async fn accept(
    state: &AppState,
    provider_id: String,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    span: &Span,
) -> Result<(StatusCode, Json<Value>), IngressError> {
    let trace = span.trace_parent();
    let registered =
        state.services.providers.get(&ProviderId::new(provider_id)).ok_or(IngressError::UnknownProvider)?;
    let body = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            IngressError::TooLarge(format!("request body exceeds {} bytes", state.max_body_bytes))
        }
        other => IngressError::BadPayload(other.body_text()),
    })?;
    let received_at_ms = state.services.clock.now_ms();
    let verified = registered
        .provider
        .parse_inbound(&InboundRequest { headers, body, received_at_ms })
        .map_err(|error| IngressError::from(error).redacted(&state.services.redactor))?;
    if let Some(reply) = verified.immediate_reply {
        return Ok((StatusCode::OK, Json(reply)));
    }
    let events = verified.events;
    let config = &registered.config;
    for event in &events {
        check_interaction(state, &config.binding_id, event).await?;
    }
    let events: Vec<NewInbound> = events
        .into_iter()
        .map(|event| NewInbound {
            binding_id: config.binding_id.clone(),
            provider_id: config.id.clone(),
            event,
            trace: trace.clone(),
        })
        .collect();
    let replay = verified.replay_key.map(|key| ReplayKey {
        provider_id: config.id.clone(),
        key,
        expires_at: received_at_ms + REPLAY_WINDOW_MS,
    });
    let outcome = state.inbox.accept(NewRequest { events, replay }).await.map_err(|_| IngressError::Unavailable)?;
    let RequestOutcome::Accepted(accepted) = outcome else {
        return Err(IngressError::Replayed);
    };
    let duplicate = !accepted.is_empty() && accepted.iter().all(|a| a.duplicate);
    let mut answer = json!({"ok": true});
    if duplicate {
        answer["duplicate"] = json!(true);
    }
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// Unknown and expired handles are the sender's error (400); a decided one is accepted and
/// answered in the channel with who decided. A handle only works in the chat it was shown in:
/// from anywhere else it is unknown, so handles cannot be probed across chats.
async fn check_interaction(state: &AppState, binding: &BindingId, event: &InboundEvent) -> Result<(), IngressError> {
    let InboundBody::Interaction(input) = &event.body else { return Ok(()) };
    let (code, _) = handle::split(&input.handle);
    let services = &state.services;
    let interaction = services.store.find_interaction(code).await.map_err(|error| {
        tracing::error!(error = %error, "interaction lookup failed");
        IngressError::Unavailable
    })?;
    match interaction {
        None => Err(IngressError::InteractionUnknown),
        Some(found) if !found.spec.shown_in(binding, &event.chat) => Err(IngressError::InteractionUnknown),
        Some(found) if found.decision.is_none() && found.spec.expires_at <= services.clock.now_ms() => {
            Err(IngressError::InteractionExpired)
        }
        Some(_) => Ok(()),
    }
}
