//! `/stop` (or `/abort`) ends the agent's turn in a thread: the reply keeps what was streamed and
//! the thread says "Stopped." once; with nothing running it says so.

use std::time::Duration;

use cowork_e2e::{DatabaseBackend, TestGateway, message, scenarios};
use serde_json::json;

scenarios!(stop_ends_the_running_turn_and_says_so_once, abort_with_nothing_running_says_so);

/// A demo pace no scenario waits out: only an abort ends the turn before its second sentence.
const FOREVER: Duration = Duration::from_secs(3600);

async fn stop_ends_the_running_turn_and_says_so_once(backend: DatabaseBackend) {
    let builder = TestGateway::builder(backend).configure(|c| c.cloud.demo_delta_interval = FOREVER);
    let Some(gw) = builder.start().await else { return };
    assert_eq!(gw.post_fake(message("s1", "chat-stop", "tell me everything")).await.0, 202);
    let first_sentence = "You said: \"tell me everything\".";
    gw.wait_for("chat-stop", "the first sentence", Duration::ZERO, |t| t["messages"][0]["text"] == first_sentence)
        .await;

    assert_eq!(gw.post_fake(message("s2", "chat-stop", "/stop")).await.0, 202);
    let transcript =
        gw.wait_for("chat-stop", "the stop notice", Duration::ZERO, |t| t["messages"][1]["text"] == "Stopped.").await;
    let messages = transcript["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 2, "{transcript:#}");
    assert_eq!(messages[0]["text"], first_sentence, "the reply keeps what was streamed: {transcript:#}");

    let (status, body) = gw.post_fake(message("s2", "chat-stop", "/stop")).await;
    assert_eq!((status, body), (202, json!({"ok": true, "duplicate": true})));
    let aborts = "SELECT COUNT(*) FROM cloud_commands WHERE kind = 'abort' AND state = 'done'";
    assert_eq!(gw.count(aborts).await, 1);
    let aborted = "SELECT COUNT(*) FROM cloud_session_events WHERE type = 'session.aborted'";
    assert_eq!(gw.count(aborted).await, 1);
    let turn = "SELECT COUNT(*) FROM cloud_commands WHERE kind = 'prompt' AND state = 'done'";
    assert_eq!(gw.count(turn).await, 1, "the stopped turn is finished, not left running");
    assert_eq!(gw.messages("chat-stop").await.len(), 2, "Stopped. is said once");
    gw.stop().await;
}

async fn abort_with_nothing_running_says_so(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).start().await else { return };
    assert_eq!(gw.post_fake(message("a1", "chat-idle", "/abort")).await.0, 202);
    let transcript = gw
        .wait_for("chat-idle", "the notice", Duration::ZERO, |t| t["messages"][0]["text"] == "Nothing is running.")
        .await;
    assert_eq!(transcript["messages"].as_array().map(Vec::len), Some(1), "{transcript:#}");
    assert_eq!(gw.count("SELECT COUNT(*) FROM cloud_session_events WHERE type = 'session.aborted'").await, 0);
    gw.stop().await;
}
