//! `open-cowork-cloud serve`: health routes per role, SIGTERM drains and exits 0, bad settings
//! exit 2 naming the setting.

use cowork_cloud::database::Backend;
use cowork_cloud::database::testing::TestDatabase;

use crate::harness::{CloudProcess, command};

async fn each_role_is_live_and_ready(backend: Backend) {
    let Some(test_db) = TestDatabase::new(backend).await else { return };
    for role in ["all", "web", "worker"] {
        let mut cloud = CloudProcess::start(&test_db.url, role);
        let (status, live) = cloud.get("/livez").await;
        assert_eq!((status, live["ok"].as_bool(), live["role"].as_str()), (200, Some(true), Some(role)), "{live}");
        assert_eq!(live["profileName"], "default");
        for path in ["/readyz", "/healthz"] {
            let (status, ready) = cloud.get(path).await;
            assert_eq!(status, 200, "{role} {path}: {ready}");
            let names: Vec<&str> =
                ready["checks"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
            assert_eq!(names, ["control_plane", "role_loops", "draining"], "{ready}");
            assert!(ready["checks"].as_array().unwrap().iter().all(|c| c["status"] == "ok"), "{ready}");
        }
        let (status, _) = cloud.get("/nope").await;
        assert_eq!(status, 404);
        assert_eq!(cloud.terminate().await.code(), Some(0), "{role} exit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_each_role_is_live_and_ready_and_drains() {
    each_role_is_live_and_ready(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_each_role_is_live_and_ready_and_drains() {
    each_role_is_live_and_ready(Backend::Postgres).await;
}

#[test]
fn bad_settings_exit_2_naming_the_setting() {
    let output =
        command(&["serve", "--listen", "127.0.0.1:0"]).env("OPEN_COWORK_CLOUD_ROLE", "scheduler").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OPEN_COWORK_CLOUD_ROLE") && stderr.contains("all, web, worker"), "{stderr}");

    let output = command(&["serve", "--role", "nope"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("all, web, worker"));

    let output = command(&[]).output().unwrap();
    assert_ne!(output.status.code(), Some(0), "no subcommand prints help and fails");
    assert!(String::from_utf8_lossy(&output.stderr).contains("serve"));
}

#[test]
fn an_unreachable_database_fails_the_start_with_a_clear_error() {
    let output = command(&["serve", "--listen", "127.0.0.1:0", "--database-url", "postgres://nobody@127.0.0.1:1/none"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect to the database"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_doctor_report_the_configuration_database_and_tier() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else { return };
    let url = db.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        command(&["doctor", "--json", "--database-url", &url]).output().expect("run doctor")
    })
    .await
    .expect("doctor");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let database = report["checks"].as_array().into_iter().flatten().find(|c| c["name"] == "database").cloned();
    assert_eq!(database.map(|c| c["outcome"].clone()), Some("pass".into()), "{report:#}");

    // public_production with the laptop defaults: every broken rule is a failed check.
    let output = command(&["check", "--role", "all"])
        .env("OPEN_COWORK_CLOUD_DEPLOYMENT_TIER", "public_production")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run check");
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    for rule in [
        "OPEN_COWORK_CLOUD_DATABASE_URL needs a Postgres database",
        "OPEN_COWORK_CLOUD_TOKEN_HASH_KEY needs a strong value",
        "OPEN_COWORK_CLOUD_ROLE must be web or worker",
    ] {
        assert!(text.contains(rule), "{rule} missing from {text}");
    }
    // serve refuses to start with the same rules; the setup commands still run.
    let serve = command(&["serve", "--listen", "127.0.0.1:0"])
        .env("OPEN_COWORK_CLOUD_DEPLOYMENT_TIER", "public_production")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run serve");
    assert_eq!(serve.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&serve.stderr).contains("OPEN_COWORK_CLOUD_ROLE must be web or worker"));
    let list = command(&["tokens", "list", "--database-url", &db.url])
        .env("OPEN_COWORK_CLOUD_DEPLOYMENT_TIER", "public_production")
        .output()
        .expect("run tokens list");
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
}
