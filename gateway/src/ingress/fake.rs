//! `GET /fake/{providerId}/transcript?chatId=…`: what the gateway delivered through a fake
//! provider, as entries (every send and edit) and as messages (their current state).

use axum::Json;
use axum::extract::{Path, Query, State};
use cowork_providers::ProviderId;
use cowork_providers::fake::TranscriptEntry;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, IngressError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TranscriptQuery {
    chat_id: Option<String>,
}

/// Returns the transcript.
pub(super) async fn transcript(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    Query(query): Query<TranscriptQuery>,
) -> Result<Json<Value>, IngressError> {
    let registered =
        state.services.providers.get(&ProviderId::new(provider_id)).ok_or(IngressError::UnknownProvider)?;
    let fake = registered.fake.as_ref().ok_or(IngressError::UnknownProvider)?;
    let entries = fake.transcript(query.chat_id.as_deref()).await.map_err(|error| {
        tracing::error!(error = %error, "transcript read failed");
        IngressError::Unavailable
    })?;
    let messages = fold_messages(&entries);
    Ok(Json(json!({"ok": true, "messages": messages, "entries": entries})))
}

/// The current state of each message: sends create, edits replace text and buttons.
fn fold_messages(entries: &[TranscriptEntry]) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    for entry in entries {
        let existing = messages.iter_mut().find(|m| m["messageId"] == entry.message_id.as_str());
        match (entry.operation.as_str(), existing) {
            ("edit", Some(message)) => {
                message["text"] = json!(entry.text);
                message["buttons"] = json!(entry.buttons);
                message["edits"] = json!(message["edits"].as_u64().unwrap_or(0) + 1);
            }
            _ => messages.push(json!({
                "messageId": entry.message_id,
                "chatId": entry.chat_id,
                "threadId": entry.thread_id,
                "text": entry.text,
                "buttons": entry.buttons,
                "edits": 0,
            })),
        }
    }
    messages
}
