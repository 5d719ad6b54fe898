//! What a platform supports; the renderer adapts its output to it.

use serde::Serialize;

/// Platform capabilities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Messages can be edited after sending (streamed replies grow in place).
    pub message_editing: bool,
    /// Messages can carry buttons.
    pub inline_buttons: bool,
    /// The most buttons in one message.
    pub max_buttons_per_message: usize,
    /// The longest text of one message, in characters.
    pub max_text_length: usize,
    /// Files can be uploaded into a chat.
    pub file_uploads: bool,
    /// The largest file the provider delivers, in bytes.
    pub max_file_bytes: u64,
    /// The platform's pace: at least this long between two edits of one message and between two
    /// new messages in one chat (0: no pacing). The dispatcher waits rather than be throttled,
    /// and skips edits a later edit of the same message makes moot.
    pub min_interval_ms: u64,
    /// Deliveries need the thread's latest [`crate::InboundEvent::reply_context`] (for example
    /// email's subject and References chain); the dispatcher looks it up only for such providers.
    pub needs_reply_context: bool,
}
