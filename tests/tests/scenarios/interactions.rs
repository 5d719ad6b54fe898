//! Approvals and questions: buttons with short handles, exactly one winning click, the buttons
//! message edited to show the decision, text commands for the same.

use std::time::Duration;

use cowork_e2e::{DatabaseBackend, TestGateway, buttons, click, message, scenarios};
use serde_json::{Value, json};

scenarios!(
    approval_click_decides_once_and_updates_the_buttons,
    question_is_answered_by_text_command,
    expired_handle_is_refused
);

fn buttons_message(transcript: &Value) -> Option<Value> {
    transcript["messages"].as_array()?.iter().find(|m| !buttons(m).is_empty()).cloned()
}

async fn approval_click_decides_once_and_updates_the_buttons(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).start().await else { return };
    assert_eq!(gw.post_fake(message("a1", "chat-ap", "please deploy the site")).await.0, 202);
    let transcript = gw.wait_for("chat-ap", "approval buttons", Duration::ZERO, |t| buttons_message(t).is_some()).await;
    let asked = buttons_message(&transcript).unwrap();
    let handles = buttons(&asked);
    assert_eq!(handles.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(), ["Approve", "Deny"]);
    assert!(handles.iter().all(|(_, h)| h.len() <= 32));
    let approve = handles[0].1.clone();

    // A handle only works in the chat it was shown in.
    let (status, body) = gw.post_fake(click("c0", "another-chat", &approve, "mallory")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("interaction_unknown")));

    let (status, body) = gw.post_fake(click("c1", "chat-ap", &approve, "alice")).await;
    assert_eq!((status, body), (202, json!({"ok": true})));
    let message_id = asked["messageId"].clone();
    let transcript = gw
        .wait_for("chat-ap", "the decision shown and the agent's answer", Duration::ZERO, |t| {
            let messages = t["messages"].as_array().cloned().unwrap_or_default();
            let decided = messages.iter().any(|m| {
                m["messageId"] == message_id
                    && m["text"].as_str().is_some_and(|s| s.contains("Approved by alice"))
                    && buttons(m).is_empty()
            });
            decided && messages.iter().any(|m| m["text"].as_str().is_some_and(|s| s.starts_with("Approved")))
        })
        .await;

    let (status, _) = gw.post_fake(click("c2", "chat-ap", &handles[1].1, "bob")).await;
    assert_eq!(status, 202, "a decided handle is accepted");
    gw.wait_for("chat-ap", "the already-decided reply", Duration::ZERO, |t| {
        t["messages"].as_array().is_some_and(|m| {
            m.iter().any(|x| x["text"].as_str().is_some_and(|s| s.contains("Already decided by alice: Approved")))
        })
    })
    .await;
    assert_eq!(
        gw.count("SELECT COUNT(*) FROM cloud_commands WHERE kind = 'permission.respond'").await,
        1,
        "{transcript:#}"
    );
    gw.stop().await;
}

async fn question_is_answered_by_text_command(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).start().await else { return };
    assert_eq!(gw.post_fake(message("q1", "chat-q", "a question for you")).await.0, 202);
    let transcript = gw.wait_for("chat-q", "question buttons", Duration::ZERO, |t| buttons_message(t).is_some()).await;
    let asked = buttons_message(&transcript).unwrap();
    let labels: Vec<String> = buttons(&asked).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, ["Red", "Green", "Blue"]);
    let code = buttons(&asked)[0].1.split(':').next().unwrap().to_owned();
    let (status, _) = gw.post_fake(message("q2", "chat-q", &format!("/answer {code} 2"))).await;
    assert_eq!(status, 202);
    gw.wait_for("chat-q", "the answer", Duration::ZERO, |t| {
        let messages = t["messages"].as_array().cloned().unwrap_or_default();
        messages.iter().any(|m| m["text"].as_str().is_some_and(|s| s.contains("Answered \"Green\" by fake-user")))
            && messages.iter().any(|m| m["text"].as_str().is_some_and(|s| s.contains("You chose Green")))
    })
    .await;
    gw.stop().await;
}

async fn expired_handle_is_refused(backend: DatabaseBackend) {
    let Some(gw) =
        TestGateway::builder(backend).configure(|c| c.workers.interaction_ttl = Duration::from_secs(60)).start().await
    else {
        return;
    };
    assert_eq!(gw.post_fake(message("x1", "chat-x", "approve this please")).await.0, 202);
    let transcript = gw.wait_for("chat-x", "approval buttons", Duration::ZERO, |t| buttons_message(t).is_some()).await;
    let handle = buttons(&buttons_message(&transcript).unwrap())[0].1.clone();
    gw.clock.advance(Duration::from_secs(61));
    let (status, body) = gw.post_fake(click("x2", "chat-x", &handle, "alice")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("interaction_expired")));
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_inbox WHERE provider_event_id = 'x2'").await, 0);
    gw.stop().await;
}
