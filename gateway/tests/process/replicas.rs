//! Several processes on one database: SQLite serves one gateway process and refuses a second;
//! on Postgres replicas share the bindings.

use std::process::Command;

use cowork_cloud::database::testing::TestDatabase;

use crate::harness::GatewayProcess;

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
