//! Normalized inbound events.

use bytes::Bytes;
use http::HeaderMap;
use serde::{Deserialize, Serialize};

/// The raw request as received on `/webhooks/{providerId}`.
#[derive(Clone, Debug)]
pub struct InboundRequest {
    /// Request headers.
    pub headers: HeaderMap,
    /// The exact body bytes (signatures cover them).
    pub body: Bytes,
    /// When it arrived, in unix milliseconds (signature windows are judged against this).
    pub received_at_ms: i64,
}

/// What a provider accepted from one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// The normalized events (possibly none, e.g. an ignored event type).
    pub events: Vec<InboundEvent>,
    /// A key identifying this exact signed request (for example `timestamp:signature`); the
    /// gateway refuses a second request with the same key within the signature window unless
    /// all its events are already accepted (a redelivery, answered 2xx).
    pub replay_key: Option<String>,
    /// An answer the platform expects instead of `{"ok":true}` (for example Slack's
    /// `url_verification` challenge); nothing is stored when set.
    pub immediate_reply: Option<serde_json::Value>,
}

impl Verified {
    /// Events without replay key or immediate reply.
    pub fn events(events: Vec<InboundEvent>) -> Self {
        Self { events, replay_key: None, immediate_reply: None }
    }
}

/// One normalized inbound event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundEvent {
    /// The platform's id for this event; redeliveries carry the same id.
    pub provider_event_id: String,
    /// Where it was said.
    pub chat: ChatRef,
    /// Who said it.
    pub sender: Sender,
    /// What was said or clicked.
    pub body: InboundBody,
    /// Provider-owned threading state for replies (for example an email's subject and
    /// References chain); the gateway stores it with the thread and hands the latest one back on
    /// every [`crate::Delivery`] into that thread, without reading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_context: Option<String>,
}

/// A chat and, where the platform has them, a thread inside it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRef {
    /// The chat (channel, DM, mailbox) id.
    pub chat_id: String,
    /// The thread id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

impl ChatRef {
    /// The thread key used for sessions: the thread id, or the chat id without threads.
    pub fn thread_key(&self) -> &str {
        self.thread_id.as_deref().unwrap_or(&self.chat_id)
    }
}

/// The sender of an inbound event, as the provider authenticated it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sender {
    /// The platform user id.
    pub user_id: String,
    /// A display name, if the platform gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// What an inbound event carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum InboundBody {
    /// A message for the agent.
    Message {
        /// The prompt text.
        text: String,
    },
    /// A button click or a text command answering an approval or question.
    Interaction(InteractionInput),
    /// `/stop` (or `/abort`): stop the agent's turn in this thread.
    Abort,
    /// Accepted and recorded, but never prompted (for example an auto-reply or a sender outside
    /// the allowlist); `reason` says why.
    Ignored {
        /// A short machine-readable reason such as `auto_submitted`.
        reason: String,
    },
}

/// An answer to an approval or a question, by handle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractionInput {
    /// The handle from the button payload or the text command.
    pub handle: String,
    /// How it was answered.
    pub verb: InteractionVerb,
}

/// How an interaction was answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "text", rename_all = "camelCase")]
pub enum InteractionVerb {
    /// A button: the handle itself names the choice.
    Click,
    /// `/approve <handle>`.
    Approve,
    /// `/deny <handle>`.
    Deny,
    /// `/answer <handle> <text>`.
    Answer(String),
}
