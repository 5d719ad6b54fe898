//! The model's tool calls: matching a call to a tool on offer (the built-in `fetch_url` or a tool
//! declared in config), the approval it asks for, and reading an approved call back from the
//! event log when the channel answers.

use cowork_cloud_client::{EventBody, SessionEvent};
use serde_json::{Value, json};

use super::client::ToolCallRequest;
use super::declared::{self, DeclaredTool, MAX_ARGUMENTS_CHARS};
use super::tools::{self, FETCH_URL};
use super::{OpenAiSettings, failed};
use crate::runtime::{CommandContext, RuntimeError};

/// A call the model made, matched to a tool on offer.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ToolCall {
    /// The model's call id.
    pub call_id: String,
    /// The tool's name.
    pub tool: String,
    /// The JSON arguments text (for `fetch_url`, `{"url": ...}`).
    pub arguments: String,
    /// The approval's description (the arguments are read back from it).
    pub description: String,
}

/// The `tools` array of a request: `fetch_url` when enabled, then the declared tools.
pub(super) fn declarations(settings: &OpenAiSettings) -> Vec<Value> {
    let mut all = Vec::new();
    if settings.tools_enabled {
        all.push(tools::declaration());
    }
    all.extend(settings.declared_tools.iter().map(DeclaredTool::declaration));
    all
}

/// Matches a streamed call to a tool on offer; `None` for an unknown tool or unusable arguments.
pub(super) fn matched(call: &ToolCallRequest, settings: &OpenAiSettings) -> Option<ToolCall> {
    if call.id.is_empty() {
        return None;
    }
    if call.name == FETCH_URL && settings.tools_enabled {
        let url = tools::url_argument(&call.arguments)?;
        let arguments = json!({ "url": url }).to_string();
        return Some(ToolCall {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments,
            description: tools::describe(&url),
        });
    }
    let tool = settings.declared_tools.iter().find(|tool| tool.name == call.name)?;
    // The arguments are sent as one JSON object; normalizing them also keeps them on one line.
    let arguments = serde_json::from_str::<Value>(&call.arguments).ok().filter(Value::is_object)?.to_string();
    if arguments.chars().count() > MAX_ARGUMENTS_CHARS {
        return None;
    }
    let description = declared::describe(&tool.name, &arguments);
    Some(ToolCall { call_id: call.id.clone(), tool: tool.name.clone(), arguments, description })
}

/// The call awaiting `permission_id`, checked to be still undecided by anyone else.
pub(super) fn pending(
    events: &[SessionEvent],
    command: &CommandContext,
    permission_id: &str,
) -> Result<ToolCall, RuntimeError> {
    let unknown = || failed("That approval request is not pending.", format!("no pending permission {permission_id}"));
    let own = format!("{}:", command.command_id);
    let decided_elsewhere = events.iter().any(|event| {
        matches!(&event.body, EventBody::PermissionResolved { permission_id: id, .. } if id == permission_id)
            && !event.event_id.starts_with(&own)
    });
    let call_id = permission_id.split_once(":tool:").map(|(_, call)| call.to_owned()).filter(|id| !id.is_empty());
    let (Some(call_id), false) = (call_id, decided_elsewhere) else {
        return Err(unknown());
    };
    let requested = events.iter().find_map(|event| match &event.body {
        EventBody::PermissionRequested { permission_id: id, tool, description } if id == permission_id => {
            Some((tool.clone(), description.clone()))
        }
        _ => None,
    });
    let (tool, description) = requested.ok_or_else(unknown)?;
    let arguments = if tool == FETCH_URL {
        tools::described_url(&description).map(|url| json!({ "url": url }).to_string())
    } else {
        declared::described_arguments(&tool, &description).map(str::to_owned)
    };
    let arguments = arguments.ok_or_else(unknown)?;
    Ok(ToolCall { call_id, tool, arguments, description })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(declared: Vec<DeclaredTool>) -> OpenAiSettings {
        OpenAiSettings { tools_enabled: true, declared_tools: declared, ..OpenAiSettings::default() }
    }

    fn weather() -> DeclaredTool {
        DeclaredTool {
            name: "weather".into(),
            description: "The weather in a city.".into(),
            parameters: json!({ "type": "object", "properties": { "city": { "type": "string" } } }),
            url: "https://tools.example/weather".into(),
            timeout: std::time::Duration::from_secs(5),
            allow_private: false,
        }
    }

    #[test]
    fn calls_match_only_tools_on_offer_with_object_arguments() {
        let settings = settings(vec![weather()]);
        let call = |name: &str, arguments: &str| ToolCallRequest {
            id: "c1".into(),
            name: name.into(),
            arguments: arguments.into(),
        };
        let matched_call = matched(&call("weather", r#"{ "city": "Oslo" }"#), &settings);
        assert_eq!(
            matched_call.map(|c| (c.arguments, c.description)),
            Some((r#"{"city":"Oslo"}"#.to_owned(), r#"Call weather with {"city":"Oslo"}"#.to_owned()))
        );
        assert_eq!(matched(&call("weather", "[1]"), &settings), None, "arguments must be an object");
        assert_eq!(matched(&call("shell", "{}"), &settings), None, "not on offer");
        let long = json!({ "city": "x".repeat(MAX_ARGUMENTS_CHARS) }).to_string();
        assert_eq!(matched(&call("weather", &long), &settings), None, "too long to approve");
        let names: Vec<Value> = declarations(&settings).iter().map(|d| d["function"]["name"].clone()).collect();
        assert_eq!(names, [json!("fetch_url"), json!("weather")]);
    }
}
