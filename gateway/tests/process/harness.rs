//! Starts the real binary on a test database and talks to it over loopback HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

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
        let mut child = Command::new(env!("CARGO_BIN_EXE_open-cowork-gateway"))
            .args(["standalone", "--listen", "127.0.0.1:0", "--database-url", database_url])
            .env("OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS", delta_ms.to_string())
            .env("OPEN_COWORK_GATEWAY_LOG_LEVEL", "warn")
            .env("OPEN_COWORK_GATEWAY_SHUTDOWN_DRAIN_TIMEOUT_MS", "5000")
            // Work held by a killed process is re-claimed once its lease expires.
            .env("OPEN_COWORK_GATEWAY_LEASE_MS", "2000")
            .env_remove("OPEN_COWORK_GATEWAY_DATA_DIR")
            .env_remove("OPEN_COWORK_CONFIG_PATH")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the gateway binary");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().expect("the gateway exited before printing its banner").expect("read stdout");
            if let Some(url) = line.split("listening on ").nth(1) {
                break url.trim().to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, base, http: reqwest::Client::new() }
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
