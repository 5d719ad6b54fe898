//! The end-to-end harness: a whole gateway (ingress, inbox, sessions with the demo runtime,
//! renderer, dispatcher) started in-process on port 0 over a fresh SQLite file or Postgres
//! schema, driven over real HTTP on loopback. Scenarios live in `tests/scenarios/`.

mod openai_mock;
mod receiver;
mod slack_mock;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cowork_cloud::ManualClock;
use cowork_cloud::database::Backend;
use cowork_cloud::database::testing::TestDatabase;
use cowork_gateway::app::{RunOptions, RunningGateway, start_with_database};
use cowork_gateway::config::{GatewayConfig, Secret, Storage};
use cowork_gateway::registry::ProviderWrapper;
use serde_json::{Value, json};

pub use cowork_cloud::database::Backend as DatabaseBackend;
pub use openai_mock::{OPENAI_ANSWER, OpenAiMock};
pub use receiver::{Received, WebhookReceiver};
pub use slack_mock::{SLACK_BOT_TOKEN, SlackCall, SlackMock};

/// The signing secret of the Slack provider [`Builder::slack`] adds.
pub const SLACK_SIGNING_SECRET: &str = "e2e-slack-signing-secret";
/// The Slack team the provider serves.
pub const SLACK_TEAM: &str = "T0E2ETEAM";

/// The shared secret of the webhook provider [`Builder::webhook`] adds.
pub const WEBHOOK_SECRET: &str = "e2e-webhook-secret";
/// The email provider's `inboundSecret` (header `x-open-cowork-gateway-email-secret`).
pub const EMAIL_SECRET: &str = "e2e-email-inbound-secret";
/// The From of the email provider's replies.
pub const EMAIL_FROM: &str = "agent@gateway.test";
/// The email provider's `maxAttachmentBytes`.
pub const EMAIL_MAX_ATTACHMENT_BYTES: u64 = 4096;

