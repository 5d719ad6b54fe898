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
}
