//! The outbound delivery queue (`/api/channels/deliveries…`): gateways and admins create
//! deliveries, a gateway claims them over its delivery stream (claims it may renew), and acks
//! each one sent, failed or dead. Operators list them and retry or dead-letter one; a gateway
//! token may touch only the deliveries it claimed last, an admin any of the organization's.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::Event;
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Channels, GatewayScope, binding_out_of_scope};
use crate::admin::{ORG_ID, validate};
use crate::api::ApiError;
use crate::auth::Principal;
use crate::clock::iso8601;
use crate::redact::Redactor;
use crate::store::{ClaimDelivery, DeliveryChange, DeliveryClaim, DeliveryFilter, DeliveryRecord};

/// A claim's lease without `ttlMs`, and its bounds.
const DEFAULT_TTL_MS: i64 = 30_000;
const MAX_TTL_MS: i64 = 60 * 60 * 1000;

/// The dead-letter reason when an operator gives none.
const MANUAL_DEAD_LETTER: &str = "Manually dead-lettered by gateway operator.";

const HOUR_MS: i64 = 60 * 60 * 1000;

/// `POST /api/channels/deliveries`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDelivery {
    /// The caller's id for it (idempotency key within the binding); a UUID when absent.
    pub delivery_id: Option<String>,
    /// The binding's headless agent.
    pub agent_id: Option<String>,
    /// The channel binding.
    pub channel_binding_id: Option<String>,
    /// The thread it answers.
    pub session_binding_id: Option<String>,
    /// The provider id (must be the binding's).
    pub provider: Option<String>,
    /// Where it goes (`{externalChatId, externalThreadId, ...}`).
    pub target: Option<Value>,
    /// What it is.
    pub event_type: Option<String>,
    /// What to send (`{text}` or `{message}`).
    pub payload: Option<Value>,
    /// The initial status (default `pending`).
    pub status: Option<String>,
    /// When it may first be claimed (RFC 3339; default now).
    pub next_attempt_at: Option<String>,
}

/// `POST /api/channels/deliveries/{id}/ack`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckDelivery {
    /// `sent`, `failed` or `dead`.
    pub status: Option<String>,
    /// The claimant (default: the stream's, else the token id).
    pub claimed_by: Option<String>,
    /// The binding, when the id is used on several.
    pub channel_binding_id: Option<String>,
    /// What went wrong.
    pub last_error: Option<String>,
    /// When a failed delivery may be claimed again (RFC 3339; default now).
    pub next_attempt_at: Option<String>,
}

/// `POST /api/channels/deliveries/{id}/renew` (this cloud's extension).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewDelivery {
    /// The claimant (default: the token id).
    pub claimed_by: Option<String>,
    /// The binding, when the id is used on several.
    pub channel_binding_id: Option<String>,
    /// The new lease from now (default 30 s, at most 1 h).
    pub ttl_ms: Option<i64>,
}

/// `POST /api/channels/deliveries/{id}/retry` and `/dead-letter`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperateDelivery {
    /// The binding, when the id is used on several.
    pub channel_binding_id: Option<String>,
    /// Why (dead-letter only).
    pub last_error: Option<String>,
}

/// The delivery list's filters.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListDeliveries {
    /// One public id.
    pub delivery_id: Option<String>,
    /// One status.
    pub status: Option<String>,
    /// One binding.
    pub channel_binding_id: Option<String>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<String>,
}

/// The delivery stream's parameters.
#[derive(Clone, Debug, Default)]
pub struct StreamRequest {
    /// The claimant (default: the token id).
    pub claimed_by: Option<String>,
    /// The claims' lease, ms.
    pub ttl_ms: Option<String>,
    /// Only these bindings (all granted ones when empty).
    pub channel_binding_ids: Vec<String>,
}

fn not_found() -> ApiError {
    ApiError::NotFound("Channel delivery was not found.".into())
}

/// Who acts on the queue: an admin (the whole organization) or a gateway token (its grants,
/// and for operator actions only the deliveries it claimed).
enum Authority {
    Admin,
    Gateway { scope: GatewayScope, token_id: String },
}

