//! SIGTERM: the gateway stops accepting, drains, and exits 0; `/ready` answered while running.

use std::time::{Duration, Instant};

use cowork_cloud::database::Backend;
use cowork_cloud::database::testing::TestDatabase;
use serde_json::json;

use crate::harness::{DEADLINE, GatewayProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero() {
    let Some(test_db) = TestDatabase::new(Backend::Sqlite).await else { return };
    let mut gateway = GatewayProcess::start(&test_db.url, 5);
    let ready: serde_json::Value = reqwest::get(format!("{}/ready", gateway.base)).await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");
    assert_eq!(gateway.post_fake(json!({"id": "s1", "chatId": "sig", "text": "hello"})).await, 202);
    let status = std::process::Command::new("kill").args(["-TERM", &gateway.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = gateway.child.try_wait().unwrap() {
            break exit;
        }
        assert!(start.elapsed() < DEADLINE, "did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(exit.code(), Some(0));
}
