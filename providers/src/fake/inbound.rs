//! Parsing the fake provider's webhook body.

use serde::Deserialize;

use crate::commands::parse_text_command;
use crate::{ChatRef, InboundBody, InboundError, InboundEvent, InteractionInput, InteractionVerb, Sender};

const MAX_ID_BYTES: usize = 512;
const MAX_TEXT_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FakeBody {
    id: Option<String>,
    text: Option<String>,
    chat_id: Option<String>,
    thread_id: Option<String>,
    user_id: Option<String>,
    user_name: Option<String>,
    interaction: Option<FakeInteraction>,
}

#[derive(Deserialize)]
struct FakeInteraction {
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    token: String,
    #[serde(default)]
    #[allow(dead_code)]
    kind: Option<String>,
}

fn checked_id(field: &str, value: Option<String>, default: Option<&str>) -> Result<Option<String>, InboundError> {
    let Some(value) = value.map(|v| v.trim().to_owned()).or_else(|| default.map(str::to_owned)) else {
        return Ok(None);
    };
    if value.is_empty() || value.len() > MAX_ID_BYTES || value.chars().any(char::is_control) {
        return Err(InboundError::BadPayload(format!(
            "{field} must be 1 to {MAX_ID_BYTES} bytes without control characters"
        )));
    }
    Ok(Some(value))
}

/// Parses one fake webhook body into an event.
pub(super) fn parse(body: &[u8]) -> Result<InboundEvent, InboundError> {
    let body: FakeBody =
        serde_json::from_slice(body).map_err(|e| InboundError::BadPayload(format!("invalid JSON body: {e}")))?;
    let provider_event_id = match checked_id("id", body.id, None)? {
        Some(id) => id,
        // Without an id the sender gets no redelivery dedupe, as in Open Cowork.
        None => uuid::Uuid::new_v4().to_string(),
    };
    let chat_id = checked_id("chatId", body.chat_id, Some("fake-chat"))?.unwrap_or_default();
    let thread_id = checked_id("threadId", body.thread_id, None)?;
    let user_id = checked_id("userId", body.user_id, Some("fake-user"))?.unwrap_or_default();
    let display_name = checked_id("userName", body.user_name, None)?;
    let text = body.text.unwrap_or_default();
    if text.len() > MAX_TEXT_BYTES {
        return Err(InboundError::TooLarge(format!("text is longer than {MAX_TEXT_BYTES} bytes")));
    }
    let body = if let Some(interaction) = body.interaction {
        let handle = checked_id("interaction.token", Some(interaction.token), None)?.unwrap_or_default();
        InboundBody::Interaction(InteractionInput { handle, verb: InteractionVerb::Click })
    } else if let Some(command) = parse_text_command(&text) {
        command
    } else if text.trim().is_empty() {
        return Err(InboundError::BadPayload("text is required".into()));
    } else {
        InboundBody::Message { text }
    };
    Ok(InboundEvent {
        provider_event_id,
        chat: ChatRef { chat_id, thread_id },
        sender: Sender { user_id, display_name },
        body,
        reply_context: None,
    })
}
