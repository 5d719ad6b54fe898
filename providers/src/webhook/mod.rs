//! The generic webhook provider (`kind: "webhook"`), wire-compatible with Open Cowork's
//! (`reference/opencowork-gateway.md` §3.3).
//!
//! - Inbound: `POST /webhooks/{id}` signed with `x-open-cowork-gateway-webhook-timestamp` and
//!   `x-open-cowork-gateway-webhook-signature: v1=<hex HMAC-SHA256(secret, "v1:{ts}:{body}")>`
//!   under any configured `sharedSecret` (rotation), within 300 s both ways; the body follows
//!   the Open Cowork payload schema. The replay key is `"{ts}:{signature hex}"`.
//! - Outbound: a signed JSON POST to `deliveryUrl` through the egress policy, with
//!   `x-open-cowork-gateway-delivery-id` and `Idempotency-Key` set to the delivery id; the
//!   receiver may answer `{messageId}` for later edits.

mod config;
mod inbound;
pub(crate) mod outbound;
mod verify;

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

pub use config::{DEFAULT_DELIVERY_TIMEOUT_MS, DEFAULT_MAX_ATTACHMENT_BYTES, WebhookSecrets, WebhookSettings};
pub use outbound::{DELIVERY_ID_HEADER, IDEMPOTENCY_KEY_HEADER, MAX_BUTTONS, MAX_RESPONSE_BYTES};
pub use verify::{SIGNATURE_HEADER, SIGNATURE_PREFIX, TIMESTAMP_HEADER};

use crate::egress::{Egress, EgressRequest, EgressRules};
use crate::{
    Capabilities, ChannelProvider, Delivery, InboundError, InboundRequest, ProviderError, ProviderId, ProviderKind,
    SentMessage, Verified,
};

/// One configured generic webhook provider.
pub struct WebhookProvider {
    id: ProviderId,
    secrets: WebhookSecrets,
    settings: WebhookSettings,
    rules: EgressRules,
    egress: Egress,
    capabilities: Capabilities,
}

impl WebhookProvider {
    /// Creates the provider from its `sharedSecret` values (several for rotation; the first
    /// signs deliveries), its settings and the egress policy every delivery goes through
    /// (build it with [`WebhookSettings::delivery_timeout`]); errors name the offending field.
    pub fn new(
        id: ProviderId,
        secrets: Vec<String>,
        settings: WebhookSettings,
        egress: Egress,
    ) -> Result<Self, String> {
        let secrets = WebhookSecrets::new(secrets)?;
        settings.validate()?;
        let capabilities = Capabilities {
            message_editing: true,
            inline_buttons: true,
            max_buttons_per_message: MAX_BUTTONS,
            max_text_length: 4096,
            min_interval_ms: 0,
            needs_reply_context: false,
            file_uploads: true,
            max_file_bytes: settings.max_attachment_bytes,
        };
        let rules = settings.egress_rules();
        Ok(Self { id, secrets, settings, rules, egress, capabilities })
    }

    /// The settings this provider runs with.
    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }
}

impl std::fmt::Debug for WebhookProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookProvider")
            .field("id", &self.id)
            .field("secrets", &self.secrets)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The current unix time in seconds.
fn now_unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[async_trait]
impl ChannelProvider for WebhookProvider {
    fn id(&self) -> &ProviderId {
        &self.id
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Webhook
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn parse_inbound(&self, request: &InboundRequest) -> Result<Verified, InboundError> {
        let replay_key =
            verify::SCHEME.verify(self.secrets.all(), &request.headers, &request.body, request.received_at_ms)?;
        let (event, id_given) = inbound::parse_payload(&request.body, self.settings.max_attachment_bytes)?;
        // With the sender's own event id a replayed request is a redelivery of that event (a 2xx
        // no-op); only events whose id we made up need the replay key to stay single-use.
        let replay_key = (!id_given).then_some(replay_key);
        Ok(Verified { events: vec![event], replay_key, immediate_reply: None })
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<SentMessage, ProviderError> {
        let body = outbound::request_body(&self.id, delivery)?;
        let timestamp = now_unix_secs().to_string();
        let mut headers = outbound::request_headers(&delivery.delivery_id, self.secrets.signing(), &timestamp, &body)?;
        // The receiver may continue the message's trace; the value was validated when made.
        if let Some(trace) = delivery.trace_parent.as_deref().and_then(|t| http::HeaderValue::from_str(t).ok()) {
            headers.insert(http::HeaderName::from_static("traceparent"), trace);
        }
        let request = EgressRequest { headers, body };
        match self.egress.post(&self.settings.delivery_url, &self.rules, request, MAX_RESPONSE_BYTES).await {
            Ok(response) => outbound::judge_response(&response, &delivery.delivery_id, now_unix_secs()),
            Err(error) => Err(outbound::egress_failure(error)),
        }
    }
}

#[cfg(test)]
mod tests;
