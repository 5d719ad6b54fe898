//! The session projection: a pure fold of the event log into the view Open Cowork's clients
//! read (`{sessionId, title, status, isGenerating, messages, toolCalls, pendingApprovals, …}`).
//! It is computed from the log on demand, so it can never disagree with it.

use cowork_cloud_client::{EventBody, SessionEvent};
use serde_json::{Value, json};

use crate::api::PROFILE_NAME;
use crate::clock::iso8601;
use crate::store::SessionRecord;

/// The view being folded.
#[derive(Debug)]
pub struct Projection {
    session_id: String,
    title: String,
    status: &'static str,
    generating: bool,
    sequence: i64,
    updated_at: i64,
    messages: Vec<Value>,
    tool_calls: Vec<Value>,
    pending_approvals: Vec<Value>,
    resolved_approvals: Vec<Value>,
    pending_questions: Vec<Value>,
    resolved_questions: Vec<Value>,
    artifacts: Vec<Value>,
    errors: Vec<Value>,
    input_tokens: u64,
    output_tokens: u64,
    last_input_tokens: u64,
    last_error: Option<String>,
}

impl Projection {
    /// The empty view of a session.
    pub fn new(session: &SessionRecord) -> Self {
        Self {
            session_id: session.session_id.clone(),
            title: session.title.clone(),
            status: "idle",
            generating: false,
            sequence: 0,
            updated_at: session.created_at,
            messages: Vec::new(),
            tool_calls: Vec::new(),
            pending_approvals: Vec::new(),
            resolved_approvals: Vec::new(),
            pending_questions: Vec::new(),
            resolved_questions: Vec::new(),
            artifacts: Vec::new(),
            errors: Vec::new(),
            input_tokens: 0,
            output_tokens: 0,
            last_input_tokens: 0,
            last_error: None,
        }
    }

    /// The last event folded in.
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// Folds one event in (events must come in sequence order).
    pub fn apply(&mut self, event: &SessionEvent) {
        if event.sequence <= self.sequence {
            return;
        }
        self.sequence = event.sequence;
        self.updated_at = event.created_at_ms;
        let at = iso8601(event.created_at_ms);
        match &event.body {
            EventBody::PromptSubmitted { message_id, text, .. } => {
                upsert(
                    &mut self.messages,
                    "id",
                    message_id,
                    json!({"id": message_id, "role": "user", "content": text, "createdAt": at}),
                );
                // A new turn clears the sticky error of the last one.
                self.status = "running";
                self.generating = true;
                self.last_error = None;
            }
            EventBody::AssistantMessage { message_id, content, complete } => {
                let message = json!({"id": message_id, "role": "assistant", "content": content, "createdAt": at});
                upsert(&mut self.messages, "id", message_id, message);
                if *complete {
                    self.generating = false;
                }
            }
            EventBody::ToolCall { id, name, status, error } => {
                let call = json!({"id": id, "name": name, "status": status, "error": error});
                upsert(&mut self.tool_calls, "id", id, call);
            }
            EventBody::ArtifactCreated { artifact_id, filename, mime_type, size_bytes, .. } => {
                let artifact = json!({
                    "artifactId": artifact_id, "filename": filename, "mimeType": mime_type, "sizeBytes": size_bytes,
                });
                upsert(&mut self.artifacts, "artifactId", artifact_id, artifact);
            }
            EventBody::PermissionRequested { permission_id, tool, description } => {
                let approval = json!({"permissionId": permission_id, "tool": tool, "description": description});
                upsert(&mut self.pending_approvals, "permissionId", permission_id, approval);
                self.generating = false;
            }
            EventBody::PermissionResolved { permission_id, allowed } => {
                self.pending_approvals.retain(|a| a["permissionId"] != permission_id.as_str());
                let resolved = json!({"permissionId": permission_id, "allowed": allowed});
                upsert(&mut self.resolved_approvals, "permissionId", permission_id, resolved);
            }
            EventBody::QuestionAsked { request_id, questions } => {
                let question = json!({"requestId": request_id, "questions": questions});
                upsert(&mut self.pending_questions, "requestId", request_id, question);
                self.generating = false;
            }
            EventBody::QuestionResolved { request_id, answers, rejected } => {
                self.pending_questions.retain(|q| q["requestId"] != request_id.as_str());
                let resolved = json!({"requestId": request_id, "answers": answers, "rejected": rejected});
                upsert(&mut self.resolved_questions, "requestId", request_id, resolved);
            }
            EventBody::SessionIdle {} | EventBody::SessionAborted { .. } => {
                // An error stays visible over the idle that follows it.
                if self.status != "errored" {
                    self.status = "idle";
                }
                self.generating = false;
            }
            EventBody::RuntimeError { command_id, message } => {
                self.status = "errored";
                self.generating = false;
                self.last_error = Some(message.clone());
                self.errors.push(json!({"commandId": command_id, "message": message, "createdAt": at}));
            }
            EventBody::Usage { prompt_tokens, completion_tokens } => {
                self.input_tokens += prompt_tokens;
                self.output_tokens += completion_tokens;
                self.last_input_tokens = *prompt_tokens;
            }
            EventBody::RuntimeSession { .. } | EventBody::Other => {}
        }
    }

