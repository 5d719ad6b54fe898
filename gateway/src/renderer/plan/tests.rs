//! Planning: sends, edits, collapse of snapshots, buttons and their fallbacks.

use std::collections::HashSet;

use cowork_cloud_client::{EventBody, QuestionOption, QuestionSpec, SessionEvent, SessionId, ToolStatus};
use cowork_providers::{BindingId, Capabilities, ChatRef, MAX_HANDLE_BYTES, ProviderId};

use super::*;

fn cursor() -> RenderCursor {
    RenderCursor {
        session_id: SessionId::new("s1"),
        binding_id: BindingId::new("b"),
        provider_id: ProviderId::new("fake"),
        chat: ChatRef { chat_id: "c".into(), thread_id: None },
        last_sequence: 3,
    }
}

fn caps(editing: bool, buttons: bool) -> Capabilities {
    Capabilities {
        message_editing: editing,
        inline_buttons: buttons,
        max_buttons_per_message: 8,
        max_text_length: 4096,
        min_interval_ms: 0,
        needs_reply_context: false,
        file_uploads: false,
        max_file_bytes: 0,
    }
}

fn event(sequence: i64, body: EventBody) -> SessionEvent {
    SessionEvent {
        session_id: SessionId::new("s1"),
        sequence,
        event_id: format!("e{sequence}"),
        created_at_ms: 0,
        body,
        trace: None,
    }
}

fn text(sequence: i64, message: &str, content: &str, complete: bool) -> SessionEvent {
    event(sequence, EventBody::AssistantMessage { message_id: message.into(), content: content.into(), complete })
}

fn run(events: &[SessionEvent], capabilities: &Capabilities, known: &HashSet<String>) -> RenderCommit {
    let cursor = cursor();
    let ctx = PlanContext {
        cursor: &cursor,
        capabilities,
        known_keys: known,
        now: 1_000,
        interaction_ttl_ms: 500,
        epoch: None,
    };
    plan(&ctx, events)
}

#[test]
fn snapshots_collapse_to_one_send_then_edits() {
    let caps = caps(true, true);
    let first = run(&[text(4, "m", "Hel", false), text(5, "m", "Hello", false)], &caps, &HashSet::new());
    assert_eq!((first.expected_sequence, first.new_sequence), (3, 5));
    assert_eq!(first.outbound.len(), 1);
    assert_eq!(first.outbound[0].op, PlannedOp::Send { text: "Hello".into(), buttons: vec![] });
    assert_eq!(first.outbound[0].dedupe_key, "render:s1:5");
    assert_eq!(first.message_refs.len(), 1);

    let known: HashSet<String> = [assistant_key(&cursor(), "m")].into();
    let later = run(&[text(6, "m", "Hello world", true)], &caps, &known);
    assert_eq!(later.outbound[0].op, PlannedOp::Edit { text: "Hello world".into(), buttons: vec![] });
    assert!(later.message_refs.is_empty());
}

#[test]
fn without_editing_only_the_finished_text_is_sent() {
    let caps = caps(false, false);
    let partial = run(&[text(4, "m", "Hel", false)], &caps, &HashSet::new());
    assert!(partial.outbound.is_empty());
    assert_eq!(partial.new_sequence, 4, "the cursor still advances");
    let done = run(&[text(5, "m", "Hello", true), event(6, EventBody::SessionIdle {})], &caps, &HashSet::new());
    assert_eq!(done.outbound[0].op, PlannedOp::Send { text: "Hello".into(), buttons: vec![] });
    assert_eq!(done.new_sequence, 6);
}

#[test]
fn without_editing_a_finished_text_waits_for_what_follows_it() {
    let caps = caps(false, false);
    // The turn's last event so far: held back, the cursor stays before it.
    let held = run(&[text(4, "m", "Hel", false), text(5, "m", "Hello", true)], &caps, &HashSet::new());
    assert!(held.outbound.is_empty());
    assert_eq!(held.new_sequence, 4);
    let alone = run(&[text(5, "m", "Hello", true)], &caps, &HashSet::new());
    assert_eq!((alone.new_sequence, alone.outbound.len()), (3, 0), "nothing to do yet");
    // Not for ever: a text older than the hold goes out alone.
    let old = SessionEvent { created_at_ms: 1_000 - HOLD_MS, ..text(5, "m", "Hello", true) };
    let sent = run(&[old], &caps, &HashSet::new());
    assert_eq!((sent.new_sequence, sent.outbound.len()), (5, 1));
    // With editing nothing waits.
    let editing = run(&[text(5, "m", "Hello", true)], &caps_no_wait(), &HashSet::new());
    assert_eq!((editing.new_sequence, editing.outbound.len()), (5, 1));
}

fn caps_no_wait() -> Capabilities {
    caps(true, true)
}

#[test]
fn without_editing_a_finished_text_and_the_question_after_it_are_one_message() {
    let caps = caps(false, false);
    let permission = EventBody::PermissionRequested {
        permission_id: "p1".into(),
        tool: "deploy".into(),
        description: "ship it".into(),
    };
    let running =
        EventBody::ToolCall { id: "t1".into(), name: "deploy".into(), status: ToolStatus::Running, error: None };
    let events = [text(4, "m", "I need your approval.", true), event(5, running), event(6, permission)];
    let commit = run(&events, &caps, &HashSet::new());
    assert_eq!(commit.outbound.len(), 1, "{:?}", commit.outbound);
    let PlannedOp::Send { text, buttons } = &commit.outbound[0].op else { panic!("not a send") };
    assert!(text.starts_with("I need your approval.\n\nApproval needed: deploy\nship it\nReply /approve "), "{text}");
    assert!(buttons.is_empty());
    assert_eq!(commit.outbound[0].dedupe_key, "render:s1:6");
    assert_eq!(commit.interactions.len(), 1);
    assert_eq!(commit.new_sequence, 6);
    // On a channel that edits they stay two messages.
    assert_eq!(run(&events, &caps_no_wait(), &HashSet::new()).outbound.len(), 3);
}

