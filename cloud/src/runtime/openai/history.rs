//! The conversation sent to the model, rebuilt from the session's event log: the system prompt,
//! then user messages (`prompt.submitted`) and assistant messages (the last snapshot of each
//! `assistant.message` id, placed where that message began), in log order. The running
//! command's own partial output (from an earlier attempt) is left out, and a tool call being
//! answered is spliced in where its `permission.requested` stands. Abort notices ("Stopped.")
//! are the gateway's words, not the model's, and are left out.

use std::collections::HashMap;

use cowork_cloud_client::{EventBody, SessionEvent};
use serde_json::{Value, json};

use crate::abort::is_notice;

/// A tool call the running command answers: the model's request and the result to send back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ToolExchange {
    /// The `permission.requested` id that carried the call.
    pub permission_id: String,
    /// The model's call id.
    pub call_id: String,
    /// The function name.
    pub name: String,
    /// The JSON arguments text.
    pub arguments: String,
    /// What the tool produced (or why it did not run).
    pub result: String,
}

/// The chat messages for a model call made by the command whose assistant message id is
/// `own_message_id`.
pub(super) fn conversation(
    events: &[SessionEvent],
    system_prompt: Option<&str>,
    own_message_id: &str,
    exchange: Option<&ToolExchange>,
) -> Vec<Value> {
    let mut messages = Vec::new();
    if let Some(system) = system_prompt.filter(|s| !s.trim().is_empty()) {
        messages.push(json!({ "role": "system", "content": system }));
    }
    let mut assistant_at: HashMap<&str, usize> = HashMap::new();
    for event in events {
        match &event.body {
            EventBody::PromptSubmitted { text, .. } => {
                messages.push(json!({ "role": "user", "content": text }));
            }
            EventBody::AssistantMessage { message_id, content, .. }
                if message_id != own_message_id && !is_notice(message_id) =>
            {
                match assistant_at.get(message_id.as_str()) {
                    Some(&index) => messages[index]["content"] = json!(content),
                    None => {
                        assistant_at.insert(message_id, messages.len());
                        messages.push(json!({ "role": "assistant", "content": content }));
                    }
                }
            }
            EventBody::PermissionRequested { permission_id, .. } => {
                if let Some(exchange) = exchange.filter(|x| &x.permission_id == permission_id) {
                    splice(&mut messages, exchange);
                }
            }
            _ => {}
        }
    }
    messages.retain(|message| {
        message["role"] != "assistant" || message.get("tool_calls").is_some() || message["content"] != ""
    });
    messages
}

/// Adds the assistant's tool call (to its last message when that is the assistant's, as the
/// model sent it) and the tool's result.
fn splice(messages: &mut Vec<Value>, exchange: &ToolExchange) {
    let call = json!([{
        "id": exchange.call_id,
        "type": "function",
        "function": { "name": exchange.name, "arguments": exchange.arguments },
    }]);
    match messages.last_mut() {
        Some(last) if last["role"] == "assistant" && last.get("tool_calls").is_none() => last["tool_calls"] = call,
        _ => messages.push(json!({ "role": "assistant", "content": null, "tool_calls": call })),
    }
    messages.push(json!({ "role": "tool", "tool_call_id": exchange.call_id, "content": exchange.result }));
}

#[cfg(test)]
mod tests {
    use cowork_cloud_client::SessionId;

    use super::*;

    fn event(sequence: i64, body: EventBody) -> SessionEvent {
        SessionEvent {
            session_id: SessionId::new("s"),
            sequence,
            event_id: format!("e{sequence}"),
            created_at_ms: 0,
            body,
            trace: None,
        }
    }

    fn snapshot(id: &str, content: &str) -> EventBody {
        EventBody::AssistantMessage { message_id: id.into(), content: content.into(), complete: false }
    }

    fn prompt(text: &str) -> EventBody {
        EventBody::PromptSubmitted { command_id: "c".into(), message_id: "c:user".into(), text: text.into() }
    }

    #[test]
    fn last_snapshots_in_order_without_the_own_message() {
        let events = [
            event(1, prompt("one")),
            event(2, snapshot("a:assistant", "Hel")),
            event(3, snapshot("a:assistant", "Hello")),
            event(4, EventBody::SessionIdle {}),
            event(5, prompt("two")),
            event(6, snapshot("b:assistant", "partial from a crashed attempt")),
        ];
        let messages = conversation(&events, Some("Be brief."), "b:assistant", None);
        let expected = [
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "one"}),
            json!({"role": "assistant", "content": "Hello"}),
            json!({"role": "user", "content": "two"}),
        ];
        assert_eq!(messages, expected);
    }

    #[test]
    fn a_tool_exchange_is_spliced_at_its_request() {
        let requested = EventBody::PermissionRequested {
            permission_id: "a:tool:call_1".into(),
            tool: "fetch_url".into(),
            description: "Fetch https://example.com/".into(),
        };
        let events =
            [event(1, prompt("read it")), event(2, snapshot("a:assistant", "Let me look.")), event(3, requested)];
        let exchange = ToolExchange {
            permission_id: "a:tool:call_1".into(),
            call_id: "call_1".into(),
            name: "fetch_url".into(),
            arguments: r#"{"url":"https://example.com/"}"#.into(),
            result: "page".into(),
        };
        let messages = conversation(&events, None, "b:assistant", Some(&exchange));
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[1]["content"], "Let me look.");
        assert_eq!(messages[1]["tool_calls"][0]["id"], "call_1");
        assert_eq!(messages[2], json!({"role": "tool", "tool_call_id": "call_1", "content": "page"}));
    }
}
