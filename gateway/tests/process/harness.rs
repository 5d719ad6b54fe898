//! Starts the real binary on a test database and talks to it over loopback HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The operator token split-mode gateways are started with.
pub const ADMIN_TOKEN: &str = "split-mode-operator-token-0123456789";

/// How long to wait for any condition.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A running gateway process.
pub struct GatewayProcess {
    pub child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl GatewayProcess {
    /// Starts `open-cowork-gateway standalone` on `database_url` and waits for its banner.
    pub fn start(database_url: &str, delta_ms: u64) -> Self {
        let delta = delta_ms.to_string();
        Self::spawn("standalone", database_url, &[("OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS", &delta)])
    }

    /// [`Self::start`] with more settings.
    pub fn start_with(database_url: &str, delta_ms: u64, vars: &[(&str, &str)]) -> Self {
        let delta = delta_ms.to_string();
        let mut all = vec![("OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS", delta.as_str())];
        all.extend_from_slice(vars);
        Self::spawn("standalone", database_url, &all)
    }

    /// Starts `open-cowork-gateway serve` on `database_url` against the cloud at `cloud_url`.
    pub fn start_split(database_url: &str, cloud_url: &str, token: &str) -> Self {
        Self::start_split_with(database_url, cloud_url, token, &[])
    }

    /// [`Self::start_split`] with more settings.
    pub fn start_split_with(database_url: &str, cloud_url: &str, token: &str, vars: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("OPEN_COWORK_CLOUD_BASE_URL", cloud_url),
            ("OPEN_COWORK_GATEWAY_SERVICE_TOKEN", token),
            ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN),
        ];
        all.extend_from_slice(vars);
        Self::spawn("serve", database_url, &all)
    }

    fn spawn(mode: &str, database_url: &str, vars: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_open-cowork-gateway"))
            .args([mode, "--listen", "127.0.0.1:0", "--database-url", database_url])
            .env("OPEN_COWORK_GATEWAY_LOG_LEVEL", "warn")
            .env("OPEN_COWORK_GATEWAY_SHUTDOWN_DRAIN_TIMEOUT_MS", "5000")
            // Work held by a killed process is re-claimed once its lease expires.
            .env("OPEN_COWORK_GATEWAY_LEASE_MS", "2000")
            .env_remove("OPEN_COWORK_GATEWAY_DATA_DIR")
            .env_remove("OPEN_COWORK_CONFIG_PATH")
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the gateway binary");
        let base = read_banner(&mut child, "the gateway");
        Self { child, base, http: reqwest::Client::new() }
    }

    /// GETs a JSON route: the status and the body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(path, None).await
    }

    /// GETs a JSON route with a bearer token.
    pub async fn get_as(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// POSTs a fake webhook body; returns the status.
    pub async fn post_fake(&self, body: Value) -> u16 {
        let response = self.http.post(format!("{}/webhooks/fake", self.base)).json(&body).send().await.expect("post");
        response.status().as_u16()
    }

    /// The fake transcript of a chat.
    pub async fn transcript(&self, chat: &str) -> Value {
        let url = format!("{}/fake/fake/transcript?chatId={chat}", self.base);
        self.http.get(url).send().await.expect("get").json().await.expect("json")
    }

    /// Waits until `condition` holds on the chat's transcript.
    pub async fn wait_for(&self, chat: &str, what: &str, condition: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let transcript = self.transcript(chat).await;
            if condition(&transcript) {
                return transcript;
            }
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}: {transcript:#}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `kill -9`.
    pub fn kill_hard(mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the `listening on <url>` line of a child's banner and returns the URL; stdout keeps
/// being drained afterwards so the child never blocks on a full pipe.
pub fn read_banner(child: &mut Child, who: &str) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().unwrap_or_else(|| panic!("{who} exited before its banner")).expect("read stdout");
        if let Some(url) = line.split("listening on ").nth(1) {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    base
}

/// POSTs `body` to a webhook provider's route, signed with `secret` as a sender would, with
/// `extra` headers; returns the status.
pub async fn post_signed(url: &str, secret: &str, body: &str, extra: &[(&str, &str)]) -> u16 {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        .to_string();
    let signature = cowork_providers::signature::signature_header(secret.as_bytes(), "v1", &ts, body.as_bytes());
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-open-cowork-gateway-webhook-timestamp", ts)
        .header("x-open-cowork-gateway-webhook-signature", signature)
        .body(body.to_owned());
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.map(|response| response.status().as_u16()).unwrap_or(0)
}
