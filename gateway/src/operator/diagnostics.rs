//! `GET /diagnostics` (the redacted configuration, provider states, delivery circuits, the
//! per-binding outbox backlog and the session commands waiting for a worker) and `GET /metrics` (Prometheus text).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{OperatorError, OperatorState};
use crate::config::{GatewayConfig, ProviderSettings, Storage};
use crate::dispatcher::circuit::CircuitState;
use crate::metrics;
use crate::redact::{MASK, Redactor};
use crate::services::command_backlog_json;

/// The diagnostics report.
pub(super) async fn diagnostics(State(state): State<OperatorState>) -> Result<Json<Value>, OperatorError> {
    let s = &state.services;
    let now = s.clock.now_ms();
    let backlog: Vec<Value> = s
        .store
        .delivery_backlog()
        .await?
        .into_iter()
        .map(|b| {
            json!({
                "channelBindingId": b.binding_id,
                "pending": b.pending,
                "claimed": b.claimed,
                "retrying": b.retrying,
                "dead": b.dead,
                "oldestOpenAgeMs": b.oldest_open_created_at.map(|created| now.saturating_sub(created).max(0)),
            })
        })
        .collect();
    let providers: Vec<Value> = s
        .metrics
        .provider_states()
        .into_iter()
        .map(|(id, kind, provider_state)| json!({"id": id, "kind": kind.as_str(), "state": provider_state.as_str()}))
        .collect();
    let circuits: Vec<Value> =
        s.circuits.snapshot().into_iter().map(|(id, circuit)| circuit_json(&id, circuit)).collect();
    let commands = s.command_backlog().await.as_ref().map(command_backlog_json);
    let mut delivery_operator = state.config_view["deliveryOperator"].clone();
    if let Some(connected) = &s.cloud_delivery_stream {
        delivery_operator["cloudDeliveryStream"] =
            json!({"connected": connected.load(std::sync::atomic::Ordering::Relaxed)});
    }
    Ok(Json(json!({
        "ok": true,
        "config": *state.config_view,
        "providers": providers,
        "circuits": circuits,
        "backlog": backlog,
        "sessionCommands": commands,
        "deliveryOperator": delivery_operator,
        "ownership": {
            "instanceId": s.ownership.instance_id(),
            "fenced": s.ownership.is_fenced(),
            "held": s.ownership.held().into_iter().map(|(binding, epoch)| json!({"channelBindingId": binding, "epoch": epoch})).collect::<Vec<_>>(),
        },
    })))
}

/// The metrics exposition, backlog gauges refreshed from the store.
pub(super) async fn metrics(State(state): State<OperatorState>) -> Response {
    let s = &state.services;
    let text = s.metrics.render(&s.store, s.command_backlog().await, s.ownership.figures(), s.clock.now_ms()).await;
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(metrics::CONTENT_TYPE));
    response
}

fn circuit_json(provider: &impl std::fmt::Display, circuit: CircuitState) -> Value {
    match circuit {
        CircuitState::Closed { failures } => {
            json!({"providerId": provider.to_string(), "state": "closed", "failures": failures})
        }
        CircuitState::Open { until } => {
            json!({"providerId": provider.to_string(), "state": "open", "openUntil": until})
        }
        CircuitState::HalfOpen => json!({"providerId": provider.to_string(), "state": "half-open"}),
        CircuitState::CredentialsRejected => {
            json!({"providerId": provider.to_string(), "state": "credentials-rejected"})
        }
    }
}

