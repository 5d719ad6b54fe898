//! Guardrails over HTTP: the request rate limit, the authentication back-off and the session
//! queue depth cap answer 429 with `Retry-After` and Open Cowork's body; aborts still pass.

use cowork_cloud::database::testing::TestDatabase;
use serde_json::json;

use crate::harness::{Api, CloudProcess, setup, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_answer_429_with_a_wait() {
    let test_db = TestDatabase::sqlite().await;
    let url = test_db.url.as_str();
    stdout(&setup(url, &["bindings", "create", "--provider", "fake", "--binding-id", "fake-main"]));
    let gateway =
        stdout(&setup(url, &["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "fake-main"]));
    // A web process alone: prompts wait, so the queue fills.
    let cloud = CloudProcess::start_with(
        url,
        "web",
        &[
            ("OPEN_COWORK_CLOUD_MAX_QUEUED_COMMANDS_PER_SESSION", "1"),
            ("OPEN_COWORK_CLOUD_GATEWAY_RATE_LIMIT_MAX_REQUESTS", "12"),
            ("OPEN_COWORK_CLOUD_RATE_LIMIT_WINDOW_MS", "3600000"),
        ],
    );
    let api = Api { cloud: &cloud, client: reqwest::Client::new() };
    api.post("/api/channels/identities/resolve", &gateway, &json!({"provider": "fake", "externalUserId": "U1"})).await;
    let bind =
        json!({"channelBindingId": "fake-main", "provider": "fake", "externalChatId": "C", "externalThreadId": "T"});
    let (_, bound) = api.post("/api/channels/sessions/bind", &gateway, &bind).await;
    let binding = bound["binding"]["bindingId"].as_str().expect("binding").to_owned();
    let prompt = |key: &str| json!({"bindingId": binding, "text": "hi", "externalUserId": "U1", "idempotencyKey": key});
    assert_eq!(api.post("/api/channels/sessions/prompt", &gateway, &prompt("a")).await.0, 202);
    let (status, body) = api.post("/api/channels/sessions/prompt", &gateway, &prompt("b")).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("quota.session_queue_depth_exceeded")), "{body}");
    assert!(body["retryAfterMs"].as_u64().is_some() && body["verdict"]["allowed"] == false, "{body}");
    let abort = json!({"bindingId": binding, "externalUserId": "U1"});
    assert_eq!(api.post("/api/channels/sessions/abort", &gateway, &abort).await.0, 202, "an abort always passes");

    // 12 an hour for the gateway token; 5 used above (a refused request costs nothing).
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            api.get("/api/channels/sessions/by-thread?provider=fake&externalChatId=C&externalThreadId=T", &gateway)
                .await
                .0,
        );
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 1, "{statuses:?}");
    let response =
        api.client.get(format!("{}/api/channels/agents", cloud.base)).bearer_auth(&gateway).send().await.expect("send");
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap_or_default().parse().unwrap_or(0);
    assert!(wait >= 1, "Retry-After in seconds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_back_off_the_address() {
    let test_db = TestDatabase::sqlite().await;
    let url = test_db.url.as_str();
    let admin = stdout(&setup(url, &["tokens", "create", "--name", "root", "--scope", "admin"]));
    let cloud = CloudProcess::start(url, "web");
    let api = Api { cloud: &cloud, client: reqwest::Client::new() };
    for n in 0..10 {
        let wrong = format!("occ_tok_AAAAAAAAAAAAAAA{n}_{}", "B".repeat(43));
        assert_eq!(api.get("/api/api-tokens", &wrong).await.0, 401);
    }
    let (status, body) = api.get("/api/api-tokens", &admin).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("auth.backoff")), "even a valid token waits: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_plan_answers_402_on_gated_writes_only() {
    let test_db = TestDatabase::sqlite().await;
    let url = test_db.url.as_str();
    stdout(&setup(url, &["bindings", "create", "--provider", "fake", "--binding-id", "fake-main"]));
    let gateway =
        stdout(&setup(url, &["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "fake-main"]));
    let admin = stdout(&setup(url, &["tokens", "create", "--name", "root", "--scope", "admin"]));
    let cloud = CloudProcess::start_with(
        url,
        "web",
        &[("OPEN_COWORK_CLOUD_BILLING_PROVIDER", "stub"), ("OPEN_COWORK_CLOUD_BILLING_STUB_STATUS", "inactive")],
    );
    let api = Api { cloud: &cloud, client: reqwest::Client::new() };
    let bind =
        json!({"channelBindingId": "fake-main", "provider": "fake", "externalChatId": "C", "externalThreadId": "T"});
    let (status, body) = api.post("/api/channels/sessions/bind", &gateway, &bind).await;
    assert_eq!(
        (status, body["verdict"]["policyCode"].as_str()),
        (402, Some("billing.subscription_inactive")),
        "{body}"
    );
    let agent = json!({"name": "A"});
    assert_eq!(api.post("/api/channels/agents", &admin, &agent).await.0, 402);
    // Reads and token administration are not gated.
    assert_eq!(api.get("/api/channels/bindings", &admin).await.0, 200);
    assert_eq!(api.post("/api/api-tokens", &admin, &json!({"name": "x", "scopes": ["operator"]})).await.0, 201);
}
