//! `kill -9` at two moments (right after the ack, and in the middle of a streamed reply), then a
//! restart: every acknowledged conversation completes, nothing is lost and nothing duplicated.

use cowork_cloud::database::Backend;
use cowork_cloud::database::testing::TestDatabase;
use cowork_cloud::runtime::DemoRuntime;
use serde_json::{Value, json};

use crate::harness::GatewayProcess;

fn sends(transcript: &Value) -> usize {
    transcript["entries"].as_array().map_or(0, |e| e.iter().filter(|x| x["operation"] == "send").count())
}

async fn killed_gateway_completes_every_acknowledged_conversation(backend: Backend) {
    let Some(test_db) = TestDatabase::new(backend).await else { return };
    let prompt_a = "first message, killed right after its ack";
    let prompt_b = "second message, killed while its reply streams";

    // 1. Killed right after the 202: nothing has been rendered yet.
    let gateway = GatewayProcess::start(&test_db.url, 100);
    assert_eq!(gateway.post_fake(json!({"id": "a", "chatId": "crash-a", "text": prompt_a})).await, 202);
    gateway.kill_hard();

    // 2. Killed in the middle of streaming: the reply exists and has been edited, not finished.
    let gateway = GatewayProcess::start(&test_db.url, 100);
    let final_b = DemoRuntime::final_reply(prompt_b);
    assert_eq!(gateway.post_fake(json!({"id": "b", "chatId": "crash-b", "text": prompt_b})).await, 202);
    let mid = gateway
        .wait_for("crash-b", "a partly streamed reply", |t| {
            t["messages"]
                .as_array()
                .is_some_and(|m| m.len() == 1 && m[0]["edits"].as_u64() >= Some(1) && m[0]["text"] != final_b.as_str())
        })
        .await;
    gateway.kill_hard();

    // 3. Restart: both conversations complete, one message each, one send each.
    let gateway = GatewayProcess::start(&test_db.url, 100);
    let final_a = DemoRuntime::final_reply(prompt_a);
    let a = gateway.wait_for("crash-a", "reply A", |t| t["messages"][0]["text"] == final_a.as_str()).await;
    let b = gateway.wait_for("crash-b", "reply B", |t| t["messages"][0]["text"] == final_b.as_str()).await;
    for (name, transcript) in [("A", &a), ("B", &b)] {
        assert_eq!(transcript["messages"].as_array().map(Vec::len), Some(1), "{name}: {transcript:#}");
        assert_eq!(sends(transcript), 1, "{name} was sent once: {transcript:#}");
    }
    assert!(
        b["entries"].as_array().map(Vec::len) > mid["entries"].as_array().map(Vec::len),
        "B kept its earlier entries"
    );
    let dead = cowork_cloud::with_reader!(&test_db.db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM gw_outbox WHERE state = 'dead'")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(dead, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_gateway_completes_every_acknowledged_conversation() {
    killed_gateway_completes_every_acknowledged_conversation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_gateway_completes_every_acknowledged_conversation() {
    killed_gateway_completes_every_acknowledged_conversation(Backend::Postgres).await;
}
