//! The fake provider's transcript: a durable record of every delivery, behind a trait the
//! gateway implements on its store.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Button, ProviderId};

/// One delivery as the fake channel received it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptEntry {
    /// The delivery id (unique per provider; re-sends with it are no-ops).
    pub delivery_id: String,
    /// `send` or `edit`.
    pub operation: String,
    /// The chat.
    pub chat_id: String,
    /// The thread, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// The provider message id (new for a send, the edited one for an edit).
    pub message_id: String,
    /// The text sent.
    pub text: String,
    /// The buttons sent (empty for none).
    #[serde(default)]
    pub buttons: Vec<Vec<Button>>,
    /// Unix milliseconds when it was recorded (set by the store).
    pub recorded_at_ms: i64,
}

/// The transcript store failed.
#[derive(Debug, thiserror::Error)]
#[error("transcript store failed")]
pub struct TranscriptError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Durable storage for the fake provider's transcript.
#[async_trait]
pub trait TranscriptStore: Send + Sync + 'static {
    /// Stores `entry` unless its delivery id is already recorded for `provider`, and returns
    /// the stored entry (the original one for a known delivery id). Keeps at most `keep`
    /// entries per provider, dropping the oldest.
    async fn record(
        &self,
        provider: &ProviderId,
        entry: TranscriptEntry,
        keep: usize,
    ) -> Result<TranscriptEntry, TranscriptError>;

    /// The newest `limit` entries of `provider` (optionally one chat), oldest first.
    async fn read(
        &self,
        provider: &ProviderId,
        chat_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>, TranscriptError>;
}
