//! Turns a batch of session events into outbox rows, pure and deterministic except for fresh
//! interaction codes. Assistant snapshots of one message collapse to the last one in the batch;
//! the first snapshot of a message is a send, later ones edit it (on providers that can edit).
//!
//! A channel that cannot edit (email) gets one message per step of a turn: the finished text
//! only, and a finished text that an approval or question follows goes out with it, in one
//! message. So a finished text that ends the batch waits for the next event (which says whether
//! a question follows; every turn ends with one), unless it is older than [`HOLD_MS`].

use std::collections::HashSet;

use cowork_cloud_client::{EventBody, QuestionSpec, SessionEvent, ToolStatus};
use cowork_providers::{Button, ButtonStyle, Capabilities, OutboundFile};

use crate::interactions::handle;
use crate::store::{InteractionKind, Millis, NewInteraction, NewOutbound, PlannedOp, RenderCommit, RenderCursor};

/// What the planner needs besides the events.
pub struct PlanContext<'a> {
    /// Where and from where.
    pub cursor: &'a RenderCursor,
    /// The provider's capabilities.
    pub capabilities: &'a Capabilities,
    /// Message keys that already have a message in the channel.
    pub known_keys: &'a HashSet<String>,
    /// Now.
    pub now: Millis,
    /// Interaction lifetime in milliseconds.
    pub interaction_ttl_ms: i64,
    /// The epoch of the cursor's binding this step is rendered under.
    pub epoch: Option<i64>,
}

/// How long a finished text waits for what follows it on a channel that cannot edit.
pub const HOLD_MS: Millis = 5_000;

/// The message key of an assistant message.
pub fn assistant_key(cursor: &RenderCursor, message_id: &str) -> String {
    format!("asst:{}:{message_id}", cursor.session_id)
}

/// The message key of a tool's status line.
pub fn tool_key(cursor: &RenderCursor, call_id: &str) -> String {
    format!("tool:{}:{call_id}", cursor.session_id)
}

