//! Commands the gateway submits to a session; they run one at a time per session.

use serde::{Deserialize, Serialize};

use crate::{IdentityId, TraceParent};

/// A command to enqueue. The idempotency key makes a retried submission return the same command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCommand {
    /// Caller-chosen key (the gateway uses its inbox id); one key, one command.
    pub idempotency_key: String,
    /// Who asked.
    pub actor: IdentityId,
    /// What to do.
    pub body: CommandBody,
    /// The trace the command continues (sent as the `traceparent` header, stored with the
    /// command); not part of the JSON body.
    #[serde(skip)]
    pub trace: Option<TraceParent>,
}

/// The command kinds (`prompt`, `abort`, `permission.respond`, `question.reply`, `question.reject`).
///
/// An `abort` is not queued behind the running turn: it runs at once, stops the turn in progress
/// (its text so far is kept, marked complete) and every command submitted before it that has
/// not started, and the session shows one short notice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all_fields = "camelCase")]
pub enum CommandBody {
    /// Run a prompt.
    #[serde(rename = "prompt")]
    Prompt {
        /// The user's text.
        text: String,
        /// The agent to run.
        agent: String,
    },
    /// Stop the running turn and the commands queued before this one.
    #[serde(rename = "abort")]
    Abort,
    /// Answer a permission request.
    #[serde(rename = "permission.respond")]
    PermissionRespond {
        /// The permission answered.
        permission_id: String,
        /// Allowed or denied.
        allowed: bool,
    },
    /// Answer a question.
    #[serde(rename = "question.reply")]
    QuestionReply {
        /// The question request answered.
        request_id: String,
        /// The answers.
        answers: Vec<String>,
    },
    /// Decline a question.
    #[serde(rename = "question.reject")]
    QuestionReject {
        /// The question request declined.
        request_id: String,
    },
}

impl CommandBody {
    /// The wire name of the command kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Prompt { .. } => "prompt",
            Self::Abort => "abort",
            Self::PermissionRespond { .. } => "permission.respond",
            Self::QuestionReply { .. } => "question.reply",
            Self::QuestionReject { .. } => "question.reject",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abort_uses_the_open_cowork_kind() {
        let json = serde_json::to_value(CommandBody::Abort).unwrap_or_default();
        assert_eq!(json, serde_json::json!({ "kind": "abort" }));
        assert_eq!(serde_json::from_value::<CommandBody>(json).ok(), Some(CommandBody::Abort));
        assert_eq!(CommandBody::Abort.kind(), "abort");
    }
}
