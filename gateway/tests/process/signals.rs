//! The process at its edges: SIGTERM drains and exits 0; `probe` answers health checks; a
//! `public_production` configuration that breaks a rule, or a secret reference that cannot be
//! resolved, stops startup with exit code 2.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_exits_zero_on_a_live_gateway_and_one_otherwise() {
    let Some(test_db) = TestDatabase::new(Backend::Sqlite).await else { return };
    let gateway = GatewayProcess::start(&test_db.url, 5);
    let probe = |url: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_open-cowork-gateway"))
            .args(["probe", "--url", &url])
            .output()
            .expect("run probe")
    };
    let live = probe(format!("{}/ready", gateway.base));
    assert!(live.status.success(), "{}", String::from_utf8_lossy(&live.stderr));
    assert!(String::from_utf8_lossy(&live.stdout).contains("200 OK"));
    let missing = probe(format!("{}/no-such-route", gateway.base));
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"), "{}", String::from_utf8_lossy(&missing.stderr));
    gateway.kill_hard();
}

#[test]
fn public_production_refuses_to_start_naming_each_rule_and_no_secret() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_open-cowork-gateway"))
        .args(["standalone", "--listen", "127.0.0.1:0"])
        .env("OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER", "public_production")
        .env("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", "weak-but-secret-value")
        .env("OPEN_COWORK_GATEWAY_DATA_DIR", std::env::temp_dir().join("never-opened"))
        .env_remove("OPEN_COWORK_GATEWAY_DATABASE_URL")
        .env_remove("OPEN_COWORK_CONFIG_PATH")
        .output()
        .expect("run the gateway");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for rule in [
        "(1) OPEN_COWORK_GATEWAY_DATABASE_URL needs a Postgres database",
        "OPEN_COWORK_GATEWAY_ADMIN_TOKEN needs a strong value",
        "OPEN_COWORK_GATEWAY_PUBLIC_URL needs an https public URL",
        "gateway.providers[id=fake] is the fake provider",
    ] {
        assert!(stderr.contains(rule), "{rule} missing from {stderr}");
    }
    assert!(!stderr.contains("weak-but-secret-value"), "{stderr}");
    // An unresolvable secret reference stops startup naming it.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_open-cowork-gateway"))
        .args(["standalone", "--listen", "127.0.0.1:0"])
        .env("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", "file:/run/secrets/missing-admin-token")
        .env_remove("OPEN_COWORK_GATEWAY_ADMIN_TOKEN")
        .env_remove("OPEN_COWORK_CONFIG_PATH")
        .output()
        .expect("run the gateway");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF") && stderr.contains("missing-admin-token"),
        "{stderr}"
    );
}
