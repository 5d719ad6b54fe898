//! The demo runtime through the worker: snapshots, FIFO turns, approvals, questions, failures.

use cowork_cloud_client::{CommandBody, EventBody, SessionBackend, SessionEvent};

use super::{Harness, kinds, last_snapshot, prompt};
use crate::database::Database;
use crate::runtime::{DEMO_FAILURE_MESSAGE, DemoRuntime};

/// The `assistant.message` snapshots: (message id, content, complete).
fn snapshots(events: &[SessionEvent]) -> Vec<(String, String, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::AssistantMessage { message_id, content, complete } => {
                Some((message_id.clone(), content.clone(), *complete))
            }
            _ => None,
        })
        .collect()
}

async fn a_prompt_streams_growing_snapshots_then_goes_idle(db: Database) {
    let h = Harness::demo(db).await;
    let session = h.session("T1").await;
    let command = h.submit(&session, "k", prompt("Hello demo")).await;
    assert_eq!(h.run_until_idle().await, 1);
    let events = h.events(&session).await;
    assert_eq!(kinds(&events).first(), Some(&"prompt.submitted"));
    assert_eq!(kinds(&events).last(), Some(&"session.idle"));
    let snaps = snapshots(&events);
    assert!(snaps.len() >= 5, "{snaps:?}");
    for (index, (message_id, content, complete)) in snaps.iter().enumerate() {
        assert_eq!(message_id, &format!("{command}:assistant"));
        assert_eq!(*complete, index + 1 == snaps.len());
        if index > 0 {
            assert!(content.starts_with(&snaps[index - 1].1), "snapshots only grow");
        }
    }
    assert!(snaps[0].1.contains("Hello demo"));
    assert_eq!(last_snapshot(&events), Some(DemoRuntime::final_reply("Hello demo")));
    let delta_ids: Vec<&str> =
        events.iter().filter(|e| e.body.type_name() == "assistant.message").map(|e| e.event_id.as_str()).collect();
    assert_eq!(delta_ids.first().copied(), Some(format!("{command}:delta:1").as_str()));
    let status = h.service.store().command_status(&command).await.ok().flatten();
    assert_eq!(status.map(|s| s.state), Some("done".to_owned()));
}

async fn a_second_prompt_waits_until_the_first_turn_finished(db: Database) {
    let h = Harness::demo(db).await;
    let session = h.session("T1").await;
    let first = h.submit(&session, "k1", prompt("first")).await;
    let second = h.submit(&session, "k2", prompt("second")).await;
    assert_eq!(h.run_until_idle().await, 2);
    let events = h.events(&session).await;
    let owners: Vec<bool> = events.iter().map(|e| e.event_id.starts_with(first.as_str())).collect();
    let split = owners.iter().position(|owned| !owned).unwrap_or(owners.len());
    assert!(split > 0 && owners[split..].iter().all(|owned| !owned), "turns interleaved");
    assert!(events[split..].iter().all(|e| e.event_id.starts_with(second.as_str())));
    assert_eq!(events[split - 1].body, EventBody::SessionIdle {});
}

async fn the_approval_flow_requests_then_resolves_and_replies(db: Database) {
    let h = Harness::demo(db).await;
    let session = h.session("T1").await;
    let command = h.submit(&session, "k1", prompt("Please DEPLOY it")).await;
    h.run_until_idle().await;
    let events = h.events(&session).await;
    let Some(EventBody::PermissionRequested { permission_id, tool, .. }) = events.last().map(|e| e.body.clone()) else {
        panic!("expected a permission request, got {:?}", kinds(&events));
    };
    assert_eq!(permission_id, format!("{command}:permission"));
    assert_eq!(tool, "demo.deploy");
    assert!(!kinds(&events).contains(&"session.idle"), "the turn waits for the answer");
    let answer = CommandBody::PermissionRespond { permission_id: permission_id.clone(), allowed: true };
    let respond = h.submit(&session, "k2", answer).await;
    h.run_until_idle().await;
    let after = h.service.events_after(&session, events.len() as i64, 100).await.unwrap_or_default();
    assert_eq!(after.first().map(|e| &e.body), Some(&EventBody::PermissionResolved { permission_id, allowed: true }));
    assert_eq!(after.last().map(|e| &e.body), Some(&EventBody::SessionIdle {}));
    let snaps = snapshots(&after);
    assert!(snaps.iter().all(|(id, _, _)| id == &format!("{respond}:assistant")));
    assert!(last_snapshot(&after).is_some_and(|text| text.starts_with("Approved:")));
}

async fn the_question_flow_answers_and_rejects(db: Database) {
    let h = Harness::demo(db).await;
    let session = h.session("T1").await;
    let command = h.submit(&session, "k1", prompt("I have a question")).await;
    h.run_until_idle().await;
    let events = h.events(&session).await;
    let Some(EventBody::QuestionAsked { request_id, questions }) = events.last().map(|e| e.body.clone()) else {
        panic!("expected a question, got {:?}", kinds(&events));
    };
    assert_eq!(request_id, format!("{command}:question"));
    let labels: Vec<&str> = questions[0].options.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels, ["Red", "Green", "Blue"]);
    let reply = CommandBody::QuestionReply { request_id: request_id.clone(), answers: vec!["Green".into()] };
    h.submit(&session, "k2", reply).await;
    h.run_until_idle().await;
    let after = h.service.events_after(&session, events.len() as i64, 100).await.unwrap_or_default();
    assert_eq!(kinds(&after), ["question.resolved", "assistant.message", "session.idle"]);
    assert_eq!(last_snapshot(&after).as_deref(), Some("You chose Green."));

    let asked = h.submit(&session, "k3", prompt("choose a colour")).await;
    h.run_until_idle().await;
    let seen = h.events(&session).await.len() as i64;
    let reject = CommandBody::QuestionReject { request_id: format!("{asked}:question") };
    h.submit(&session, "k4", reject).await;
    h.run_until_idle().await;
    let after = h.service.events_after(&session, seen, 100).await.unwrap_or_default();
    let resolved =
        EventBody::QuestionResolved { request_id: format!("{asked}:question"), answers: Vec::new(), rejected: true };
    assert_eq!(after.first().map(|e| &e.body), Some(&resolved));
    assert_eq!(after.last().map(|e| &e.body), Some(&EventBody::SessionIdle {}));
}

async fn a_failing_run_becomes_a_runtime_error_and_is_not_retried(db: Database) {
    let h = Harness::demo(db).await;
    let session = h.session("T1").await;
    let command = h.submit(&session, "k1", prompt("please fail now")).await;
    assert_eq!(h.run_until_idle().await, 1);
    let events = h.events(&session).await;
    assert_eq!(kinds(&events), ["prompt.submitted", "runtime.error"]);
    let expected =
        EventBody::RuntimeError { command_id: Some(command.to_string()), message: DEMO_FAILURE_MESSAGE.into() };
    assert_eq!(events[1].body, expected);
    let status = h.service.store().command_status(&command).await.ok().flatten();
    assert_eq!(status.map(|s| (s.state, s.attempts)), Some(("failed".to_owned(), 1)));
    h.clock.advance(std::time::Duration::from_secs(3600));
    assert_eq!(h.run_until_idle().await, 0);
}

crate::backend_tests!(
    a_prompt_streams_growing_snapshots_then_goes_idle,
    a_second_prompt_waits_until_the_first_turn_finished,
    the_approval_flow_requests_then_resolves_and_replies,
    the_question_flow_answers_and_rejects,
    a_failing_run_becomes_a_runtime_error_and_is_not_retried,
);
