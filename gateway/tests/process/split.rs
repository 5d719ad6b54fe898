//! Split mode: `open-cowork-cloud` and `open-cowork-gateway serve` as two real processes over
//! loopback HTTP, each on its own database. A conversation completes through the fake provider;
//! the cloud is killed with `kill -9` while a reply streams and started again, and the reply
//! completes with nothing lost or doubled; a wrong token keeps the gateway unready.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use cowork_cloud::database::Backend;
use cowork_cloud::database::testing::TestDatabase;
use cowork_cloud::runtime::DemoRuntime;
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, DEADLINE, GatewayProcess, read_banner};

/// The cloud binary, built beside the gateway's (built here when a narrower build left it out).
fn cloud_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_open-cowork-gateway")).with_file_name("open-cowork-cloud");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "cowork-cloud", "--bin", "open-cowork-cloud"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building open-cowork-cloud failed");
    }
    path
}

fn cloud_command(args: &[&str], database_url: &str) -> Command {
    let mut command = Command::new(cloud_binary());
    command
        .args(args)
        .args(["--database-url", database_url])
        .env("OPEN_COWORK_CLOUD_LOG_LEVEL", "warn")
        .env_remove("OPEN_COWORK_CLOUD_DATABASE_URL")
        .env_remove("OPEN_COWORK_CONFIG_PATH");
    command
}

