//! OpenCode's event stream (`GET /event`): server-sent events, each `data` a JSON object with a
//! `type` and `properties`, read as the few typed events the runtime acts on for one session.

use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::Value;

use crate::runtime::sse::SseParser;

/// An event of the session being followed.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum OpenCodeEvent {
    /// A message was created or changed; only its role matters here.
    MessageUpdated {
        /// The message id.
        message_id: String,
        /// `user` or `assistant`.
        role: String,
    },
    /// A part was created or changed (its full state).
    PartUpdated(Part),
    /// Text was appended to a part.
    PartDelta {
        /// The message the part belongs to.
        message_id: String,
        /// The part.
        part_id: String,
        /// The field that grew (`text`).
        field: String,
        /// The appended text.
        delta: String,
    },
    /// A tool asks for permission.
    PermissionAsked {
        /// The request id (`per_...`), used to reply.
        id: String,
        /// The permission (a tool name such as `bash`).
        permission: String,
        /// What it would touch (commands, paths, URLs).
        patterns: Vec<String>,
    },
    /// The agent asks questions.
    QuestionAsked {
        /// The request id (`que_...`), used to reply.
        id: String,
        /// The questions.
        questions: Vec<Value>,
    },
    /// The session failed (an aborted message included).
    Error {
        /// The error's name (`MessageAbortedError`, `APIError`, ...).
        name: String,
        /// Its message.
        message: String,
    },
    /// The session finished its work.
    Idle,
}

/// A message part, as far as the runtime reads it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part {
    /// The part id.
    pub id: String,
    /// The message it belongs to.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// `text`, `tool`, `reasoning`, `step-start`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// A text part's text.
    #[serde(default)]
    pub text: Option<String>,
    /// A text part's times; `end` is set once it is complete.
    #[serde(default)]
    pub time: Option<PartTime>,
    /// Whether a text part was made up by OpenCode rather than the model.
    #[serde(default)]
    pub synthetic: bool,
    /// A tool part's call id.
    #[serde(default, rename = "callID")]
    pub call_id: Option<String>,
    /// A tool part's tool.
    #[serde(default)]
    pub tool: Option<String>,
    /// A tool part's state.
    #[serde(default)]
    pub state: Option<ToolState>,
}

/// When a part started and ended.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(super) struct PartTime {
    /// Set once the part is complete.
    #[serde(default)]
    pub end: Option<u64>,
}

/// A tool part's state.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(super) struct ToolState {
    /// `pending`, `running`, `completed` or `error`.
    pub status: String,
    /// The error text when it failed.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    properties: Value,
}

/// Reads one event payload; `None` for events of other sessions and types the runtime ignores.
pub(super) fn parse(data: &str, session: &str) -> Option<OpenCodeEvent> {
    let envelope: Envelope = serde_json::from_str(data).ok()?;
    let properties = &envelope.properties;
    if properties.get("sessionID").and_then(Value::as_str) != Some(session) {
        return None;
    }
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    match envelope.kind.as_str() {
        "message.updated" => Some(OpenCodeEvent::MessageUpdated {
            message_id: text(&properties["info"]["id"]),
            role: text(&properties["info"]["role"]),
        }),
        "message.part.updated" => {
            serde_json::from_value(properties["part"].clone()).ok().map(OpenCodeEvent::PartUpdated)
        }
        "message.part.delta" => Some(OpenCodeEvent::PartDelta {
            message_id: text(&properties["messageID"]),
            part_id: text(&properties["partID"]),
            field: text(&properties["field"]),
            delta: text(&properties["delta"]),
        }),
        "permission.asked" => Some(OpenCodeEvent::PermissionAsked {
            id: text(&properties["id"]),
            permission: text(&properties["permission"]),
            patterns: properties["patterns"].as_array().into_iter().flatten().map(text).collect(),
        }),
        "question.asked" => Some(OpenCodeEvent::QuestionAsked {
            id: text(&properties["id"]),
            questions: properties["questions"].as_array().cloned().unwrap_or_default(),
        }),
        "session.error" => Some(OpenCodeEvent::Error {
            name: text(&properties["error"]["name"]),
            message: text(&properties["error"]["data"]["message"]),
        }),
        "session.idle" => Some(OpenCodeEvent::Idle),
        _ => None,
    }
}

/// The events of one session on an open stream, one at a time.
pub(super) struct EventStream {
    response: reqwest::Response,
    parser: SseParser,
    pending: VecDeque<String>,
    session: String,
}

impl EventStream {
    /// Follows `session` on the stream `response`.
    pub(super) fn new(response: reqwest::Response, session: &str) -> Self {
        Self { response, parser: SseParser::default(), pending: VecDeque::new(), session: session.to_owned() }
    }

    /// The next event of the session; `Err` when the stream ended or broke.
    pub(super) async fn next(&mut self) -> Result<OpenCodeEvent, String> {
        loop {
            while let Some(data) = self.pending.pop_front() {
                if let Some(event) = parse(&data, &self.session) {
                    return Ok(event);
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.pending.extend(self.parser.feed(&bytes)),
                Ok(None) => return Err("the event stream ended".to_owned()),
                Err(error) => return Err(format!("the event stream broke: {}", error.without_url())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_other_sessions_and_unknown_types_are_skipped() {
        let delta = r#"{"id":"evt_1","type":"message.part.delta","properties":{"sessionID":"ses_a","messageID":"msg_1","partID":"prt_1","field":"text","delta":"Hi"}}"#;
        let expected = OpenCodeEvent::PartDelta {
            message_id: "msg_1".into(),
            part_id: "prt_1".into(),
            field: "text".into(),
            delta: "Hi".into(),
        };
        assert_eq!(parse(delta, "ses_a"), Some(expected));
        assert_eq!(parse(delta, "ses_b"), None);
        assert_eq!(parse(r#"{"type":"plugin.added","properties":{"id":"x"}}"#, "ses_a"), None);
        let tool = r#"{"type":"message.part.updated","properties":{"sessionID":"ses_a","part":{"id":"prt_2","messageID":"msg_1","sessionID":"ses_a","type":"tool","tool":"bash","callID":"call_1","state":{"status":"error","input":{},"error":"boom","time":{"start":1,"end":2}}}}}"#;
        let Some(OpenCodeEvent::PartUpdated(part)) = parse(tool, "ses_a") else { panic!("a tool part") };
        assert_eq!(
            (part.call_id.as_deref(), part.state.map(|s| (s.status, s.error))),
            (Some("call_1"), Some(("error".into(), Some("boom".into()))))
        );
    }
}
