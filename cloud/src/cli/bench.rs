//! `open-cowork-cloud bench streams`: against a running cloud, opens one session event stream
//! per thread (N threads), reads the cloud's memory with all of them idle, then sends prompts
//! and times each from sending it to the first event on its stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

use super::Failure;

/// The bench's inputs.
#[derive(clap::Args, Clone, Debug)]
pub struct StreamsBench {
    /// The cloud, e.g. http://127.0.0.1:8787.
    #[arg(long)]
    url: String,
    /// A gateway token granted the binding.
    #[arg(long, env = "OPEN_COWORK_BENCH_TOKEN", hide_env_values = true)]
    token: String,
    /// The channel binding.
    #[arg(long)]
    binding: String,
    /// Its provider.
    #[arg(long, default_value = "fake")]
    provider: String,
    /// Streams to open (one thread each).
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Prompts to time (each on its own stream).
    #[arg(long, default_value_t = 200)]
    prompts: usize,
    /// Prompts in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The cloud's process id, to report its resident memory.
    #[arg(long)]
    cloud_pid: Option<u32>,
}

fn fail(message: impl std::fmt::Display) -> Failure {
    Failure { message: message.to_string(), code: 1 }
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl StreamsBench {
    /// Runs the bench and prints its report.
    pub async fn run(self) -> Result<(), Failure> {
        let http = reqwest::Client::builder().pool_max_idle_per_host(self.streams + 64).build().map_err(fail)?;
        let base = self.url.trim_end_matches('/').to_owned();
        let post = |path: &str, body: Value| {
            let request = http.post(format!("{base}{path}")).bearer_auth(&self.token).json(&body);
            async move {
                let response = request.send().await.map_err(fail)?;
                let status = response.status();
                let body: Value = response.json().await.unwrap_or_default();
                if status.is_success() { Ok(body) } else { Err(fail(format!("{status}: {body}"))) }
            }
        };
        let identity = json!({"provider": self.provider, "channelBindingId": self.binding, "externalUserId": "bench"});
        let resolved = post("/api/channels/identities/resolve", identity).await?;
        let identity_id = resolved["identity"]["identityId"].clone();
        let before = self.cloud_pid.and_then(rss_kib);

        let bound = Instant::now();
        let mut bindings = Vec::with_capacity(self.streams);
        for n in 0..self.streams {
            let bind = json!({
                "channelBindingId": self.binding, "provider": self.provider,
                "externalChatId": format!("bench-{}", std::process::id()), "externalThreadId": format!("t{n}"),
            });
            let reply = post("/api/channels/sessions/bind", bind).await?;
            let id = reply["binding"]["bindingId"].as_str().ok_or_else(|| fail("bind answered no id"))?;
            bindings.push(id.to_owned());
        }
        let bind_secs = bound.elapsed().as_secs_f64();

        // Open every stream; each records when its first event arrives.
        let first_event: Arc<Vec<Mutex<Option<Instant>>>> =
            Arc::new((0..self.streams).map(|_| Mutex::new(None)).collect());
        let mut readers = Vec::with_capacity(self.streams);
        for (n, binding) in bindings.iter().enumerate() {
            let response = http
                .get(format!("{base}/api/channels/sessions/{binding}/events"))
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(fail)?;
            if !response.status().is_success() {
                return Err(fail(format!("stream {n}: {}", response.status())));
            }
            let first_event = first_event.clone();
            readers.push(tokio::spawn(async move {
                let mut response = response;
                while let Ok(Some(chunk)) = response.chunk().await {
                    if chunk.windows(5).any(|w| w == b"data:") {
                        let mut slot = first_event[n].lock().await;
                        slot.get_or_insert_with(Instant::now);
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = self.cloud_pid.and_then(rss_kib);

        // Time prompts: sent -> first event on the session's stream.
        let permits = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut timings = Vec::new();
        let mut tasks = Vec::new();
        for (n, binding) in bindings.iter().take(self.prompts).enumerate() {
            let permit = permits.clone().acquire_owned().await.map_err(fail)?;
            let request =
                http.post(format!("{base}/api/channels/sessions/commands")).bearer_auth(&self.token).json(&json!({
                    "bindingId": binding, "idempotencyKey": format!("bench-{n}"),
                    "identityId": identity_id, "command": {"kind": "prompt", "text": "bench", "agent": "build"},
                }));
            let first_event = first_event.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = permit;
                let sent = Instant::now();
                let accepted = request.send().await.ok().filter(|r| r.status().is_success()).map(|_| sent.elapsed());
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    if let Some(at) = *first_event[n].lock().await {
                        return accepted.map(|a| (a, at.saturating_duration_since(sent)));
                    }
                    if Instant::now() > deadline {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }));
        }
        for task in tasks {
            if let Ok(Some(timing)) = task.await {
                timings.push(timing);
            }
        }
        for reader in readers {
            reader.abort();
        }
        let mut accepted: Vec<Duration> = timings.iter().map(|t| t.0).collect();
        let mut first: Vec<Duration> = timings.iter().map(|t| t.1).collect();
        accepted.sort();
        first.sort();
        let pct = |v: &[Duration], p: f64| {
            v.get(((v.len() as f64 * p).ceil() as usize).saturating_sub(1)).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        println!("streams open:            {} ({} binds in {bind_secs:.1} s)", self.streams, self.streams);
        if let (Some(before), Some(idle)) = (before, idle) {
            println!(
                "cloud memory (RSS):      {:.1} MiB before, {:.1} MiB with the streams idle ({:.1} KiB per stream)",
                before as f64 / 1024.0,
                idle as f64 / 1024.0,
                idle.saturating_sub(before) as f64 / self.streams.max(1) as f64
            );
        }
        println!("prompts timed:           {} of {}", timings.len(), self.prompts.min(self.streams));
        println!("prompt accepted (202):   p50 {:.1} ms, p99 {:.1} ms", pct(&accepted, 0.5), pct(&accepted, 0.99));
        println!("sent -> first event:     p50 {:.1} ms, p99 {:.1} ms", pct(&first, 0.5), pct(&first, 0.99));
        if timings.len() < self.prompts.min(self.streams) {
            return Err(fail("some prompts got no event within 30 s"));
        }
        Ok(())
    }
}