impl Authority {
    fn bindings(&self) -> Option<&[String]> {
        match self {
            Self::Admin => None,
            Self::Gateway { scope, .. } => Some(&scope.grants),
        }
    }

    fn owner(&self) -> Option<&str> {
        match self {
            Self::Admin => None,
            Self::Gateway { token_id, .. } => Some(token_id),
        }
    }
}

fn ttl(value: Option<i64>) -> i64 {
    value.unwrap_or(DEFAULT_TTL_MS).clamp(1, MAX_TTL_MS)
}

impl Channels {
    /// Wakes this process's delivery streams: a delivery may be due now.
    fn wake_delivery_streams(&self) {
        self.deliveries_changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    async fn delivery_authority(&self, principal: &Principal, admin_allowed: bool) -> Result<Authority, ApiError> {
        if admin_allowed && principal.administers() {
            return Ok(Authority::Admin);
        }
        let scope = self.gateway_scope(principal).await?;
        let Principal::Token { id, .. } = principal else { return Err(binding_out_of_scope()) };
        Ok(Authority::Gateway { scope, token_id: id.to_string() })
    }

    /// Queues a delivery: 201 `{delivery}`; the same id on the same binding answers the first.
    pub async fn create_delivery(&self, principal: &Principal, request: CreateDelivery) -> Result<Value, ApiError> {
        let authority = self.delivery_authority(principal, true).await?;
        let missing = || {
            validate::invalid(
                "Channel delivery requires agentId, channelBindingId, provider, target, eventType, and payload.",
            )
        };
        let agent_id = validate::optional_text("agentId", request.agent_id.as_deref())?.ok_or_else(missing)?;
        let binding_id =
            validate::optional_text("channelBindingId", request.channel_binding_id.as_deref())?.ok_or_else(missing)?;
        let event_type = validate::optional_text("eventType", request.event_type.as_deref())?.ok_or_else(missing)?;
        if request.provider.is_none() || request.target.is_none() || request.payload.is_none() {
            return Err(missing());
        }
        let provider = validate::provider(request.provider.as_deref())?;
        let target = validate::json_object("target", request.target.as_ref())?;
        let payload = validate::json_object("payload", request.payload.as_ref())?;
        let status = validate::one_of(
            "status",
            request.status.as_deref(),
            &["pending", "claimed", "sent", "failed", "dead"],
            "pending",
        )?;
        let delivery_id = validate::optional_text("deliveryId", request.delivery_id.as_deref())?
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let now = self.service.now_ms();
        let next_attempt_at = validate::instant("nextAttemptAt", request.next_attempt_at.as_deref())?.unwrap_or(now);
        let store = self.service.store();
        if let Some(bindings) = authority.bindings()
            && !bindings.contains(&binding_id)
        {
            return Err(binding_out_of_scope());
        }
        // An absent or unrelated agent, and a missing or foreign thread, get the same refusal.
        let refused =
            || ApiError::forbidden("channels.delivery_target_refused", "Channel delivery target is not authorized.");
        let binding =
            store.binding(&binding_id).await?.filter(|b| b.status == "active").ok_or_else(binding_out_of_scope)?;
        let agent = store.agent(&agent_id).await?.filter(|a| a.status == "active");
        if agent.is_none() || binding.agent_id.as_deref() != Some(agent_id.as_str()) {
            return Err(refused());
        }
        if binding.provider_id != provider {
            return Err(validate::invalid("provider does not match the channel binding."));
        }
        let session_binding_id = validate::optional_text("sessionBindingId", request.session_binding_id.as_deref())?;
        if let Some(id) = &session_binding_id {
            let thread = store.session_binding(id).await?;
            if !thread.is_some_and(|t| t.channel_binding_id == binding_id && t.provider == provider) {
                return Err(refused());
            }
        }
        let record = DeliveryRecord {
            row_id: crate::ids::stable_id("channel_delivery_", &[ORG_ID, &binding_id, &delivery_id]),
            delivery_id,
            agent_id,
            channel_binding_id: binding_id,
            session_binding_id,
            provider,
            target,
            event_type,
            payload,
            status,
            attempt_count: 0,
            claimed_by: None,
            last_claimed_by: None,
            claim_expires_at: None,
            next_attempt_at,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        let (stored, created) = store.insert_delivery(&record).await?;
        if created {
            self.wake_delivery_streams();
        }
        Ok(json!({ "delivery": public_delivery(&stored) }))
    }

    /// Acks a claimed delivery: 200 `{delivery}`; 404 unless exactly one delivery in scope
    /// matches the id, the claimant and (for gateway tokens) the token.
    pub async fn ack_delivery(
        &self,
        principal: &Principal,
        delivery_id: &str,
        query_claimant: Option<&str>,
        request: AckDelivery,
    ) -> Result<Value, ApiError> {
        let authority = self.delivery_authority(principal, false).await?;
        let status = match request.status.as_deref().map(str::trim) {
            Some(status @ ("sent" | "failed" | "dead")) => status.to_owned(),
            _ => return Err(validate::invalid("Channel delivery ack requires status sent, failed, or dead.")),
        };
        let claimed_by = self.claimant(&authority, request.claimed_by.as_deref().or(query_claimant))?;
        let binding = validate::optional_text("channelBindingId", request.channel_binding_id.as_deref())?;
        let now = self.service.now_ms();
        let next_attempt_at = validate::instant("nextAttemptAt", request.next_attempt_at.as_deref())?.unwrap_or(now);
        let last_error = super::stored_error(request.last_error.as_deref());
        let filter = DeliveryFilter {
            delivery_id,
            bindings: authority.bindings(),
            channel_binding_id: binding.as_deref(),
            claimed_by: Some(&claimed_by),
            last_claimed_by: authority.owner(),
        };
        let change = DeliveryChange::Ack { status: &status, last_error: last_error.as_deref(), next_attempt_at };
        let updated = self.service.store().update_delivery(&filter, change, now).await?.ok_or_else(not_found)?;
        if status == "failed" {
            self.wake_delivery_streams();
        }
        Ok(json!({ "delivery": public_delivery(&updated) }))
    }

    /// Extends a claim the caller holds: 200 `{delivery}`; 404 when the claim is not theirs or
    /// has lapsed (then the delivery may already be someone else's).
    pub async fn renew_delivery(
        &self,
        principal: &Principal,
        delivery_id: &str,
        request: RenewDelivery,
    ) -> Result<Value, ApiError> {
        let authority = self.delivery_authority(principal, false).await?;
        let claimed_by = self.claimant(&authority, request.claimed_by.as_deref())?;
        let binding = validate::optional_text("channelBindingId", request.channel_binding_id.as_deref())?;
        let now = self.service.now_ms();
        let filter = DeliveryFilter {
            delivery_id,
            bindings: authority.bindings(),
            channel_binding_id: binding.as_deref(),
            claimed_by: Some(&claimed_by),
            last_claimed_by: authority.owner(),
        };
        let change = DeliveryChange::Renew { claim_expires_at: now + ttl(request.ttl_ms) };
        let renewed = self.service.store().update_delivery(&filter, change, now).await?.ok_or_else(not_found)?;
        Ok(json!({ "delivery": public_delivery(&renewed) }))
    }

    /// Re-queues a delivery from any status: 200 `{delivery}`.
    pub async fn retry_delivery(
        &self,
        principal: &Principal,
        delivery_id: &str,
        request: OperateDelivery,
    ) -> Result<Value, ApiError> {
        let now = self.service.now_ms();
        let change = DeliveryChange::Ack { status: "failed", last_error: None, next_attempt_at: now };
        let updated = self.operate(principal, delivery_id, &request, change).await?;
        self.wake_delivery_streams();
        Ok(updated)
    }

    /// Dead-letters a delivery from any status: 200 `{delivery}`.
    pub async fn dead_letter_delivery(
        &self,
        principal: &Principal,
        delivery_id: &str,
        request: OperateDelivery,
    ) -> Result<Value, ApiError> {
        let error = super::stored_error(request.last_error.as_deref()).unwrap_or_else(|| MANUAL_DEAD_LETTER.to_owned());
        let now = self.service.now_ms();
        let change = DeliveryChange::Ack { status: "dead", last_error: Some(&error), next_attempt_at: now };
        self.operate(principal, delivery_id, &request, change).await
    }

    async fn operate(
        &self,
        principal: &Principal,
        delivery_id: &str,
        request: &OperateDelivery,
        change: DeliveryChange<'_>,
    ) -> Result<Value, ApiError> {
        let authority = self.delivery_authority(principal, true).await?;
        let binding = validate::optional_text("channelBindingId", request.channel_binding_id.as_deref())?;
        let filter = DeliveryFilter {
            delivery_id,
            bindings: authority.bindings(),
            channel_binding_id: binding.as_deref(),
            claimed_by: None,
            last_claimed_by: authority.owner(),
        };
        let now = self.service.now_ms();
        let updated = self.service.store().update_delivery(&filter, change, now).await?.ok_or_else(not_found)?;
        Ok(json!({ "delivery": public_delivery(&updated) }))
    }

    /// Deliveries, most recently changed first: 200 `{deliveries}`.
    pub async fn list_deliveries(&self, principal: &Principal, request: ListDeliveries) -> Result<Value, ApiError> {
        let authority = self.delivery_authority(principal, true).await?;
        let status = match request.status.as_deref() {
            None | Some("") => None,
            Some(status) => {
                Some(validate::one_of("status", Some(status), &["pending", "claimed", "sent", "failed", "dead"], "")?)
            }
        };
        let limit = match request.limit.as_deref() {
            None | Some("") => 50,
            Some(_) => validate::limit(request.limit.as_deref())?.min(200),
        };
        let delivery_id = validate::optional_text("deliveryId", request.delivery_id.as_deref())?;
        let binding = validate::optional_text("channelBindingId", request.channel_binding_id.as_deref())?;
        let only: Vec<String>;
        let bindings = match (authority.bindings(), binding) {
            (Some(granted), Some(binding)) => {
                only = granted.iter().filter(|g| **g == binding).cloned().collect();
                Some(only.as_slice())
            }
            (None, Some(binding)) => {
                only = vec![binding];
                Some(only.as_slice())
            }
            (granted, None) => granted,
        };
        let found = self
            .service
            .store()
            .deliveries(bindings, authority.owner(), delivery_id.as_deref(), status.as_deref(), limit)
            .await?;
        Ok(json!({ "deliveries": found.iter().map(public_delivery).collect::<Vec<_>>() }))
    }

    fn claimant(&self, authority: &Authority, given: Option<&str>) -> Result<String, ApiError> {
        match validate::optional_text("claimedBy", given)? {
            Some(claimant) => Ok(claimant),
            None => Ok(authority.owner().unwrap_or("gateway").to_owned()),
        }
    }

    /// Opens a gateway's delivery stream, after authorizing it (before any byte is sent).
    pub async fn open_delivery_stream(
        &self,
        principal: &Principal,
        request: StreamRequest,
        poll: Duration,
        shutdown: CancellationToken,
    ) -> Result<impl Stream<Item = Result<Event, Infallible>> + Send + 'static, ApiError> {
        let authority = self.delivery_authority(principal, false).await?;
        let Authority::Gateway { scope, token_id } = authority else { return Err(binding_out_of_scope()) };
        let mut bindings = Vec::new();
        for requested in &request.channel_binding_ids {
            let requested = validate::required_text("channelBindingId", Some(requested))?;
            scope.require(&requested)?;
            bindings.push(requested);
        }
        if bindings.is_empty() {
            bindings = scope.grants.clone();
        }
        let ttl_ms = match request.ttl_ms.as_deref() {
            None | Some("") => DEFAULT_TTL_MS,
            Some(text) => {
                ttl(Some(text.trim().parse::<i64>().map_err(|_| validate::invalid("ttlMs must be an integer."))?))
            }
        };
        let claimed_by =
            validate::optional_text("claimedBy", request.claimed_by.as_deref())?.unwrap_or_else(|| token_id.clone());
        let state = DeliveryStream {
            channels: self.clone(),
            bindings,
            claimed_by,
            owner: token_id,
            ttl_ms,
            poll,
            wake: self.deliveries_changed.subscribe(),
            shutdown,
            reported: None,
        };
        Ok(futures::stream::unfold(state, |mut state| async move {
            let event = state.next().await?;
            Some((Ok(event), state))
        }))
    }
}

/// One open delivery stream.
struct DeliveryStream {
    channels: Channels,
    bindings: Vec<String>,
    claimed_by: String,
    owner: String,
    ttl_ms: i64,
    poll: Duration,
    wake: watch::Receiver<u64>,
    shutdown: CancellationToken,
    /// The last error reported, so a lasting one is written once, not every poll.
    reported: Option<String>,
}

impl DeliveryStream {
    /// The next frame: a claimed delivery, or an error; `None` at shutdown. Claims are made only
    /// as the client reads, so a slow gateway is never handed more than it takes.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.shutdown.is_cancelled() {
                return None;
            }
            let now = self.channels.service.now_ms();
            let limit = self.channels.quotas.gateway_deliveries_per_hour;
            let window = now - now.rem_euclid(HOUR_MS);
            let request = ClaimDelivery {
                bindings: &self.bindings,
                claimed_by: &self.claimed_by,
                last_claimed_by: &self.owner,
                ttl_ms: self.ttl_ms,
                max_attempts: self.channels.policy.max_delivery_attempts,
                quota: ("gateway_deliveries:hour", window, limit),
                now,
            };
            let problem = match self.channels.service.store().claim_delivery(request).await {
                Ok(DeliveryClaim::Claimed(delivery)) => {
                    self.reported = None;
                    let data = json!({ "delivery": raw_delivery(&delivery) });
                    return Some(
                        Event::default()
                            .id(delivery.delivery_id.clone())
                            .event("channel.delivery")
                            .data(data.to_string()),
                    );
                }
                Ok(DeliveryClaim::GaveUp(delivery)) => {
                    tracing::warn!(delivery = %delivery.delivery_id, attempts = delivery.attempt_count, "delivery dead-lettered: attempt budget used up");
                    continue;
                }
                Ok(DeliveryClaim::Empty) => None,
                Ok(DeliveryClaim::OverQuota) => Some(format!("Gateway delivery quota exceeded ({limit} per hour).")),
                Err(error) => {
                    tracing::warn!(%error, "delivery stream: claiming failed");
                    Some("Channel deliveries could not be claimed; retrying.".to_owned())
                }
            };
            if let Some(message) = problem
                && self.reported.as_deref() != Some(message.as_str())
            {
                self.reported = Some(message.clone());
                return Some(Event::default().event("error").data(json!({ "error": message }).to_string()));
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return None,
                () = tokio::time::sleep(self.poll) => {}
                changed = self.wake.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(self.poll).await;
                    }
                }
            }
        }
    }
}

fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}

/// The record as the stream carries it (Open Cowork's raw `ChannelDeliveryRecord`).
fn raw_delivery(delivery: &DeliveryRecord) -> Value {
    json!({
        "deliveryId": delivery.delivery_id,
        "orgId": ORG_ID,
        "agentId": delivery.agent_id,
        "channelBindingId": delivery.channel_binding_id,
        "sessionBindingId": delivery.session_binding_id,
        "provider": delivery.provider,
        "target": json_text(&delivery.target),
        "eventType": delivery.event_type,
        "payload": json_text(&delivery.payload),
        "status": delivery.status,
        "attemptCount": delivery.attempt_count,
        "claimedBy": delivery.claimed_by,
        "lastClaimedBy": delivery.last_claimed_by,
        "claimExpiresAt": delivery.claim_expires_at.map(iso8601),
        "nextAttemptAt": iso8601(delivery.next_attempt_at),
        "lastError": delivery.last_error,
        "createdAt": iso8601(delivery.created_at),
        "updatedAt": iso8601(delivery.updated_at),
    })
}

/// The public record: secret-looking keys of the target and payload redacted.
fn public_delivery(delivery: &DeliveryRecord) -> Value {
    let mut record = raw_delivery(delivery);
    let redactor = Redactor::default();
    record["target"] = redactor.redact_json(&record["target"]);
    record["payload"] = redactor.redact_json(&record["payload"]);
    record
}
