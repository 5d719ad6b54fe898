//! Several processes on one database: SQLite serves one gateway process and refuses a second;
//! on Postgres replicas share the bindings, in standalone and in split mode.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use cowork_cloud::database::testing::TestDatabase;
use cowork_cloud::runtime::DemoRuntime;
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, DEADLINE, GatewayProcess};
use crate::split::{Cloud, free_port, setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_one_sqlite_file_is_refused_at_startup() {
    let db = TestDatabase::sqlite().await;
    let first = GatewayProcess::start(&db.url, 1);
    let second = Command::new(env!("CARGO_BIN_EXE_open-cowork-gateway"))
        .args(["standalone", "--listen", "127.0.0.1:0", "--database-url", &db.url])
        .env_remove("OPEN_COWORK_CONFIG_PATH")
        .output()
        .expect("run");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another gateway process is using the SQLite database"), "{stderr}");
    // Once the first is gone (however it ended), the file is free again.
    first.kill_hard();
    let again = GatewayProcess::start(&db.url, 1);
    let (status, _) = again.get("/ready").await;
    assert_eq!(status, 200);
}

/// Four fake providers, one binding each.
const BINDINGS: [&str; 4] = ["b-a", "b-b", "b-c", "b-d"];

fn providers() -> String {
    let list: Vec<Value> = BINDINGS
        .iter()
        .map(|binding| json!({"id": format!("fake-{binding}"), "kind": "fake", "channelBindingId": binding}))
        .collect();
    Value::Array(list).to_string()
}

/// The settings of replica `instance` serving `providers`.
fn replica_settings<'a>(instance: &'a str, providers: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("OPEN_COWORK_GATEWAY_INSTANCE_ID", instance),
        ("OPEN_COWORK_GATEWAY_PROVIDERS", providers),
        ("OPEN_COWORK_GATEWAY_HEARTBEAT_INTERVAL_MS", "500"),
        ("OPEN_COWORK_GATEWAY_OWNERSHIP_LEASE_MS", "6000"),
        ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN),
    ]
}

fn replica(db: &str, instance: &str, providers: &str) -> GatewayProcess {
    GatewayProcess::start_with(db, 1, &replica_settings(instance, providers))
}

/// The owner of each binding by `/ownership`, once every binding has a live one.
async fn owners(
    gateway: &GatewayProcess,
    what: &str,
    condition: impl Fn(&HashMap<String, String>) -> bool,
) -> HashMap<String, String> {
    let started = Instant::now();
    loop {
        let (_, owned) = gateway.get_as("/ownership", Some(ADMIN_TOKEN)).await;
        let owners: HashMap<String, String> = owned["bindings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| Some((b["channelBindingId"].as_str()?.to_owned(), b["owner"].as_str()?.to_owned())))
            .collect();
        if owners.len() == BINDINGS.len() && condition(&owners) {
            return owners;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}: {owned:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts a message to every binding through `gateway` and waits for each final reply.
async fn converse(gateway: &GatewayProcess, round: &str) {
    let http = reqwest::Client::new();
    for binding in BINDINGS {
        let text = format!("{round} on {binding}");
        let body = json!({"id": format!("{round}-{binding}"), "chatId": format!("chat-{binding}"), "text": text});
        let status = http
            .post(format!("{}/webhooks/fake-{binding}", gateway.base))
            .json(&body)
            .send()
            .await
            .expect("post")
            .status();
        assert_eq!(status, 202);
    }
    for binding in BINDINGS {
        let expected = DemoRuntime::final_reply(&format!("{round} on {binding}"));
        let url = format!("{}/fake/fake-{binding}/transcript?chatId=chat-{binding}", gateway.base);
        let started = Instant::now();
        loop {
            let transcript: Value = http.get(&url).send().await.expect("get").json().await.expect("json");
            let replies: Vec<&Value> = transcript["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["text"] == expected.as_str())
                .collect();
            if replies.len() == 1 {
                break;
            }
            assert!(replies.len() < 2, "replied twice: {transcript:#}");
            assert!(started.elapsed() < DEADLINE, "no reply to {round} on {binding}: {transcript:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_bindings_and_a_killed_ones_share_moves() {
    let Some(db) = TestDatabase::postgres().await else { return };
    let providers = providers();
    let a = replica(&db.url, "gw-a", &providers);
    let b = replica(&db.url, "gw-b", &providers);
    let split =
        owners(&a, "both replicas working", |o| o.values().any(|v| v == "gw-a") && o.values().any(|v| v == "gw-b"))
            .await;
    // Ingress anywhere: every message goes to a, its owner answers.
    converse(&a, "first").await;

    b.kill_hard();
    let moved = owners(&a, "a taking b's share", |o| o.values().all(|v| v == "gw-a")).await;
    assert_eq!(moved.len(), split.len());
    converse(&a, "second").await;
    let (_, owned) = a.get_as("/ownership", Some(ADMIN_TOKEN)).await;
    for binding in owned["bindings"].as_array().into_iter().flatten() {
        let id = binding["channelBindingId"].as_str().unwrap_or_default();
        let expected = if split[id] == "gw-b" { 3 } else { 1 };
        assert_eq!(binding["epoch"], expected, "{owned:#}");
    }

    // Restarted under the same instance id, b gets exactly its share back; a keeps the rest.
    let mut b = replica(&db.url, "gw-b", &providers);
    let back = owners(&a, "b's share back", |o| *o == split).await;
    assert_eq!(back, split);
    converse(&b, "third").await;

    // SIGTERM: b drains and hands its share over at once, well within the 6 s lease.
    let status = Command::new("kill").args(["-TERM", &b.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let stopped = Instant::now();
    owners(&a, "a taking the share b handed over", |o| o.values().all(|v| v == "gw-a")).await;
    let handed_over = stopped.elapsed();
    assert!(handed_over < Duration::from_secs(3), "hand-off took {handed_over:?}");
    let exit = b.child.wait().expect("wait");
    assert_eq!(exit.code(), Some(0));
    converse(&a, "fourth").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_mode_replicas_on_their_own_postgres_share_the_bindings_against_one_cloud() {
    let (Some(cloud_db), Some(gateway_db)) = (TestDatabase::postgres().await, TestDatabase::postgres().await) else {
        return;
    };
    let mut grant = vec!["tokens", "create", "--name", "gateways", "--scope", "gateway"];
    let provider_ids: Vec<String> = BINDINGS.iter().map(|binding| format!("fake-{binding}")).collect();
    for (binding, provider) in BINDINGS.iter().zip(&provider_ids) {
        setup(&["bindings", "create", "--provider", provider, "--binding-id", binding], &cloud_db.url);
        grant.extend(["--binding", binding]);
    }
    let token = setup(&grant, &cloud_db.url);
    let (_cloud, cloud_url) = Cloud::start(&cloud_db.url, &free_port(), 1);
    let providers = providers();
    let split_replica = |instance: &str| {
        GatewayProcess::start_split_with(&gateway_db.url, &cloud_url, &token, &replica_settings(instance, &providers))
    };
    let a = split_replica("gw-a");
    let b = split_replica("gw-b");
    owners(&a, "both replicas working", |o| o.values().any(|v| v == "gw-a") && o.values().any(|v| v == "gw-b")).await;
    // Every message enters through b; each binding's owner renders and delivers it.
    converse(&b, "first").await;

    b.kill_hard();
    owners(&a, "a taking b's share", |o| o.values().all(|v| v == "gw-a")).await;
    converse(&a, "second").await;
}