/// Plans the rendering of `events` (all after the cursor, in order).
pub fn plan(ctx: &PlanContext<'_>, events: &[SessionEvent]) -> RenderCommit {
    let cursor = ctx.cursor;
    let events = held_back(ctx, events);
    let mut commit = RenderCommit {
        session_id: cursor.session_id.clone(),
        expected_sequence: cursor.last_sequence,
        new_sequence: events.last().map_or(cursor.last_sequence, |e| e.sequence),
        outbound: Vec::new(),
        message_refs: Vec::new(),
        interactions: Vec::new(),
        epoch: ctx.epoch,
    };
    let mut known = ctx.known_keys.clone();
    // A finished text waiting to go out with the approval or question that follows it.
    let mut lead: Option<String> = None;
    for (index, event) in events.iter().enumerate() {
        // Each row continues the trace of the event it renders (set after the match).
        let first_row = commit.outbound.len();
        let dedupe_key = format!("render:{}:{}", cursor.session_id, event.sequence);
        match &event.body {
            EventBody::AssistantMessage { message_id, content, complete } => {
                // Without editing, only the finished text is worth a message.
                if !ctx.capabilities.message_editing && !complete {
                    continue;
                }
                let superseded = events[index + 1..].iter().any(
                    |later| matches!(&later.body, EventBody::AssistantMessage { message_id: m, .. } if m == message_id),
                );
                if superseded || content.is_empty() {
                    continue;
                }
                if !ctx.capabilities.message_editing && asks_next(&events[index + 1..]) {
                    lead = Some(content.clone());
                    continue;
                }
                let key = assistant_key(cursor, message_id);
                let op = if known.contains(&key) && ctx.capabilities.message_editing {
                    PlannedOp::Edit { text: content.clone(), buttons: vec![] }
                } else {
                    if known.insert(key.clone()) {
                        commit.message_refs.push((cursor.binding_id.clone(), key.clone()));
                    }
                    PlannedOp::Send { text: content.clone(), buttons: vec![] }
                };
                commit.outbound.push(row(cursor, dedupe_key, Some(key), op));
            }
            EventBody::ToolCall { id, name, status, error } => {
                let superseded = events[index + 1..]
                    .iter()
                    .any(|later| matches!(&later.body, EventBody::ToolCall { id: other, .. } if other == id));
                let running = *status == ToolStatus::Running;
                if superseded || (running && !ctx.capabilities.message_editing) {
                    continue;
                }
                let text = match status {
                    ToolStatus::Running => format!("Tool running: {name}"),
                    ToolStatus::Complete => format!("Tool complete: {name}"),
                    ToolStatus::Error => {
                        let error: String = error.as_deref().unwrap_or("failed").chars().take(320).collect();
                        format!("Tool failed: {name} ({error})")
                    }
                };
                let key = tool_key(cursor, id);
                let op = if known.contains(&key) && ctx.capabilities.message_editing {
                    PlannedOp::Edit { text, buttons: vec![] }
                } else {
                    if known.insert(key.clone()) {
                        commit.message_refs.push((cursor.binding_id.clone(), key.clone()));
                    }
                    PlannedOp::Send { text, buttons: vec![] }
                };
                commit.outbound.push(row(cursor, dedupe_key, Some(key), op));
            }
            EventBody::ArtifactCreated { filename, mime_type, size_bytes, data_base64, .. } => {
                let caps = ctx.capabilities;
                let op = match data_base64 {
                    Some(data) if caps.file_uploads && *size_bytes <= caps.max_file_bytes => {
                        PlannedOp::File(OutboundFile {
                            filename: filename.clone(),
                            mime_type: mime_type.clone(),
                            data_base64: data.clone(),
                            caption: None,
                        })
                    }
                    _ => PlannedOp::Send {
                        text: format!("File ready: {filename} ({size_bytes} bytes)"),
                        buttons: vec![],
                    },
                };
                commit.outbound.push(row(cursor, dedupe_key, None, op));
            }
            EventBody::PermissionRequested { permission_id, tool, description } => {
                let prompt = format!("Approval needed: {tool}\n{description}");
                let options = Vec::new();
                let buttons = |code: &str| {
                    vec![vec![
                        Button {
                            label: "Approve".into(),
                            handle: handle::button(code, "y"),
                            style: ButtonStyle::Success,
                        },
                        Button { label: "Deny".into(), handle: handle::button(code, "n"), style: ButtonStyle::Danger },
                    ]]
                };
                let fallback = |code: &str| format!("Reply /approve {code} or /deny {code}.");
                let ask_for = Ask { kind: InteractionKind::Permission, target_id: permission_id, prompt, options };
                ask(ctx, &mut commit, dedupe_key, ask_for, lead.take(), buttons, fallback);
            }
            EventBody::QuestionAsked { request_id, questions } => {
                let Some(first) = questions.first() else { continue };
                let (prompt, options) = question_text(first);
                let max = ctx.capabilities.max_buttons_per_message;
                let labels = options.clone();
                let buttons = move |code: &str| {
                    let row: Vec<Button> = labels
                        .iter()
                        .take(max)
                        .enumerate()
                        .map(|(i, label)| Button {
                            label: label.clone(),
                            handle: handle::button(code, &i.to_string()),
                            style: ButtonStyle::Default,
                        })
                        .collect();
                    row.chunks(4).map(<[Button]>::to_vec).collect()
                };
                let fallback = |code: &str| format!("Reply /answer {code} <number or text>, or /deny {code} to skip.");
                let ask_for = Ask { kind: InteractionKind::Question, target_id: request_id, prompt, options };
                ask(ctx, &mut commit, dedupe_key, ask_for, lead.take(), buttons, fallback);
            }
            EventBody::RuntimeError { message, .. } => {
                let op = PlannedOp::Send { text: format!("The agent hit an error: {message}"), buttons: vec![] };
                commit.outbound.push(row(cursor, dedupe_key, None, op));
            }
            _ => {}
        }
        for row in &mut commit.outbound[first_row..] {
            row.trace.clone_from(&event.trace);
        }
    }
    commit
}

