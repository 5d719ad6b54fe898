//! A message gets a streamed reply edited in place; redeliveries are acknowledged once.

use std::time::Duration;

use cowork_cloud::runtime::DemoRuntime;
use cowork_e2e::{DatabaseBackend, TestGateway, message, scenarios};
use serde_json::json;

scenarios!(
    reports_arrive_as_files_with_their_tool_progress,
    message_gets_one_streamed_reply_edited_in_place,
    redelivered_event_is_acknowledged_and_ignored,
    threads_get_their_own_sessions,
    health_and_readiness_answer
);

async fn message_gets_one_streamed_reply_edited_in_place(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).start().await else { return };
    let (status, body) = gw.post_fake(message("m1", "chat-a", "hello there")).await;
    assert_eq!((status, body), (202, json!({"ok": true})));
    let expected = DemoRuntime::final_reply("hello there");
    let transcript = gw
        .wait_for("chat-a", "the final reply", Duration::ZERO, |t| t["messages"][0]["text"] == expected.as_str())
        .await;
    let messages = transcript["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "one message, edited as it grows: {transcript:#}");
    assert!(messages[0]["edits"].as_u64().unwrap() >= 1, "the reply streamed as edits: {transcript:#}");
    gw.stop().await;
}

async fn redelivered_event_is_acknowledged_and_ignored(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).start().await else { return };
    let (status, first) = gw.post_fake(message("same-id", "chat-r", "hi")).await;
    assert_eq!((status, first), (202, json!({"ok": true})));
    let (status, second) = gw.post_fake(message("same-id", "chat-r", "hi")).await;
    assert_eq!((status, second), (202, json!({"ok": true, "duplicate": true})));
    let expected = DemoRuntime::final_reply("hi");
    gw.wait_for("chat-r", "the reply", Duration::ZERO, |t| t["messages"][0]["text"] == expected.as_str()).await;
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_inbox").await, 1);
    assert_eq!(gw.count("SELECT COUNT(*) FROM cloud_commands").await, 1);
    assert_eq!(gw.messages("chat-r").await.len(), 1);
    gw.stop().await;
}

async fn threads_get_their_own_sessions(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).start().await else { return };
    for (id, thread) in [("t1", "one"), ("t2", "two"), ("t3", "one")] {
        let body = json!({"id": id, "chatId": "chat-t", "threadId": thread, "text": format!("in {thread}")});
        assert_eq!(gw.post_fake(body).await.0, 202);
    }
    let transcript = gw
        .wait_for("chat-t", "three replies", Duration::ZERO, |t| {
            t["messages"].as_array().is_some_and(|m| {
                m.len() == 3 && m.iter().all(|x| x["text"].as_str().is_some_and(|s| s.contains("in ")))
            })
        })
        .await;
    assert_eq!(gw.count("SELECT COUNT(*) FROM cloud_sessions").await, 2, "{transcript:#}");
    gw.stop().await;
}

async fn health_and_readiness_answer(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).start().await else { return };
    assert_eq!(gw.get("/health").await, (200, json!({"ok": true, "status": "ok"})));
    let start = std::time::Instant::now();
    loop {
        let (status, body) = gw.get("/ready").await;
        if status == 200 {
            assert_eq!(body["status"], "ready");
            assert_eq!(body["checks"]["database"], "ok");
            break;
        }
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.close_database().await;
    let (status, body) = gw.get("/ready").await;
    assert_eq!(
        (status, body["status"].as_str(), body["checks"]["database"].as_str()),
        (503, Some("not_ready"), Some("unavailable"))
    );
    assert_eq!(gw.get("/health").await.0, 200, "the process is still up");
    assert_eq!(gw.post_fake(message("late", "chat-h", "anyone?")).await.0, 503, "no ack without a durable commit");
}

async fn reports_arrive_as_files_with_their_tool_progress(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).start().await else { return };
    assert_eq!(gw.post_fake(message("f1", "chat-f", "send me the report")).await.0, 202);
    let transcript = gw
        .wait_for("chat-f", "the file and the finished tool", Duration::ZERO, |t| {
            let messages = t["messages"].as_array().cloned().unwrap_or_default();
            messages.iter().any(|m| m["text"] == "Tool complete: demo.report")
                && messages
                    .iter()
                    .any(|m| m["text"].as_str().is_some_and(|s| s.contains("[file demo-report.md (text/markdown")))
        })
        .await;
    let statuses = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["text"].as_str().is_some_and(|s| s.starts_with("Tool ")))
        .count();
    assert_eq!(statuses, 1, "one status line, edited in place: {transcript:#}");
    gw.stop().await;
}