/// A provider's settings as diagnostics show them (free text through the redactor).
fn settings_view(settings: &ProviderSettings, redactor: &Redactor) -> Value {
    match settings {
        ProviderSettings::Fake(fake) => json!({
            "transcriptLimit": fake.transcript_limit,
            "sendLatencyMs": fake.send_latency_ms,
            "failFirstSends": fake.fail_first_sends,
            "failStatus": fake.fail_status,
            "failRetryAfterSeconds": fake.fail_retry_after_seconds,
        }),
        ProviderSettings::Webhook(webhook) => json!({
            "deliveryUrl": redactor.redact(&webhook.delivery_url),
            "deliveryUrlAllowedHosts": webhook.delivery_url_allowed_hosts,
            "allowPrivateDelivery": webhook.allow_private_delivery,
            "maxAttachmentBytes": webhook.max_attachment_bytes,
            "deliveryTimeoutMs": webhook.delivery_timeout_ms,
        }),
        ProviderSettings::Slack(slack) => json!({
            "apiBaseUrl": redactor.redact(&slack.api_base_url),
            "sessionScope": format!("{:?}", slack.session_scope).to_lowercase(),
            "respondTo": format!("{:?}", slack.respond_to).to_lowercase(),
            "botUserId": slack.bot_user_id,
        }),
        ProviderSettings::Email(email) => json!({
            "from": redactor.redact(&email.from.to_string()),
            "smtpHost": redactor.redact(&email.smtp_host),
            "smtpPort": email.smtp_port,
            "smtpSecurity": format!("{:?}", email.smtp_security).to_lowercase(),
            "smtpAuth": email.smtp_username.is_some(),
            "allowedSenders": email.allowed_senders.len(),
            "requireAuthenticationResults": format!("{:?}", email.require_authentication_results).to_lowercase(),
            "maxAttachmentBytes": email.max_attachment_bytes,
        }),
    }
}

/// The configuration as diagnostics show it: secrets as `***`, free text through the redactor.
pub(super) fn config_view(config: &GatewayConfig, redactor: &Redactor) -> Value {
    let storage = match &config.storage {
        Storage::DataDir(dir) => {
            json!({"kind": "sqlite-data-dir", "dataDir": redactor.redact(&dir.display().to_string())})
        }
        Storage::Url(_) => json!({"kind": "url", "url": MASK}),
    };
    let providers: Vec<Value> = config
        .providers
        .iter()
        .map(|p| {
            let credentials: serde_json::Map<String, Value> =
                p.credentials.iter().map(|(name, values)| (name.clone(), json!(vec![MASK; values.len()]))).collect();
            json!({
                "id": p.id.as_str(),
                "kind": p.kind().as_str(),
                "enabled": p.enabled,
                "channelBindingId": p.binding_id.as_str(),
                "externalWorkspaceId": p.workspace_id,
                "defaultAgent": p.default_agent,
                "credentials": credentials,
                "settings": settings_view(&p.settings, redactor),
            })
        })
        .collect();
    let workers = &config.workers;
    json!({
        "listen": config.listen.to_string(),
        "publicUrl": config.public_url.as_deref().map(|u| redactor.redact(u)),
        "storage": storage,
        "maxRequestBodyBytes": config.max_request_body_bytes,
        "shutdownDrainMs": config.shutdown_drain.as_millis() as u64,
        "allowPublicFakeProvider": config.allow_public_fake_provider,
        "operator": {
            "adminToken": config.operator.admin_token.as_ref().map(|_| MASK),
            "allowLoopbackOperatorBypass": config.operator.allow_loopback_bypass,
        },
        "delivery": {
            "maxAttempts": workers.delivery_retry.attempt_budget,
            "leaseMs": workers.lease.as_millis() as u64,
            "retentionMs": workers.retention.as_millis() as u64,
        },
        "logLevel": config.log_level,
        "providers": providers,
        "mode": if config.remote_cloud.is_some() { "split" } else { "standalone" },
        "cloud": config.remote_cloud.as_ref().map(|remote| json!({
            "baseUrl": redactor.redact(&remote.base_url),
            "serviceToken": MASK,
            "requestTimeoutMs": remote.request_timeout.as_millis() as u64,
            "allowInsecureHttp": remote.allow_insecure_http,
            "deliveryClaimTtlMs": remote.delivery_claim_ttl.as_millis() as u64,
            "maxDeliveryQueueDepth": remote.max_delivery_claims,
        })),
        "deliveryOperator": {
            "channelBindingIds": config.providers.iter().map(|p| p.binding_id.as_str()).collect::<Vec<_>>(),
        },
    })
}
