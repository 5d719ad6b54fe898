//! Streamed text as `assistant.message` snapshots: the full text so far under the command's
//! message id, coalesced (the first text at once, then at most one snapshot per interval unless
//! enough characters piled up), and why a stream did not finish.

use std::time::Duration;

use cowork_cloud_client::EventBody;
use tokio::time::Instant;

use super::{OpenAiSettings, message_id};
use crate::runtime::{CommandContext, EventSink, RuntimeError};

/// Why a stream did not finish.
pub(super) enum StreamFailure {
    /// The body broke off or could not be read (operator detail).
    Broken(String),
    /// Appending failed (lease lost, store down).
    Sink(RuntimeError),
}

impl From<RuntimeError> for StreamFailure {
    fn from(error: RuntimeError) -> Self {
        Self::Sink(error)
    }
}

/// Coalesces streamed text into `assistant.message` snapshots.
pub(super) struct Snapshots {
    message_id: String,
    event_prefix: String,
    interval: Duration,
    chars: usize,
    last: Option<Instant>,
    pending_chars: usize,
    pub(super) appended: u64,
}

impl Snapshots {
    pub(super) fn new(command: &CommandContext, settings: &OpenAiSettings) -> Self {
        Self {
            message_id: message_id(command),
            event_prefix: format!("{}:{}:delta", command.command_id, command.attempt),
            interval: settings.snapshot_interval,
            chars: settings.snapshot_chars.max(1),
            last: None,
            pending_chars: 0,
            appended: 0,
        }
    }

    /// Counts `added` characters; whether a snapshot is due (the first text, then at most one
    /// per interval unless enough characters piled up).
    pub(super) fn due(&mut self, added: usize) -> bool {
        self.pending_chars += added;
        if self.pending_chars == 0 {
            return false;
        }
        self.last.is_none_or(|last| last.elapsed() >= self.interval || self.pending_chars >= self.chars)
    }

    pub(super) async fn append(&mut self, sink: &EventSink, content: &str, complete: bool) -> Result<(), RuntimeError> {
        self.appended += 1;
        let body =
            EventBody::AssistantMessage { message_id: self.message_id.clone(), content: content.to_owned(), complete };
        sink.append(&format!("{}:{}", self.event_prefix, self.appended), &body).await?;
        self.last = Some(Instant::now());
        self.pending_chars = 0;
        Ok(())
    }
}
