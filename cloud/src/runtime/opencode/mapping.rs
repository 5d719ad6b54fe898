//! OpenCode's events as session events, for one command's turn: text parts of assistant messages
//! become `assistant.message` snapshots (message id `<command id>:<part id>`, the full text so far,
//! coalesced), tool parts become `tool.call` status lines, permission requests and questions
//! become `permission.requested` / `question.asked` (the turn then waits for the channel), and
//! `session.idle` or `session.error` end the turn.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cowork_cloud_client::{EventBody, QuestionSpec, ToolStatus};
use tokio::time::Instant;

use super::events::{OpenCodeEvent, Part};
use crate::runtime::{CommandContext, EventSink, RuntimeError};

/// The longest approval description and tool error kept.
const MAX_DETAIL_CHARS: usize = 500;

/// What an event meant for the turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Keep following.
    Continue,
    /// OpenCode finished its work.
    Idle,
    /// OpenCode waits for the channel (an approval or an answer).
    Asked,
    /// OpenCode reported an error.
    Failed {
        /// The error's name (`MessageAbortedError` after an abort).
        name: String,
        /// Its message.
        message: String,
    },
}

/// One text part being streamed.
struct TextPart {
    content: String,
    complete: bool,
    dirty: bool,
    snapshots: u32,
    last: Option<Instant>,
}

/// Writes one turn's session events from OpenCode's events.
pub(super) struct TurnWriter<'a> {
    command: &'a CommandContext,
    sink: &'a EventSink,
    interval: Duration,
    user_messages: HashSet<String>,
    texts: HashMap<String, TextPart>,
    text_order: Vec<String>,
    tools: HashMap<String, ToolStatus>,
}

impl<'a> TurnWriter<'a> {
    /// A writer for `command`, with at most one streamed snapshot per `interval` and part.
    pub(super) fn new(command: &'a CommandContext, sink: &'a EventSink, interval: Duration) -> Self {
        Self {
            command,
            sink,
            interval,
            user_messages: HashSet::new(),
            texts: HashMap::new(),
            text_order: Vec::new(),
            tools: HashMap::new(),
        }
    }

    /// Applies one event.
    pub(super) async fn apply(&mut self, event: OpenCodeEvent) -> Result<Step, RuntimeError> {
        match event {
            OpenCodeEvent::MessageUpdated { message_id, role } => {
                if role == "user" {
                    self.user_messages.insert(message_id);
                }
            }
            OpenCodeEvent::PartUpdated(part) => self.part(part).await?,
            OpenCodeEvent::PartDelta { message_id, part_id, field, delta } => {
                if field == "text" && !self.user_messages.contains(&message_id) {
                    let text = self.text(&part_id);
                    text.content.push_str(&delta);
                    text.dirty = true;
                    self.snapshot(&part_id, false).await?;
                }
            }
            OpenCodeEvent::PermissionAsked { id, permission, patterns } => {
                let mut description: String = format!("{permission}: {}", patterns.join(", "));
                description = description.chars().take(MAX_DETAIL_CHARS).collect();
                let requested =
                    EventBody::PermissionRequested { permission_id: id.clone(), tool: permission, description };
                self.finish().await?;
                self.append(&format!("permission:{id}"), &requested).await?;
                return Ok(Step::Asked);
            }
            OpenCodeEvent::QuestionAsked { id, questions } => {
                let questions: Vec<QuestionSpec> =
                    questions.into_iter().filter_map(|question| serde_json::from_value(question).ok()).collect();
                self.finish().await?;
                self.append(&format!("question:{id}"), &EventBody::QuestionAsked { request_id: id.clone(), questions })
                    .await?;
                return Ok(Step::Asked);
            }
            OpenCodeEvent::Error { name, message } => return Ok(Step::Failed { name, message }),
            OpenCodeEvent::Idle => return Ok(Step::Idle),
        }
        Ok(Step::Continue)
    }

