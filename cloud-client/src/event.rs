//! Session events: the append-only log the renderer follows.

use serde::{Deserialize, Serialize};

use crate::{SessionId, TraceParent};

/// One event of a session's log, as stored and as streamed (`id` = sequence, `event` = type).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEvent {
    /// The session the event belongs to.
    pub session_id: SessionId,
    /// Per-session sequence, starting at 1, without gaps.
    pub sequence: i64,
    /// Stable id; appending the same id twice stores it once.
    pub event_id: String,
    /// Unix milliseconds when the event was appended.
    pub created_at_ms: i64,
    /// The trace of the turn that appended it (`traceparent`), continued by what renders it.
    #[serde(
        rename = "traceparent",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::trace::lenient"
    )]
    pub trace: Option<TraceParent>,
    /// The typed event (`type` and `payload` on the wire).
    #[serde(flatten)]
    pub body: EventBody,
}

/// The event vocabulary. Read stored or streamed events with [`EventBody::from_parts`], which
/// turns types (and payloads) this build does not know into [`EventBody::Other`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all_fields = "camelCase")]
pub enum EventBody {
    /// A command started running a user's prompt.
    #[serde(rename = "prompt.submitted")]
    PromptSubmitted {
        /// The command that carries the prompt.
        command_id: String,
        /// The user message id (`<command>:user`).
        message_id: String,
        /// The prompt text.
        text: String,
    },
    /// The assistant's text so far: `content` is always the full snapshot of message `message_id`.
    #[serde(rename = "assistant.message")]
    AssistantMessage {
        /// Stable message key; a re-run turn reuses it so the channel edits instead of appending.
        message_id: String,
        /// The full text so far.
        content: String,
        /// True on the last snapshot of this message.
        #[serde(default)]
        complete: bool,
    },
    /// A tool's progress (shown as one status line edited in place).
    #[serde(rename = "tool.call")]
    ToolCall {
        /// The call id (stable across status updates).
        id: String,
        /// The tool's name.
        name: String,
        /// Where it stands.
        status: ToolStatus,
        /// A short, user-safe error when it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The agent produced a file.
    #[serde(rename = "artifact.created")]
    ArtifactCreated {
        /// The artifact id.
        artifact_id: String,
        /// Its file name.
        filename: String,
        /// Its MIME type.
        mime_type: String,
        /// Its size in bytes.
        size_bytes: u64,
        /// The bytes, base64, for small artifacts kept inline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_base64: Option<String>,
    },
    /// The agent asks for approval before running a tool.
    #[serde(rename = "permission.requested")]
    PermissionRequested {
        /// The permission the answer refers to.
        permission_id: String,
        /// The tool that wants to run.
        tool: String,
        /// What the tool would do, for the person deciding.
        description: String,
    },
    /// An approval was decided.
    #[serde(rename = "permission.resolved")]
    PermissionResolved {
        /// The permission decided.
        permission_id: String,
        /// Whether it was allowed.
        allowed: bool,
    },
    /// The agent asks a question.
    #[serde(rename = "question.asked")]
    QuestionAsked {
        /// The question request the answer refers to.
        request_id: String,
        /// The questions (the renderer shows the first as buttons).
        questions: Vec<QuestionSpec>,
    },
    /// A question was answered or rejected.
    #[serde(rename = "question.resolved")]
    QuestionResolved {
        /// The question request resolved.
        request_id: String,
        /// The answers given, empty when rejected.
        #[serde(default)]
        answers: Vec<String>,
        /// True when the question was rejected.
        #[serde(default)]
        rejected: bool,
    },
    /// The session finished its turn.
    #[serde(rename = "session.idle")]
    SessionIdle {},
    /// The session's conversation is held by an external runtime's session (an OpenCode session),
    /// recorded once when the runtime created it; channels do not render it.
    #[serde(rename = "runtime.session")]
    RuntimeSession {
        /// The runtime (`opencode`).
        runtime: String,
        /// The runtime's own session id.
        external_session_id: String,
    },
    /// An `abort` command stopped the session's turn (the notice the channel shows is an
    /// `assistant.message` of the abort command).
    #[serde(rename = "session.aborted")]
    SessionAborted {
        /// The abort command.
        command_id: String,
    },
    /// The runtime failed; the channel shows one short message.
    #[serde(rename = "runtime.error")]
    RuntimeError {
        /// The command that failed, if any.
        #[serde(default)]
        command_id: Option<String>,
        /// A short, user-safe message.
        message: String,
    },
    /// Token usage of one model call (for accounting; channels do not render it).
    #[serde(rename = "usage.recorded")]
    Usage {
        /// Tokens of the request (prompt and history).
        prompt_tokens: u64,
        /// Tokens the model generated.
        completion_tokens: u64,
    },
    /// An event type this build does not know; never written.
    #[serde(skip)]
    Other,
}

impl EventBody {
    /// Rebuilds an event from its wire `type` and `payload`; unknown types decode as `Other`.
    pub fn from_parts(kind: &str, payload: serde_json::Value) -> Self {
        serde_json::from_value(serde_json::json!({ "type": kind, "payload": payload })).unwrap_or(Self::Other)
    }

    /// The wire name of the event type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::PromptSubmitted { .. } => "prompt.submitted",
            Self::AssistantMessage { .. } => "assistant.message",
            Self::ToolCall { .. } => "tool.call",
            Self::ArtifactCreated { .. } => "artifact.created",
            Self::PermissionRequested { .. } => "permission.requested",
            Self::PermissionResolved { .. } => "permission.resolved",
            Self::QuestionAsked { .. } => "question.asked",
            Self::QuestionResolved { .. } => "question.resolved",
            Self::SessionIdle {} => "session.idle",
            Self::SessionAborted { .. } => "session.aborted",
            Self::RuntimeSession { .. } => "runtime.session",
            Self::RuntimeError { .. } => "runtime.error",
            Self::Usage { .. } => "usage.recorded",
            Self::Other => "other",
        }
    }
}

/// The status of a tool call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolStatus {
    /// Started.
    Running,
    /// Finished.
    Complete,
    /// Failed.
    Error,
}

/// One question of a `question.asked` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionSpec {
    /// A short header.
    #[serde(default)]
    pub header: String,
    /// The question text.
    pub question: String,
    /// The choices offered.
    #[serde(default)]
    pub options: Vec<QuestionOption>,
    /// Whether several options may be chosen.
    #[serde(default)]
    pub multiple: bool,
}

/// A choice of a question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionOption {
    /// The label shown on the button and sent back as the answer.
    pub label: String,
    /// An optional longer description.
    #[serde(default)]
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_use_the_open_cowork_wire_names() {
        let body = EventBody::AssistantMessage { message_id: "m1".into(), content: "hi".into(), complete: false };
        let json = serde_json::to_value(&body).unwrap_or_default();
        assert_eq!(json["type"], "assistant.message");
        assert_eq!(json["payload"]["messageId"], "m1");
        let back: EventBody = serde_json::from_value(json).unwrap_or(EventBody::Other);
        assert_eq!(back, body);
    }

    #[test]
    fn unknown_event_types_decode_as_other() {
        let body = EventBody::from_parts("todos.updated", serde_json::json!({"todos": []}));
        assert_eq!(body, EventBody::Other);
        let known = EventBody::from_parts("session.idle", serde_json::json!({}));
        assert_eq!(known, EventBody::SessionIdle {});
    }
}
