//! `POST /api/channels/provider-events/claim` and `…/{eventId}/complete`: inbound dedupe for
//! gateways that keep no inbox of their own (Open Cowork's gateway claims each platform event
//! here before acting on it).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Channels, GatewayScope};
use crate::admin::{ORG_ID, validate};
use crate::api::ApiError;
use crate::auth::Principal;
use crate::clock::iso8601;
use crate::redact::Redactor;
use crate::store::ProviderEventRecord;

/// How long a claim lasts without a `ttlMs`, and its bounds.
const DEFAULT_TTL_MS: i64 = 5 * 60 * 1000;
const MAX_TTL_MS: i64 = 60 * 60 * 1000;

/// A claim request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimEvent {
    /// The provider id.
    pub provider: Option<String>,
    /// Which installation of the provider.
    pub provider_instance_id: Option<String>,
    /// The channel binding (default: the one granted binding of this provider and workspace).
    pub channel_binding_id: Option<String>,
    /// The platform workspace.
    pub external_workspace_id: Option<String>,
    /// The platform's event id.
    pub provider_event_id: Option<String>,
    /// `message`, `command` or `interaction`.
    pub event_type: Option<String>,
    /// Who claims it (one gateway instance).
    pub claimed_by: Option<String>,
    /// The claim's lease, 1 ms to 1 h (default 5 min).
    pub ttl_ms: Option<i64>,
    /// Metadata to keep.
    pub metadata: Option<Value>,
}

/// A completion.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteEvent {
    /// The claimant (required).
    pub claimed_by: Option<String>,
    /// `processed` or `failed`.
    pub status: Option<String>,
    /// Whether a failed event may be claimed again (default true).
    pub retryable: Option<bool>,
    /// What went wrong.
    pub last_error: Option<String>,
    /// The binding it must belong to, when given.
    pub channel_binding_id: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::NotFound("Channel provider event was not found.".into())
}

impl Channels {
    /// Claims a provider event: 200 `{event, claimed, duplicate}`.
    pub async fn claim_provider_event(&self, principal: &Principal, request: ClaimEvent) -> Result<Value, ApiError> {
        let scope = self.gateway_scope(principal).await?;
        let provider = validate::provider(request.provider.as_deref())?;
        let instance = validate::required_text("providerInstanceId", request.provider_instance_id.as_deref())?;
        let event_id = validate::required_text("providerEventId", request.provider_event_id.as_deref())?;
        let event_type = match request.event_type.as_deref().map(str::trim) {
            Some(kind @ ("message" | "command" | "interaction")) => kind.to_owned(),
            _ => return Err(validate::invalid("eventType must be one of message, command, interaction.")),
        };
        let claimed_by = validate::required_text("claimedBy", request.claimed_by.as_deref())?;
        let workspace = validate::optional_text("externalWorkspaceId", request.external_workspace_id.as_deref())?;
        let binding = match validate::optional_text("channelBindingId", request.channel_binding_id.as_deref())? {
            Some(id) => self.channel_binding(&scope, &id).await?,
            None => self.unique_binding(&scope, &provider, workspace.as_deref()).await?,
        };
        if binding.provider_id != provider {
            return Err(validate::invalid("provider does not match the channel binding."));
        }
        let ttl_ms = request.ttl_ms.unwrap_or(DEFAULT_TTL_MS).clamp(1, MAX_TTL_MS);
        let mut metadata: Value = match request.metadata.as_ref() {
            Some(metadata) => {
                serde_json::from_str(&validate::json_object("metadata", Some(metadata))?).unwrap_or_default()
            }
            None => json!({}),
        };
        metadata["channelBindingId"] = json!(binding.binding_id);
        let workspace = workspace.unwrap_or_default();
        let now = self.service.now_ms();
        let record = ProviderEventRecord {
            event_id: crate::ids::stable_id(
                "channel_provider_event_",
                &[ORG_ID, &binding.binding_id, &provider, &instance, &workspace, &event_type, &event_id],
            ),
            channel_binding_id: binding.binding_id.clone(),
            provider,
            provider_instance_id: instance,
            external_workspace_id: workspace,
            provider_event_id: event_id,
            event_type,
            status: "processing".into(),
            claimed_by: None,
            claim_expires_at: None,
            attempt_count: 1,
            retryable: 1,
            last_error: None,
            metadata: metadata.to_string(),
            processed_at: None,
            created_at: now,
            updated_at: now,
        };
        let claim = self.service.store().claim_provider_event(&record, &claimed_by, ttl_ms, now).await?;
        Ok(json!({ "event": public(&claim.event), "claimed": claim.claimed, "duplicate": !claim.claimed }))
    }

    /// Completes a claimed event: 200 `{event}`; 404 unless the caller claimed it, in scope.
    pub async fn complete_provider_event(
        &self,
        principal: &Principal,
        event_id: &str,
        request: CompleteEvent,
    ) -> Result<Value, ApiError> {
        let scope = self.gateway_scope(principal).await?;
        let claimed_by = validate::required_text("claimedBy", request.claimed_by.as_deref())?;
        let status = validate::one_of("status", request.status.as_deref(), &["processed", "failed"], "processed")?;
        let stored = self.service.store().provider_event(event_id).await?.ok_or_else(not_found)?;
        let binding_matches =
            request.channel_binding_id.as_deref().is_none_or(|binding| binding.trim() == stored.channel_binding_id);
        if !in_scope(&scope, &stored) || !binding_matches {
            return Err(not_found());
        }
        let last_error = super::stored_error(request.last_error.as_deref());
        let completed = self
            .service
            .store()
            .complete_provider_event(
                event_id,
                &claimed_by,
                status == "processed",
                request.retryable.unwrap_or(true),
                last_error.as_deref(),
                self.service.now_ms(),
            )
            .await?
            .ok_or_else(not_found)?;
        Ok(json!({ "event": public(&completed) }))
    }
}

fn in_scope(scope: &GatewayScope, event: &ProviderEventRecord) -> bool {
    scope.allows(&event.channel_binding_id)
}

/// The public record.
fn public(event: &ProviderEventRecord) -> Value {
    let metadata: Value = serde_json::from_str(&event.metadata).unwrap_or_else(|_| json!({}));
    json!({
        "eventId": event.event_id,
        "orgId": ORG_ID,
        "channelBindingId": event.channel_binding_id,
        "provider": event.provider,
        "providerInstanceId": event.provider_instance_id,
        "externalWorkspaceId": if event.external_workspace_id.is_empty() { Value::Null } else { json!(event.external_workspace_id) },
        "providerEventId": event.provider_event_id,
        "eventType": event.event_type,
        "status": event.status,
        "claimedBy": event.claimed_by,
        "claimExpiresAt": event.claim_expires_at.map(iso8601),
        "attemptCount": event.attempt_count,
        "retryable": event.retryable != 0,
        "lastError": event.last_error,
        "metadata": Redactor::default().redact_json(&metadata),
        "processedAt": event.processed_at.map(iso8601),
        "createdAt": iso8601(event.created_at),
        "updatedAt": iso8601(event.updated_at),
    })
}