    /// When text held back by the pacing is due to be shown, if any.
    pub(super) fn next_flush(&self) -> Option<Instant> {
        let held = self.texts.values().filter(|text| text.dirty);
        held.map(|text| text.last.map_or_else(Instant::now, |last| last + self.interval)).min()
    }

    /// Shows the text held back by the pacing (the stream went quiet).
    pub(super) async fn flush(&mut self) -> Result<(), RuntimeError> {
        for part_id in self.text_order.clone() {
            self.snapshot(&part_id, true).await?;
        }
        Ok(())
    }

    /// Marks every streamed text complete (the turn ends or waits).
    pub(super) async fn finish(&mut self) -> Result<(), RuntimeError> {
        for part_id in self.text_order.clone() {
            if let Some(text) = self.texts.get_mut(&part_id) {
                text.complete = true;
            }
            self.snapshot(&part_id, true).await?;
        }
        Ok(())
    }

    async fn part(&mut self, part: Part) -> Result<(), RuntimeError> {
        if self.user_messages.contains(&part.message_id) {
            return Ok(());
        }
        match part.kind.as_str() {
            "text" if !part.synthetic => {
                let complete = part.time.as_ref().is_some_and(|time| time.end.is_some());
                let text = self.text(&part.id);
                if let Some(full) = part.text.filter(|full| *full != text.content) {
                    text.content = full;
                    text.dirty = true;
                }
                text.complete |= complete;
                self.snapshot(&part.id, complete).await
            }
            "tool" => {
                let (Some(call_id), Some(tool), Some(state)) = (part.call_id, part.tool, part.state) else {
                    return Ok(());
                };
                let status = match state.status.as_str() {
                    "running" => ToolStatus::Running,
                    "completed" => ToolStatus::Complete,
                    "error" => ToolStatus::Error,
                    _ => return Ok(()),
                };
                if self.tools.insert(call_id.clone(), status) == Some(status) {
                    return Ok(());
                }
                let error = (status == ToolStatus::Error)
                    .then(|| state.error.unwrap_or_default().chars().take(MAX_DETAIL_CHARS).collect());
                let body = EventBody::ToolCall { id: call_id.clone(), name: tool, status, error };
                let suffix = format!("tool:{call_id}:{}", serde_json::to_value(status).unwrap_or_default());
                self.append(&suffix, &body).await
            }
            _ => Ok(()),
        }
    }

    fn text(&mut self, part_id: &str) -> &mut TextPart {
        if !self.texts.contains_key(part_id) {
            self.text_order.push(part_id.to_owned());
        }
        self.texts.entry(part_id.to_owned()).or_insert(TextPart {
            content: String::new(),
            complete: false,
            dirty: false,
            snapshots: 0,
            last: None,
        })
    }

    /// Appends a snapshot of a part when due: its first text at once, then at most one per
    /// interval, and its complete text once (then the part is forgotten).
    async fn snapshot(&mut self, part_id: &str, force: bool) -> Result<(), RuntimeError> {
        let interval = self.interval;
        let Some(text) = self.texts.get_mut(part_id) else { return Ok(()) };
        let due = force || text.complete || text.last.is_none_or(|last| last.elapsed() >= interval);
        if text.content.is_empty() || !(text.dirty || text.complete) || !due {
            return Ok(());
        }
        text.snapshots += 1;
        text.dirty = false;
        text.last = Some(Instant::now());
        let body = EventBody::AssistantMessage {
            message_id: format!("{}:{part_id}", self.command.command_id),
            content: text.content.clone(),
            complete: text.complete,
        };
        let suffix = format!("{part_id}:{}", text.snapshots);
        let complete = text.complete;
        self.append(&suffix, &body).await?;
        if complete {
            self.texts.remove(part_id);
            self.text_order.retain(|id| id != part_id);
        }
        Ok(())
    }

    async fn append(&self, suffix: &str, body: &EventBody) -> Result<(), RuntimeError> {
        let id = format!("{}:{}:{suffix}", self.command.command_id, self.command.attempt);
        self.sink.append(&id, body).await.map(drop)
    }
}
