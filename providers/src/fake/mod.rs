//! The fake provider: a loopback channel for demos and end-to-end tests, wire-compatible with
//! Open Cowork's (`POST /webhooks/{id}` with `{id?, text, chatId?, threadId?, userId?,
//! interaction?}`, no authentication). What the gateway sends through it is kept in a durable,
//! bounded transcript keyed by delivery id, and sends can be made to fail on purpose.

mod faults;
mod inbound;
mod transcript;

use std::sync::Arc;

use async_trait::async_trait;

pub use faults::FakeSettings;
pub use transcript::{TranscriptEntry, TranscriptError, TranscriptStore};

use crate::{
    Capabilities, ChannelProvider, Delivery, InboundError, InboundRequest, OutboundOp, ProviderError, ProviderId,
    ProviderKind, SentMessage, Verified,
};

/// The fake provider instance.
pub struct FakeProvider {
    id: ProviderId,
    settings: FakeSettings,
    capabilities: Capabilities,
    transcript: Arc<dyn TranscriptStore>,
    faults: faults::FaultState,
}

impl FakeProvider {
    /// Creates the provider; `transcript` persists what it "sends".
    pub fn new(id: ProviderId, settings: FakeSettings, transcript: Arc<dyn TranscriptStore>) -> Self {
        let capabilities = Capabilities {
            message_editing: true,
            inline_buttons: true,
            max_buttons_per_message: 8,
            max_text_length: 4096,
            min_interval_ms: 0,
            needs_reply_context: false,
            file_uploads: true,
            max_file_bytes: 25 * 1024 * 1024,
        };
        Self { id, settings, capabilities, transcript, faults: faults::FaultState::default() }
    }

    /// The transcript of what was delivered, oldest first, optionally for one chat.
    pub async fn transcript(&self, chat_id: Option<&str>) -> Result<Vec<TranscriptEntry>, TranscriptError> {
        self.transcript.read(&self.id, chat_id, self.settings.transcript_limit).await
    }
}

#[async_trait]
impl ChannelProvider for FakeProvider {
    fn id(&self) -> &ProviderId {
        &self.id
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Fake
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn parse_inbound(&self, request: &InboundRequest) -> Result<Verified, InboundError> {
        inbound::parse(&request.body).map(|event| Verified::events(vec![event]))
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<SentMessage, ProviderError> {
        self.faults.apply(&self.settings).await?;
        let new_id = || format!("fake-{}", uuid::Uuid::new_v4().simple());
        let (operation, message_id, text, buttons) = match &delivery.op {
            OutboundOp::Send { text, buttons } => ("send", new_id(), text.clone(), buttons.clone()),
            OutboundOp::Edit { message_id, text, buttons } => {
                ("edit", message_id.clone(), text.clone(), buttons.clone())
            }
            OutboundOp::File(file) => {
                let size = file.bytes().ok_or_else(|| ProviderError::permanent("file data is not valid base64"))?.len();
                let caption = file.caption.as_deref().map(|c| format!("{c}\n")).unwrap_or_default();
                (
                    "file",
                    new_id(),
                    format!("{caption}[file {} ({}, {size} bytes)]", file.filename, file.mime_type),
                    vec![],
                )
            }
        };
        let entry = TranscriptEntry {
            delivery_id: delivery.delivery_id.clone(),
            operation: operation.to_owned(),
            chat_id: delivery.chat.chat_id.clone(),
            thread_id: delivery.chat.thread_id.clone(),
            message_id,
            text,
            buttons,
            recorded_at_ms: 0,
        };
        // A known delivery id returns the original entry: the re-send after a crash is a no-op.
        let stored = self
            .transcript
            .record(&self.id, entry, self.settings.transcript_limit)
            .await
            .map_err(|e| ProviderError::transient(format!("transcript unavailable: {e}"), None))?;
        Ok(SentMessage { message_id: stored.message_id })
    }
}

#[cfg(test)]
mod tests;