/// Signs `body` the way integrators do, at `ts` (unix seconds): the two Open Cowork headers.
pub fn webhook_headers(secret: &str, ts: i64, body: &[u8]) -> [(&'static str, String); 2] {
    let ts = ts.to_string();
    let signature = cowork_providers::signature::signature_header(secret.as_bytes(), "v1", &ts, body);
    [("x-open-cowork-gateway-webhook-timestamp", ts), ("x-open-cowork-gateway-webhook-signature", signature)]
}

/// How long a scenario waits for a condition before failing.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A running in-process gateway.
pub struct TestGateway {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The clock the gateway runs on; tests move it to reach retry times and expiries.
    pub clock: ManualClock,
    gateway: Option<RunningGateway>,
    /// Shared by the replicas started beside this gateway.
    test_db: Arc<TestDatabase>,
    admin_token: Option<String>,
}

/// Builds a [`TestGateway`].
pub struct Builder {
    backend: Backend,
    config: GatewayConfig,
    wrap_providers: Option<ProviderWrapper>,
    clock: Option<ManualClock>,
}

impl Builder {
    /// Changes the configuration before start.
    pub fn configure(mut self, change: impl FnOnce(&mut GatewayConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// The configuration the gateway will start with.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Protects the operator API with this admin token ([`TestGateway::admin_get`] and
    /// [`TestGateway::admin_post`] present it).
    pub fn admin_token(mut self, token: &str) -> Self {
        self.config.operator.admin_token = Some(Secret::new(token.to_owned()));
        self
    }

    /// Runs the gateway on `clock` (to share it with a mock that stamps calls with it).
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Wraps every provider instance (to make a platform misbehave).
    pub fn wrap_providers(mut self, wrap: ProviderWrapper) -> Self {
        self.wrap_providers = Some(wrap);
        self
    }

    /// Adds the providers of a `gateway.providers` array, parsed as the gateway parses
    /// `OPEN_COWORK_GATEWAY_PROVIDERS`.
    fn providers(mut self, entries: Value) -> Self {
        let env = std::collections::HashMap::from([("OPEN_COWORK_GATEWAY_PROVIDERS".to_owned(), entries.to_string())]);
        let parsed = GatewayConfig::load(std::path::Path::new("/nonexistent"), &env, &Default::default())
            .unwrap_or_else(|e| panic!("test provider config: {e}"));
        self.config.providers.extend(parsed.providers);
        self
    }

    /// Adds a webhook provider (id `webhook`, binding `webhook-binding`, secret [`WEBHOOK_SECRET`])
    /// delivering to `delivery_url` on loopback.
    pub fn webhook(self, delivery_url: &str) -> Self {
        let entry = serde_json::json!([{
            "id": "webhook", "kind": "webhook", "channelBindingId": "webhook-binding",
            "credentials": {"sharedSecret": WEBHOOK_SECRET},
            "settings": {"deliveryUrl": delivery_url, "allowPrivateDelivery": true, "maxAttachmentBytes": 4096},
        }]);
        self.providers(entry)
    }

    /// Adds a Slack provider (id `slack`, team [`SLACK_TEAM`], bot user `UBOT`) whose Web API is
    /// the mock at `api_base_url`.
    pub fn slack(self, api_base_url: &str) -> Self {
        let entry = serde_json::json!([{
            "id": "slack", "kind": "slack", "channelBindingId": "slack-binding", "externalWorkspaceId": SLACK_TEAM,
            "credentials": {"botToken": SLACK_BOT_TOKEN, "signingSecret": SLACK_SIGNING_SECRET},
            "settings": {"apiBaseUrl": api_base_url, "botUserId": "UBOT"},
        }]);
        self.providers(entry)
    }

    /// Adds an email provider (id `email`, binding `email-binding`, secret [`EMAIL_SECRET`],
    /// From [`EMAIL_FROM`]) sending over STARTTLS to the test SMTP server, whose CA it trusts.
    pub fn email(self, smtp: &cowork_providers::email::test_smtp::TestSmtpServer) -> Self {
        let entry = serde_json::json!([{
            "id": "email", "kind": "email", "channelBindingId": "email-binding",
            "credentials": {"inboundSecret": EMAIL_SECRET},
            "settings": {
                "from": format!("Agent <{EMAIL_FROM}>"), "smtpHost": "127.0.0.1", "smtpPort": smtp.port(),
                "smtpSecurity": "starttls", "smtpRootCertificates": smtp.ca_certificate_pem(),
                "maxAttachmentBytes": EMAIL_MAX_ATTACHMENT_BYTES,
            },
        }]);
        self.providers(entry)
    }

    /// Starts the gateway, or `None` when Postgres is unavailable outside CI (a loud skip).
    pub async fn start(self) -> Option<TestGateway> {
        let test_db = Arc::new(TestDatabase::new(self.backend).await?);
        let db = test_db.db.clone();
        let clock = self.clock.clone().unwrap_or_default();
        Some(self.launch(test_db, db, clock).await)
    }

    /// Starts another replica beside `first`: the same database (through a pool of its own) and
    /// the same clock. Give it its own `ownership.instance_id`.
    pub async fn start_beside(self, first: &TestGateway) -> TestGateway {
        let settings = cowork_cloud::database::PoolSettings::default();
        let db = cowork_cloud::database::Database::open_url(&first.test_db.url, &settings).await.expect("open");
        self.launch(first.test_db.clone(), db, first.clock.clone()).await
    }

    async fn launch(
        self,
        test_db: Arc<TestDatabase>,
        db: cowork_cloud::database::Database,
        clock: ManualClock,
    ) -> TestGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let options =
            RunOptions { clock: Arc::new(clock.clone()), run_workers: true, wrap_providers: self.wrap_providers };
        let admin_token = self.config.operator.admin_token.as_ref().map(|t| t.expose().to_owned());
        let gateway = start_with_database(self.config, db, listener, options).await.expect("start");
        let base = format!("http://{}", gateway.local_addr);
        TestGateway { base, http: reqwest::Client::new(), clock, gateway: Some(gateway), test_db, admin_token }
    }
}

impl TestGateway {
    /// A builder with test defaults (fake provider, fast demo runtime, short polls).
    pub fn builder(backend: Backend) -> Builder {
        let mut config = GatewayConfig::for_tests(Storage::DataDir(std::env::temp_dir()));
        config.workers.poll_interval = Duration::from_millis(25);
        Builder { backend, config, wrap_providers: None, clock: None }
    }

    /// POSTs `body` as JSON to `/webhooks/fake`.
    pub async fn post_fake(&self, body: Value) -> (u16, Value) {
        self.post("/webhooks/fake", "application/json", body.to_string().into_bytes()).await
    }

    /// POSTs raw bytes.
    pub async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a signed webhook body to `/webhooks/webhook` at `ts`, with extra headers.
    pub async fn post_signed(&self, body: &[u8], ts: i64, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut request =
            self.http.post(format!("{}/webhooks/webhook", self.base)).header("content-type", "application/json");
        for (name, value) in webhook_headers(WEBHOOK_SECRET, ts, body) {
            request = request.header(name, value);
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let response = request.body(body.to_vec()).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a raw mail (`message/rfc822`) to `/webhooks/email` with `secret` (none: no header).
    pub async fn post_email(&self, raw: &[u8], secret: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/webhooks/email", self.base))
            .header("content-type", "message/rfc822")
            .body(raw.to_vec());
        if let Some(secret) = secret {
            request = request.header(cowork_providers::email::SECRET_HEADER, secret);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a Slack-signed body to `/webhooks/slack` at `ts`.
    pub async fn post_slack(&self, body: &[u8], content_type: &str, ts: i64, extra: &[(&str, &str)]) -> (u16, Value) {
        let ts_text = ts.to_string();
        let signature =
            cowork_providers::signature::signature_header(SLACK_SIGNING_SECRET.as_bytes(), "v0", &ts_text, body);
        let mut request = self
            .http
            .post(format!("{}/webhooks/slack", self.base))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts_text)
            .header("x-slack-signature", signature);
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let response = request.body(body.to_vec()).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The gateway's clock in unix seconds (for signing).
    pub fn now_secs(&self) -> i64 {
        use cowork_cloud::Clock;
        self.clock.now_ms() / 1000
    }

    /// GETs a path as JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GETs an operator route with the admin token as a bearer token.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let response = self.admin(self.http.get(format!("{}{path}", self.base))).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs JSON to an operator route with the admin token as a bearer token.
    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let request = self.http.post(format!("{}{path}", self.base)).json(&body);
        let response = self.admin(request).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GETs an operator route as text (for `/metrics`): status, content type, body.
    pub async fn admin_text(&self, path: &str) -> (u16, String, String) {
        let response = self.admin(self.http.get(format!("{}{path}", self.base))).send().await.expect("request");
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (status, content_type, response.text().await.unwrap_or_default())
    }

    fn admin(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.admin_token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Waits until `condition` holds for `GET /deliveries/{id}` (polled as admin), moving the
    /// clock by `tick` each round; returns the last answer.
    pub async fn wait_for_delivery(
        &self,
        id: i64,
        what: &str,
        tick: Duration,
        condition: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let (status, body) = self.admin_get(&format!("/deliveries/{id}")).await;
            if status == 200 && condition(&body) {
                return body;
            }
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}; delivery: {body:#}");
            self.clock.advance(tick);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The fake provider's transcript of one chat.
    pub async fn transcript(&self, chat: &str) -> Value {
        let (status, body) = self.get(&format!("/fake/fake/transcript?chatId={chat}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The chat's messages (current state).
    pub async fn messages(&self, chat: &str) -> Vec<Value> {
        self.transcript(chat).await["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `condition` holds for the chat's transcript; panics with `what` and the last
    /// transcript after [`DEADLINE`]. Each round also moves the clock by `tick`.
    pub async fn wait_for(&self, chat: &str, what: &str, tick: Duration, condition: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let transcript = self.transcript(chat).await;
            if condition(&transcript) {
                return transcript;
            }
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}; transcript: {transcript:#}");
            self.clock.advance(tick);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Counts rows with a raw SQL `SELECT COUNT(*) ...` (for checks that nothing was stored).
    pub async fn count(&self, sql: &str) -> i64 {
        cowork_cloud::with_reader!(&self.test_db.db, |pool| {
            sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.expect("count query")
        })
    }

    /// Closes the database under the running gateway (to see it become not ready).
    pub async fn close_database(&self) {
        self.test_db.db.close().await;
    }

    /// Stops the gateway and waits for it.
    pub async fn stop(mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown();
            gateway.wait().await.expect("clean stop");
        }
    }
}

/// The text of the buttons of a message, with their handles.
pub fn buttons(message: &Value) -> Vec<(String, String)> {
    message["buttons"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .map(|b| {
            (b["label"].as_str().unwrap_or_default().to_owned(), b["handle"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// A fake webhook body.
pub fn message(id: &str, chat: &str, text: &str) -> Value {
    json!({"id": id, "chatId": chat, "text": text})
}

/// A fake button click.
pub fn click(id: &str, chat: &str, handle: &str, user: &str) -> Value {
    json!({"id": id, "chatId": chat, "userId": user, "interaction": {"id": id, "token": handle}})
}

/// Declares `sqlite_<name>` and `postgres_<name>` tests for each `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::DatabaseBackend::Sqlite).await; }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::DatabaseBackend::Postgres).await; }
            )*
        }
    };
}
