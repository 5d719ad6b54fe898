//! No secret leaves the gateway: with an admin token and a provider credential configured, and a
//! platform whose error messages repeat both (and a bearer token, URL userinfo and a signature),
//! neither the logs (the production JSON subscriber, captured in a buffer), nor ingress error
//! bodies, nor `/deliveries`, `/deliveries/{id}` and `/diagnostics`, nor the stored `lastError`
//! and attempt history contain a secret.
//!
//! Its own test binary, because it installs the process-wide log subscriber.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use cowork_e2e::{DatabaseBackend, TestGateway, message, scenarios};
use cowork_gateway::config::{ProviderConfig, Secret};
use cowork_gateway::logging;
use cowork_gateway::redact::Redactor;
use cowork_providers::{
    Capabilities, ChannelProvider, Delivery, InboundError, InboundRequest, ProviderError, ProviderId, ProviderKind,
    SentMessage, Verified,
};
use serde_json::{Value, json};

scenarios!(no_secret_reaches_logs_errors_or_operator_output);

const ADMIN_TOKEN: &str = "adm1n-t0ken-ZQ8xV3kP9wL2";
const PLATFORM_SECRET: &str = "plat-cred-7Hs9QkWm3Xv1";
const SIGNATURE: &str = "v1=9f2c4e6a8b0d1f3e5c7a9b1d3f5e7c9a";

/// Sends that fail, with messages as careless as a real platform's error bodies.
const FAILING_SENDS: u32 = 2;

/// Everything the process logged, in the production format.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the gateway's subscriber (JSON, redacting, DEBUG) on a buffer, once per process.
fn capture_logs(redactor: Redactor) -> LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let sink = buffer.clone();
        let subscriber = logging::json_subscriber("debug", redactor, move || sink.clone());
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in this binary");
        buffer
    })
    .clone()
}

/// Wraps the fake provider: the first sends fail with the secrets in the message.
struct LeakyPlatform {
    inner: Arc<dyn ChannelProvider>,
    failures: AtomicU32,
}

#[async_trait]
impl ChannelProvider for LeakyPlatform {
    fn id(&self) -> &ProviderId {
        self.inner.id()
    }

    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }

    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    fn parse_inbound(&self, request: &InboundRequest) -> Result<Verified, InboundError> {
        self.inner.parse_inbound(request)
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<SentMessage, ProviderError> {
        if self.failures.fetch_add(1, Ordering::SeqCst) < FAILING_SENDS {
            return Err(ProviderError::transient(
                format!(
                    "platform said 401: credential {PLATFORM_SECRET} refused; request had \
                     Authorization: Bearer {ADMIN_TOKEN}, url https://bot:{PLATFORM_SECRET}@api.example.com/x, \
                     signature {SIGNATURE}"
                ),
                None,
            ));
        }
        self.inner.deliver(delivery).await
    }
}

fn leaky(_: &ProviderConfig, inner: Arc<dyn ChannelProvider>) -> Arc<dyn ChannelProvider> {
    Arc::new(LeakyPlatform { inner, failures: AtomicU32::new(0) })
}

fn assert_clean(what: &str, text: &str) {
    for secret in [ADMIN_TOKEN, PLATFORM_SECRET, SIGNATURE] {
        assert!(!text.contains(secret), "{what} contains a secret ({secret}):\n{text}");
    }
}

async fn no_secret_reaches_logs_errors_or_operator_output(backend: DatabaseBackend) {
    let builder = TestGateway::builder(backend)
        .admin_token(ADMIN_TOKEN)
        .configure(|c| {
            c.providers[0].credentials.insert("apiKey".into(), vec![Secret::new(PLATFORM_SECRET.into())]);
            c.workers.delivery_retry.attempt_budget = FAILING_SENDS;
        })
        .wrap_providers(Arc::new(leaky));
    let logs = capture_logs(cowork_gateway::redact::for_config(builder.config()));
    let Some(gw) = builder.start().await else { return };

    // Error bodies: a payload the parser quotes back, and a failed admin login.
    let echoed = json!({"id": "e1", "interaction": PLATFORM_SECRET}).to_string().into_bytes();
    let (status, body) = gw.post("/webhooks/fake", "application/json", echoed).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("***"), "the parser's echo was masked: {body}");
    assert_clean("an ingress error body", &body.to_string());
    let url = format!("{}/deliveries", gw.base);
    let refused = gw.http.get(&url).bearer_auth(PLATFORM_SECRET).send().await.unwrap().text().await.unwrap();
    assert_clean("a 401 body", &refused);

    // A delivery fails with the secrets in its error until it is dead; the operator retries it.
    assert_eq!(gw.post_fake(message("m1", "chat-secret", "hello")).await.0, 202);
    let dead = wait_for_dead_send(&gw).await;
    let (_, detail) = gw.admin_get(&format!("/deliveries/{dead}")).await;
    let last_error = detail["delivery"]["lastError"].as_str().unwrap_or_default().to_owned();
    assert!(last_error.contains("platform said 401") && last_error.contains("***"), "{detail}");
    assert_clean("GET /deliveries/{id}", &detail.to_string());
    assert_eq!(gw.admin_post(&format!("/deliveries/{dead}/retry"), json!({})).await.0, 200);
    gw.wait_for_delivery(dead, "the retried send", Duration::ZERO, |d| d["delivery"]["state"] == "sent").await;

    let (_, list) = gw.admin_get("/deliveries?limit=200").await;
    assert_clean("GET /deliveries", &list.to_string());
    let (_, diagnostics) = gw.admin_get("/diagnostics").await;
    assert_eq!(diagnostics["config"]["providers"][0]["credentials"], json!({"apiKey": ["***"]}));
    assert_clean("GET /diagnostics", &diagnostics.to_string());
    let (_, _, metrics) = gw.admin_text("/metrics").await;
    assert_clean("GET /metrics", &metrics);
    for table in ["gw_outbox WHERE last_error", "gw_delivery_attempts WHERE error"] {
        for secret in [ADMIN_TOKEN, PLATFORM_SECRET] {
            let stored = gw.count(&format!("SELECT COUNT(*) FROM {table} LIKE '%{secret}%'")).await;
            assert_eq!(stored, 0, "{table} stores {secret}");
        }
    }
    gw.stop().await;

    let text = logs.text();
    assert!(
        text.contains("delivery failed; will retry") && text.contains("dlv_"),
        "the dispatcher's lines were captured"
    );
    assert!(text.contains("\"request_id\""), "request lines carry their id");
    assert_clean("the logs", &text);
}

/// The id of the first dead send, once there is one.
async fn wait_for_dead_send(gw: &TestGateway) -> i64 {
    let start = std::time::Instant::now();
    loop {
        let (_, list) = gw.admin_get("/deliveries?status=dead").await;
        let dead: Vec<&Value> = list["deliveries"].as_array().into_iter().flatten().collect();
        if let Some(send) = dead.iter().filter(|d| d["operation"] == "send").filter_map(|d| d["id"].as_i64()).min() {
            return send;
        }
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "no dead send: {list}");
        gw.clock.advance(Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