fn setup(args: &[&str], database_url: &str) -> String {
    let output: Output = cloud_command(args, database_url).output().expect("run open-cowork-cloud");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A running cloud on a fixed port (a restart must come back where the gateway looks).
struct Cloud {
    child: Child,
}

impl Cloud {
    fn start(database_url: &str, listen: &str, delta_ms: u64) -> (Self, String) {
        Self::start_with(database_url, listen, delta_ms, &[])
    }

    fn start_with(database_url: &str, listen: &str, delta_ms: u64, vars: &[(&str, &str)]) -> (Self, String) {
        let mut child = cloud_command(&["serve", "--listen", listen], database_url)
            .env("OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS", delta_ms.to_string())
            .envs(vars.iter().copied())
            .env("OPEN_COWORK_CLOUD_WORKER_LEASE_MS", "3000")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the cloud");
        let base = read_banner(&mut child, "the cloud");
        (Self { child }, base)
    }

    fn kill_hard(mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port for the cloud.
fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    addr.to_string()
}

fn sends(transcript: &Value) -> usize {
    transcript["entries"].as_array().map_or(0, |e| e.iter().filter(|x| x["operation"] == "send").count())
}

async fn a_conversation_survives_a_killed_cloud(backend: Backend) {
    let (Some(cloud_db), Some(gateway_db)) = (TestDatabase::new(backend).await, TestDatabase::new(backend).await)
    else {
        return;
    };
    setup(&["bindings", "create", "--provider", "fake", "--binding-id", "fake-binding"], &cloud_db.url);
    let token =
        setup(&["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "fake-binding"], &cloud_db.url);
    let listen = free_port();
    let (cloud, cloud_url) = Cloud::start(&cloud_db.url, &listen, 40);
    let gateway = GatewayProcess::start_split(&gateway_db.url, &cloud_url, &token);
    let (status, ready) = gateway.get("/ready").await;
    assert_eq!((status, ready["checks"]["cloud"].as_str()), (200, Some("ok")), "{ready}");
    let (status, diagnostics) = gateway.get_as("/diagnostics", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{diagnostics}");
    assert_eq!(diagnostics["deliveryOperator"]["channelBindingIds"], json!(["fake-binding"]));
    assert_eq!(diagnostics["config"]["mode"], "split");
    assert!(!diagnostics.to_string().contains(&token), "the service token is never shown");

    // A whole conversation through the fake provider.
    let first = "hello from split mode";
    assert_eq!(gateway.post_fake(json!({"id": "s1", "chatId": "split-1", "text": first})).await, 202);
    let final_first = DemoRuntime::final_reply(first);
    gateway.wait_for("split-1", "the first reply", |t| t["messages"][0]["text"] == final_first.as_str()).await;

    // kill -9 the cloud while the second reply streams, then start it again.
    let second = "second message, the cloud dies while its reply streams";
    let final_second = DemoRuntime::final_reply(second);
    assert_eq!(gateway.post_fake(json!({"id": "s2", "chatId": "split-2", "text": second})).await, 202);
    gateway
        .wait_for("split-2", "a partly streamed reply", |t| {
            t["messages"].as_array().is_some_and(|m| m.len() == 1 && m[0]["text"] != final_second.as_str())
        })
        .await;
    cloud.kill_hard();
    let (status, _) = gateway.get("/ready").await;
    assert_eq!(status, 503, "a dead cloud makes the gateway unready");
    let (_cloud, _) = Cloud::start(&cloud_db.url, &listen, 5);
    let done =
        gateway.wait_for("split-2", "the second reply", |t| t["messages"][0]["text"] == final_second.as_str()).await;
    assert_eq!(done["messages"].as_array().map(Vec::len), Some(1), "{done:#}");
    assert_eq!(sends(&done), 1, "sent once, then edited: {done:#}");
    let first = gateway.transcript("split-1").await;
    assert_eq!((first["messages"].as_array().map(Vec::len), sends(&first)), (Some(1), 1), "{first:#}");
    let started = std::time::Instant::now();
    loop {
        let (status, _) = gateway.get("/ready").await;
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the gateway did not become ready again");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A gateway with a token the cloud does not know is not ready, and says why.
    drop(gateway);
    let wrong = GatewayProcess::start_split(&gateway_db.url, &cloud_url, "occ_tok_AAAAAAAAAAAAAAAA_wrong");
    let (status, ready) = wrong.get("/ready").await;
    assert_eq!(status, 503, "{ready}");
    let reason = ready["checks"]["cloud"].as_str().unwrap_or_default();
    assert!(reason.contains("401"), "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_conversation_survives_a_killed_cloud() {
    a_conversation_survives_a_killed_cloud(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_conversation_survives_a_killed_cloud() {
    a_conversation_survives_a_killed_cloud(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_over_quota_is_one_message_in_the_chat_not_a_retry_loop() {
    let cloud_db = TestDatabase::sqlite().await;
    let gateway_db = TestDatabase::sqlite().await;
    setup(&["bindings", "create", "--provider", "fake", "--binding-id", "fake-binding"], &cloud_db.url);
    let token =
        setup(&["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "fake-binding"], &cloud_db.url);
    let quota = [("OPEN_COWORK_CLOUD_GATEWAY_PROMPTS_PER_HOUR", "1")];
    let (_cloud, cloud_url) = Cloud::start_with(&cloud_db.url, "127.0.0.1:0", 1, &quota);
    let gateway = GatewayProcess::start_split(&gateway_db.url, &cloud_url, &token);
    let first = "the one prompt this hour";
    assert_eq!(gateway.post_fake(json!({"id": "q1", "chatId": "quota-1", "text": first})).await, 202);
    let final_first = DemoRuntime::final_reply(first);
    gateway.wait_for("quota-1", "the first reply", |t| t["messages"][0]["text"] == final_first.as_str()).await;
    assert_eq!(gateway.post_fake(json!({"id": "q2", "chatId": "quota-2", "text": "one too many"})).await, 202);
    let refused = gateway
        .wait_for("quota-2", "the refusal", |t| {
            t["messages"][0]["text"].as_str().is_some_and(|text| text.starts_with("Sorry, I can't take that message"))
        })
        .await;
    assert_eq!(refused["messages"].as_array().map(Vec::len), Some(1), "{refused:#}");
    assert!(refused.to_string().contains("hourly prompt quota"), "{refused:#}");
    // The inbound event is finished, not retried.
    let started = std::time::Instant::now();
    loop {
        let open = cowork_cloud::with_reader!(&gateway_db.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM gw_inbox WHERE state IN ('new', 'queued', 'pending', 'claimed', 'failed')",
            )
            .fetch_one(pool)
            .await
            .expect("count")
        });
        if open == 0 {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{open} inbound events still open");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[test]
fn serve_without_a_cloud_url_or_token_exits_2_naming_the_setting() {
    let run = |vars: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_open-cowork-gateway"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("OPEN_COWORK_CLOUD_BASE_URL")
            .env_remove("OPEN_COWORK_GATEWAY_CLOUD_URL")
            .env_remove("OPEN_COWORK_GATEWAY_SERVICE_TOKEN")
            .envs(vars.iter().copied())
            .output()
            .expect("run")
    };
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("OPEN_COWORK_CLOUD_BASE_URL"));
    let output = run(&[("OPEN_COWORK_GATEWAY_CLOUD_URL", "http://127.0.0.1:1")]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("OPEN_COWORK_GATEWAY_SERVICE_TOKEN"));
    let output =
        run(&[("OPEN_COWORK_CLOUD_BASE_URL", "http://cloud.example"), ("OPEN_COWORK_GATEWAY_SERVICE_TOKEN", "t")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ALLOW_INSECURE_HTTP") && !stderr.contains("token t"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_lists_and_operates_the_clouds_queue_beside_the_outbox() {
    let cloud_db = TestDatabase::sqlite().await;
    let gateway_db = TestDatabase::sqlite().await;
    setup(&["bindings", "create", "--provider", "fake", "--binding-id", "fake-binding"], &cloud_db.url);
    let token =
        setup(&["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "fake-binding"], &cloud_db.url);
    let admin = setup(&["tokens", "create", "--name", "ops", "--scope", "admin"], &cloud_db.url);
    let (_cloud, cloud_url) = Cloud::start(&cloud_db.url, "127.0.0.1:0", 1);
    let gateway = GatewayProcess::start_split(&gateway_db.url, &cloud_url, &token);
    let http = reqwest::Client::new();
    let bindings: Value = http
        .get(format!("{cloud_url}/api/channels/bindings"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let agent = bindings["bindings"][0]["agentId"].clone();
    let created = http
        .post(format!("{cloud_url}/api/channels/deliveries"))
        .bearer_auth(&admin)
        .json(&json!({"deliveryId": "report 1", "agentId": agent, "channelBindingId": "fake-binding", "provider": "fake",
                      "target": {"externalChatId": "ops"}, "eventType": "workflow.completed", "payload": {"text": "done"}}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    // A gateway token sees the cloud deliveries it claimed: claim this one over the stream.
    let mut stream = http
        .get(format!("{cloud_url}/api/channels/deliveries/stream?ttlMs=600000"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("stream");
    let started = std::time::Instant::now();
    let mut seen = String::new();
    while !seen.contains("event: channel.delivery") {
        let remaining = DEADLINE.saturating_sub(started.elapsed());
        let chunk = tokio::time::timeout(remaining, stream.chunk()).await.expect("a claim in time").expect("read");
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("the stream ended")));
    }
    drop(stream);
    let (status, listed) = gateway.get_as("/deliveries", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["deliveries"], json!([]), "the outbox is empty: {listed}");
    assert_eq!(listed["cloudDeliveries"][0]["deliveryId"], "report 1", "{listed}");
    assert_eq!(listed["cloudDeliveries"][0]["status"], "claimed");
    let (_, dead) = gateway.get_as("/deliveries?status=dead", Some(ADMIN_TOKEN)).await;
    assert_eq!(dead["cloudDeliveries"], json!([]), "{dead}");

    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", gateway.base)).bearer_auth(ADMIN_TOKEN).json(&body).send()
    };
    let response =
        post("/deliveries/cloud:report%201/dead-letter", json!({"reason": "wrong channel"})).await.expect("post");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        (body["delivery"]["status"].as_str(), body["delivery"]["lastError"].as_str()),
        (Some("dead"), Some("wrong channel"))
    );
    let response = post("/deliveries/cloud:report%201/retry", json!({})).await.expect("post");
    assert_eq!(response.status(), 200);
    let response = post("/deliveries/cloud:nothing/retry", json!({})).await.expect("post");
    assert_eq!(response.status(), 404);
    assert_eq!(post("/deliveries/cloud:/retry", json!({})).await.expect("post").status(), 400);
}