#[test]
fn approvals_render_short_handles_and_remember_the_interaction() {
    let body = EventBody::PermissionRequested {
        permission_id: "p1".into(),
        tool: "deploy".into(),
        description: "ship it".into(),
    };
    let commit = run(&[event(4, body)], &caps(true, true), &HashSet::new());
    let interaction = &commit.interactions[0];
    assert_eq!(
        (interaction.kind, interaction.target_id.as_str(), interaction.expires_at),
        (InteractionKind::Permission, "p1", 1_500)
    );
    let PlannedOp::Send { buttons, text } = &commit.outbound[0].op else { panic!("not a send") };
    assert!(text.contains("deploy"));
    let handles: Vec<&str> = buttons[0].iter().map(|b| b.handle.as_str()).collect();
    assert_eq!(handles, [format!("{}:y", interaction.code), format!("{}:n", interaction.code)]);
    assert!(handles.iter().all(|h| h.len() <= MAX_HANDLE_BYTES));
    assert_eq!(commit.outbound[0].message_key.as_deref(), Some(interaction.message_key.as_str()));
}

#[test]
fn questions_without_buttons_fall_back_to_text_commands() {
    let question = QuestionSpec {
        header: "Colour".into(),
        question: "Which one?".into(),
        options: vec![QuestionOption { label: "Red".into(), description: String::new() }],
        multiple: false,
    };
    let body = EventBody::QuestionAsked { request_id: "q1".into(), questions: vec![question] };
    let commit = run(&[event(4, body)], &caps(true, false), &HashSet::new());
    let code = &commit.interactions[0].code;
    let PlannedOp::Send { buttons, text } = &commit.outbound[0].op else { panic!("not a send") };
    assert!(buttons.is_empty());
    assert!(text.contains("1. Red") && text.contains(&format!("/answer {code}")), "{text}");
}

#[test]
fn errors_are_shown_and_other_events_only_advance_the_cursor() {
    let commit = run(
        &[
            event(4, EventBody::SessionIdle {}),
            event(5, EventBody::RuntimeError { command_id: None, message: "boom".into() }),
        ],
        &caps(true, true),
        &HashSet::new(),
    );
    assert_eq!(commit.outbound.len(), 1);
    assert_eq!(commit.new_sequence, 5);
}

fn tool(sequence: i64, status: ToolStatus) -> SessionEvent {
    event(sequence, EventBody::ToolCall { id: "t1".into(), name: "deploy".into(), status, error: Some("boom".into()) })
}

#[test]
fn tool_progress_is_one_status_line_edited_in_place() {
    let caps = caps(true, true);
    let started = run(&[tool(4, ToolStatus::Running)], &caps, &HashSet::new());
    assert_eq!(started.outbound[0].op, PlannedOp::Send { text: "Tool running: deploy".into(), buttons: vec![] });
    assert_eq!(started.outbound[0].message_key.as_deref(), Some(tool_key(&cursor(), "t1").as_str()));
    let known: HashSet<String> = [tool_key(&cursor(), "t1")].into();
    let failed = run(&[tool(5, ToolStatus::Error)], &caps, &known);
    assert_eq!(failed.outbound[0].op, PlannedOp::Edit { text: "Tool failed: deploy (boom)".into(), buttons: vec![] });
    let collapsed = run(&[tool(4, ToolStatus::Running), tool(5, ToolStatus::Complete)], &caps, &HashSet::new());
    assert_eq!(collapsed.outbound.len(), 1);
    let without_edits = run(&[tool(4, ToolStatus::Running)], &caps_no_edit(), &HashSet::new());
    assert!(without_edits.outbound.is_empty(), "no status line that could never be updated");
}

fn caps_no_edit() -> Capabilities {
    Capabilities { message_editing: false, ..caps(false, false) }
}

#[test]
fn artifacts_are_uploaded_when_they_fit_and_linked_otherwise() {
    let artifact = |size: u64| {
        event(
            4,
            EventBody::ArtifactCreated {
                artifact_id: "a1".into(),
                filename: "r.md".into(),
                mime_type: "text/markdown".into(),
                size_bytes: size,
                data_base64: Some("aGk=".into()),
            },
        )
    };
    let uploads = Capabilities { file_uploads: true, max_file_bytes: 10, ..caps(true, true) };
    let small = run(&[artifact(2)], &uploads, &HashSet::new());
    assert!(matches!(&small.outbound[0].op, PlannedOp::File(f) if f.filename == "r.md" && f.data_base64 == "aGk="));
    let large = run(&[artifact(11)], &uploads, &HashSet::new());
    assert_eq!(large.outbound[0].op, PlannedOp::Send { text: "File ready: r.md (11 bytes)".into(), buttons: vec![] });
    let no_uploads = run(&[artifact(2)], &caps(true, true), &HashSet::new());
    assert!(matches!(no_uploads.outbound[0].op, PlannedOp::Send { .. }));
}
