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

pub(crate) fn setup(args: &[&str], database_url: &str) -> String {
    let output: Output = cloud_command(args, database_url).output().expect("run open-cowork-cloud");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A running cloud on a fixed port (a restart must come back where the gateway looks).
pub(crate) struct Cloud {
    child: Child,
}

impl Cloud {
    pub(crate) fn start(database_url: &str, listen: &str, delta_ms: u64) -> (Self, String) {
        Self::start_with(database_url, listen, delta_ms, &[])
    }

    pub(crate) fn start_with(database_url: &str, listen: &str, delta_ms: u64, vars: &[(&str, &str)]) -> (Self, String) {
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
pub(crate) fn free_port() -> String {
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

    // `doctor` in split mode tries the cloud with the token: accepted, then refused.
    for (service_token, expected) in [(token.as_str(), "pass"), ("occ_tok_AAAAAAAAAAAAAAAA_wrong", "fail")] {
        let output = Command::new(env!("CARGO_BIN_EXE_open-cowork-gateway"))
            .args(["doctor", "--json", "--database-url", &gateway_db.url])
            .env("OPEN_COWORK_CLOUD_BASE_URL", &cloud_url)
            .env("OPEN_COWORK_GATEWAY_SERVICE_TOKEN", service_token)
            .env_remove("OPEN_COWORK_CONFIG_PATH")
            .output()
            .expect("run doctor");
        let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
        let cloud = report["checks"].as_array().into_iter().flatten().find(|c| c["name"] == "cloud").cloned();
        assert_eq!(cloud.as_ref().map(|c| c["outcome"].clone()), Some(json!(expected)), "{report:#}");
        assert!(!String::from_utf8_lossy(&output.stdout).contains(service_token), "the token is never shown");
    }
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

/// The cloud's admin API, for what an operator or a workflow does there.
struct CloudAdmin {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl CloudAdmin {
    fn new(base: &str, token: String) -> Self {
        Self { base: base.to_owned(), token, http: reqwest::Client::new() }
    }

    /// Queues a delivery for the fake binding's agent: `(deliveryId, chat, text)`.
    async fn create_delivery(&self, delivery_id: &str, chat: &str, text: &str) {
        let bindings: Value = self
            .http
            .get(format!("{}/api/channels/bindings", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let agent = bindings["bindings"][0]["agentId"].clone();
        let created = self
            .http
            .post(format!("{}/api/channels/deliveries", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"deliveryId": delivery_id, "agentId": agent, "channelBindingId": "fake-binding",
                          "provider": "fake", "target": {"externalChatId": chat, "externalThreadId": chat},
                          "eventType": "workflow.completed", "payload": {"text": text}}))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201);
    }

    /// The delivery as the cloud has it, once `condition` holds.
    async fn wait_for(&self, delivery_id: &str, what: &str, condition: impl Fn(&Value) -> bool) -> Value {
        let started = std::time::Instant::now();
        loop {
            let listed: Value = self
                .http
                .get(format!("{}/api/channels/deliveries", self.base))
                .query(&[("deliveryId", delivery_id)])
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            let delivery = listed["deliveries"][0].clone();
            if condition(&delivery) {
                return delivery;
            }
            assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}: {delivery:#}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// A cloud with the fake binding, a gateway token for it and an admin token.
fn cloud_with_tokens(database_url: &str) -> (String, String) {
    setup(&["bindings", "create", "--provider", "fake", "--binding-id", "fake-binding"], database_url);
    let token =
        setup(&["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "fake-binding"], database_url);
    let admin = setup(&["tokens", "create", "--name", "ops", "--scope", "admin"], database_url);
    (token, admin)
}

/// The fake provider whose first `sends` sends fail with `status`.
fn failing_fake(sends: u64, status: u16) -> String {
    json!([{"id": "fake", "kind": "fake", "channelBindingId": "fake-binding",
            "settings": {"failFirstSends": sends, "failStatus": status}}])
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_deliveries_go_out_through_the_outbox_and_operators_act_on_them() {
    let cloud_db = TestDatabase::sqlite().await;
    let gateway_db = TestDatabase::sqlite().await;
    let (token, admin) = cloud_with_tokens(&cloud_db.url);
    let (_cloud, cloud_url) = Cloud::start(&cloud_db.url, "127.0.0.1:0", 1);
    let cloud = CloudAdmin::new(&cloud_url, admin);
    let providers = failing_fake(1, 400);
    let gateway = GatewayProcess::start_split_with(
        &gateway_db.url,
        &cloud_url,
        &token,
        &[("OPEN_COWORK_GATEWAY_PROVIDERS", &providers)],
    );

    // The platform refuses the first send for good: the row is dead, and so is the delivery.
    cloud.create_delivery("report 1", "ops", "done").await;
    let dead = cloud.wait_for("report 1", "the dead ack", |d| d["status"] == "dead").await;
    assert!(dead["lastError"].as_str().is_some_and(|e| e.contains("400")), "{dead:#}");
    assert_eq!(dead["attemptCount"], 1, "{dead:#}");
    let (status, listed) = gateway.get_as("/deliveries", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        (listed["deliveries"][0]["state"].as_str(), listed["deliveries"][0]["chatId"].as_str()),
        (Some("dead"), Some("ops")),
        "{listed:#}"
    );
    assert_eq!(listed["cloudDeliveries"][0]["deliveryId"], "report 1", "{listed:#}");
    assert_eq!(listed["cloudDeliveries"][0]["status"], "dead");
    let (_, pending) = gateway.get_as("/deliveries?status=pending", Some(ADMIN_TOKEN)).await;
    assert_eq!(pending["cloudDeliveries"], json!([]), "{pending}");
    let (_, diagnostics) = gateway.get_as("/diagnostics", Some(ADMIN_TOKEN)).await;
    assert_eq!(diagnostics["deliveryOperator"]["cloudDeliveryStream"]["connected"], true, "{diagnostics:#}");

    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", gateway.base)).bearer_auth(ADMIN_TOKEN).json(&body).send()
    };
    // Retried in the cloud (here through the gateway), it is offered again: its row is retried
    // and it goes out.
    assert_eq!(post("/deliveries/cloud:report%201/retry", json!({})).await.expect("post").status(), 200);
    let sent = cloud.wait_for("report 1", "the sent ack", |d| d["status"] == "sent").await;
    assert_eq!(sent["attemptCount"], 2, "{sent:#}");
    let chat = gateway.transcript("ops").await;
    assert_eq!(chat["messages"].as_array().map(Vec::len), Some(1), "{chat:#}");
    assert_eq!(chat["messages"][0]["text"], "done");

    // Dead-lettered and retried once more, it maps onto its sent row: acked, not sent twice.
    let response =
        post("/deliveries/cloud:report%201/dead-letter", json!({"reason": "wrong channel"})).await.expect("post");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        (body["delivery"]["status"].as_str(), body["delivery"]["lastError"].as_str()),
        (Some("dead"), Some("wrong channel"))
    );
    assert_eq!(post("/deliveries/cloud:report%201/retry", json!({})).await.expect("post").status(), 200);
    let again =
        cloud.wait_for("report 1", "the sent ack again", |d| d["status"] == "sent" && d["attemptCount"] == 3).await;
    assert_eq!(again["lastError"], Value::Null, "{again:#}");
    let chat = gateway.transcript("ops").await;
    assert_eq!(chat["messages"].as_array().map(Vec::len), Some(1), "sent once: {chat:#}");

    assert_eq!(post("/deliveries/cloud:nothing/retry", json!({})).await.expect("post").status(), 404);
    assert_eq!(post("/deliveries/cloud:/retry", json!({})).await.expect("post").status(), 400);
}

async fn a_cloud_delivery_survives_a_killed_gateway(backend: Backend) {
    let (Some(cloud_db), Some(gateway_db)) = (TestDatabase::new(backend).await, TestDatabase::new(backend).await)
    else {
        return;
    };
    let (token, admin) = cloud_with_tokens(&cloud_db.url);
    let (_cloud, cloud_url) = Cloud::start(&cloud_db.url, "127.0.0.1:0", 1);
    let cloud = CloudAdmin::new(&cloud_url, admin);
    let ttl = ("OPEN_COWORK_GATEWAY_DELIVERY_CLAIM_TTL_MS", "2000");
    let down = failing_fake(u64::MAX, 503);
    let first = GatewayProcess::start_split_with(
        &gateway_db.url,
        &cloud_url,
        &token,
        &[ttl, ("OPEN_COWORK_GATEWAY_PROVIDERS", &down)],
    );

    // The platform is down: the row retries in the outbox while the claim is renewed.
    cloud.create_delivery("nightly", "reports", "nightly report").await;
    let claimed = cloud.wait_for("nightly", "the claim", |d| d["status"] == "claimed").await;
    let renewed = cloud
        .wait_for("nightly", "a renewal", |d| {
            d["status"] == "claimed" && d["attemptCount"] == 1 && d["claimExpiresAt"] != claimed["claimExpiresAt"]
        })
        .await;
    assert_eq!(renewed["claimedBy"], claimed["claimedBy"], "{renewed:#}");
    let started = std::time::Instant::now();
    loop {
        // Between attempts the row waits as `retrying`; the cloud's side shows its claim.
        let (_, retrying) = first.get_as("/deliveries?status=retrying", Some(ADMIN_TOKEN)).await;
        if retrying["deliveries"][0]["chatId"] == "reports" {
            assert_eq!(retrying["cloudDeliveries"], json!([]), "the cloud has it claimed: {retrying:#}");
            break;
        }
        assert!(retrying["cloudError"].is_null(), "{retrying:#}");
        assert!(started.elapsed() < DEADLINE, "the row never waited to retry: {retrying:#}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // kill -9, and a gateway with a working platform on the same database: the outbox row goes
    // out once, and the delivery, offered again when the dead gateway's claim lapses, is acked.
    first.kill_hard();
    let second = GatewayProcess::start_split_with(&gateway_db.url, &cloud_url, &token, &[ttl]);
    let sent = cloud.wait_for("nightly", "the sent ack", |d| d["status"] == "sent").await;
    // Offered again after the kill: at least one claim more. (On a loaded machine a renewal can
    // come after the 2 s claim lapsed, and the first gateway claims it once more before dying.)
    let claims = sent["attemptCount"].as_u64().unwrap_or_default();
    assert!(claims >= 2, "{sent:#}");
    let chat = second.transcript("reports").await;
    assert_eq!(chat["messages"].as_array().map(Vec::len), Some(1), "{chat:#}");
    assert_eq!(chat["messages"][0]["text"], "nightly report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_cloud_delivery_survives_a_killed_gateway() {
    a_cloud_delivery_survives_a_killed_gateway(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_cloud_delivery_survives_a_killed_gateway() {
    a_cloud_delivery_survives_a_killed_gateway(Backend::Postgres).await;
}
