//! Outbound operations: what the dispatcher asks a provider to do.

use serde::{Deserialize, Serialize};

use crate::ChatRef;

/// One outbound operation with its stable delivery id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Stable across retries; providers pass it on as an idempotency key where they can.
    pub delivery_id: String,
    /// Where to deliver.
    pub chat: ChatRef,
    /// What to do.
    pub op: OutboundOp,
    /// The latest [`crate::InboundEvent::reply_context`] the thread received, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_context: Option<String>,
    /// The W3C `traceparent` of this attempt, for providers that can pass it on (webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_parent: Option<String>,
}

/// A send or an edit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum OutboundOp {
    /// A new message, with optional button rows.
    Send {
        /// The text.
        text: String,
        /// Button rows (empty for none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Vec<Button>>,
    },
    /// Replace a message's text (and its buttons; empty removes them).
    Edit {
        /// The platform's id of the message to edit.
        message_id: String,
        /// The new full text.
        text: String,
        /// The new button rows.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Vec<Button>>,
    },
    /// Upload a file into the chat (on providers with `file_uploads`).
    File(OutboundFile),
}

/// A file to deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundFile {
    /// The file name shown in the chat.
    pub filename: String,
    /// The MIME type.
    pub mime_type: String,
    /// The bytes, base64 (standard alphabet, padded) so operations stay plain JSON.
    pub data_base64: String,
    /// An optional comment shown with the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

impl OutboundFile {
    /// The decoded bytes; `None` when the base64 is not valid.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(&self.data_base64).ok()
    }
}

/// A button; its handle is the whole payload sent back on click.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Button {
    /// The label.
    pub label: String,
    /// The handle (at most [`crate::MAX_HANDLE_BYTES`] bytes).
    pub handle: String,
    /// Visual style.
    #[serde(default)]
    pub style: ButtonStyle,
}

/// Button styles the platforms share.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ButtonStyle {
    /// Neutral.
    #[default]
    Default,
    /// Affirmative.
    Success,
    /// Destructive.
    Danger,
}

/// The platform's answer to a successful delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    /// The platform's message id (used for later edits).
    pub message_id: String,
}