fn question_text(question: &QuestionSpec) -> (String, Vec<String>) {
    let mut text = String::new();
    if !question.header.is_empty() {
        text.push_str(&question.header);
        text.push('\n');
    }
    text.push_str(&question.question);
    let options: Vec<String> = question.options.iter().map(|o| o.label.clone()).collect();
    for (i, option) in options.iter().enumerate() {
        text.push_str(&format!("\n{}. {option}", i + 1));
    }
    (text, options)
}

/// The events to plan now: all of them, but on a channel that cannot edit, not a recent
/// finished text that ends the batch (what follows it decides whether it travels alone).
fn held_back<'e>(ctx: &PlanContext<'_>, events: &'e [SessionEvent]) -> &'e [SessionEvent] {
    match events.split_last() {
        Some((last, rest))
            if !ctx.capabilities.message_editing
                && matches!(last.body, EventBody::AssistantMessage { complete: true, .. })
                && ctx.now.saturating_sub(last.created_at_ms) < HOLD_MS =>
        {
            rest
        }
        _ => events,
    }
}

/// Whether the next event that shows anything on a channel that cannot edit is an approval or
/// a question.
fn asks_next(later: &[SessionEvent]) -> bool {
    for event in later {
        match &event.body {
            EventBody::PermissionRequested { .. } | EventBody::QuestionAsked { .. } => return true,
            EventBody::ToolCall { status: ToolStatus::Running, .. }
            | EventBody::AssistantMessage { complete: false, .. } => continue,
            _ => return false,
        }
    }
    false
}

/// An approval or question to ask.
struct Ask<'a> {
    kind: InteractionKind,
    target_id: &'a str,
    prompt: String,
    options: Vec<String>,
}

/// Plans `ask` as a message with buttons (or their text fallback), after `lead` (the finished
/// text before it, on a channel that cannot edit) when there is one.
fn ask(
    ctx: &PlanContext<'_>,
    commit: &mut RenderCommit,
    dedupe_key: String,
    ask: Ask<'_>,
    lead: Option<String>,
    buttons: impl Fn(&str) -> Vec<Vec<Button>>,
    fallback: impl Fn(&str) -> String,
) {
    let Ask { kind, target_id, prompt, options } = ask;
    let cursor = ctx.cursor;
    let code = handle::new_code();
    let message_key = format!("ix:{code}");
    let (text, buttons) = if ctx.capabilities.inline_buttons {
        (prompt.clone(), buttons(&code))
    } else {
        (format!("{prompt}\n{}", fallback(&code)), vec![])
    };
    let text = match lead {
        Some(lead) => format!("{lead}\n\n{text}"),
        None => text,
    };
    commit.interactions.push(NewInteraction {
        code: code.clone(),
        binding_id: cursor.binding_id.clone(),
        provider_id: cursor.provider_id.clone(),
        session_id: cursor.session_id.clone(),
        chat: cursor.chat.clone(),
        kind,
        target_id: target_id.to_owned(),
        prompt_text: prompt,
        options,
        message_key: message_key.clone(),
        expires_at: ctx.now + ctx.interaction_ttl_ms,
    });
    commit.message_refs.push((cursor.binding_id.clone(), message_key.clone()));
    commit.outbound.push(row(cursor, dedupe_key, Some(message_key), PlannedOp::Send { text, buttons }));
}

fn row(cursor: &RenderCursor, dedupe_key: String, message_key: Option<String>, op: PlannedOp) -> NewOutbound {
    NewOutbound {
        dedupe_key,
        binding_id: cursor.binding_id.clone(),
        provider_id: cursor.provider_id.clone(),
        chat: cursor.chat.clone(),
        message_key,
        op,
        trace: None,
    }
}

#[cfg(test)]
mod tests;