    /// The view's JSON.
    pub fn view(&self) -> Value {
        json!({
            "sessionId": self.session_id,
            "title": self.title,
            "status": self.status,
            "profileName": PROFILE_NAME,
            "isGenerating": self.generating,
            "messages": self.messages,
            "toolCalls": self.tool_calls,
            "taskRuns": [],
            "pendingApprovals": self.pending_approvals,
            "pendingQuestions": self.pending_questions,
            "resolvedApprovals": self.resolved_approvals,
            "resolvedQuestions": self.resolved_questions,
            "artifacts": self.artifacts,
            "todos": [],
            "errors": self.errors,
            "sessionCost": 0,
            "sessionTokens": {"input": self.input_tokens, "output": self.output_tokens},
            "lastInputTokens": self.last_input_tokens,
            "lastError": self.last_error,
            "origin": Value::Null,
            "projectSource": Value::Null,
            "sequence": self.sequence,
            "updatedAt": iso8601(self.updated_at),
        })
    }
}

/// Replaces the entry whose `key` is `id`, or appends `value`.
fn upsert(list: &mut Vec<Value>, key: &str, id: &str, value: Value) {
    match list.iter_mut().find(|entry| entry[key] == id) {
        Some(entry) => *entry = value,
        None => list.push(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cowork_cloud_client::SessionId;

    fn event(sequence: i64, body: EventBody) -> SessionEvent {
        SessionEvent {
            session_id: SessionId::new("s"),
            sequence,
            event_id: format!("e{sequence}"),
            created_at_ms: sequence * 1000,
            body,
            trace: None,
        }
    }

    #[test]
    fn a_turn_folds_into_messages_approvals_and_an_idle_session() {
        let session = SessionRecord {
            session_id: "s".into(),
            binding_id: "b".into(),
            title: "t".into(),
            status: "idle".into(),
            agent: "build".into(),
            created_at: 0,
            updated_at: 0,
        };
        let mut view = Projection::new(&session);
        let text = |content: &str, complete| EventBody::AssistantMessage {
            message_id: "m1".into(),
            content: content.into(),
            complete,
        };
        view.apply(&event(
            1,
            EventBody::PromptSubmitted { command_id: "c".into(), message_id: "c:user".into(), text: "hi".into() },
        ));
        assert_eq!(view.view()["status"], "running");
        view.apply(&event(2, text("Hel", false)));
        view.apply(&event(
            3,
            EventBody::PermissionRequested { permission_id: "p".into(), tool: "bash".into(), description: "ls".into() },
        ));
        view.apply(&event(4, EventBody::PermissionResolved { permission_id: "p".into(), allowed: true }));
        view.apply(&event(5, text("Hello", true)));
        view.apply(&event(5, text("replayed", true)));
        view.apply(&event(6, EventBody::SessionIdle {}));
        let shown = view.view();
        assert_eq!(shown["messages"].as_array().map(Vec::len), Some(2));
        assert_eq!(shown["messages"][1]["content"], "Hello");
        assert_eq!(shown["pendingApprovals"], json!([]));
        assert_eq!(shown["resolvedApprovals"][0]["allowed"], true);
        assert_eq!((shown["status"].as_str(), shown["isGenerating"].as_bool()), (Some("idle"), Some(false)));
        assert_eq!(view.sequence(), 6);

        view.apply(&event(7, EventBody::RuntimeError { command_id: None, message: "boom".into() }));
        view.apply(&event(8, EventBody::SessionIdle {}));
        assert_eq!(view.view()["status"], "errored", "an error is sticky over idle");
        assert_eq!(view.view()["lastError"], "boom");
    }
}
