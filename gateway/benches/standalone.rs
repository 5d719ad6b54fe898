//! Standalone latency benchmark: `cargo bench -p cowork-gateway --bench standalone`.
//!
//! For each database (SQLite in a temporary file; Postgres at `OPEN_COWORK_TEST_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`, in a schema of its own), it starts the
//! whole gateway in-process and, over real HTTP on loopback, measures:
//! - ack latency of `POST /webhooks/fake` at concurrency 16 (every ack is a durable commit),
//!   with the workers paused (ingress alone) and running (end to end);
//! - the time from an inbound message to its first rendered delta with the demo runtime, for
//!   100 messages sent one after another, each once the previous turn has finished (from the inbox row's `received_at` to the fake
//!   transcript's first `recorded_at` of that chat, both stamped by the gateway).
//!
//! Environment: `BENCH_REQUESTS` (default 4000), `BENCH_CONCURRENCY` (16), `BENCH_MESSAGES` (100).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cowork_cloud::database::Backend;
use cowork_cloud::database::testing::TestDatabase;
use cowork_gateway::app::{RunOptions, RunningGateway, start_with_database};
use cowork_gateway::config::{GatewayConfig, Storage};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct AckStats {
    p50_ms: f64,
    p99_ms: f64,
    per_second: f64,
}

async fn ack_latency(base: &str, requests: usize, concurrency: usize, tag: &str) -> AckStats {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, url, tag) = (client.clone(), next.clone(), format!("{base}/webhooks/fake"), tag.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= requests {
                    return samples;
                }
                let body = json!({"id": format!("{tag}-{i}"), "chatId": format!("{tag}-chat-{}", i % 64), "text": "benchmark"});
                let t = Instant::now();
                let response = client.post(&url).json(&body).send().await.expect("post");
                assert_eq!(response.status().as_u16(), 202);
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.expect("task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    samples.sort_by(f64::total_cmp);
    AckStats {
        p50_ms: percentile(&samples, 50.0),
        p99_ms: percentile(&samples, 99.0),
        per_second: requests as f64 / elapsed,
    }
}

async fn first_delta(base: &str, db: &cowork_cloud::database::Database, messages: usize) -> Vec<f64> {
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    for i in 0..messages {
        let chat = format!("first-delta-{i}");
        let body = json!({"id": format!("fd-{i}"), "chatId": chat, "text": "how fast is the first delta?"});
        let response = client.post(format!("{base}/webhooks/fake")).json(&body).send().await.expect("post");
        assert_eq!(response.status().as_u16(), 202);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let row: Option<(i64, i64)> = cowork_cloud::with_reader!(db, |pool| {
                sqlx::query_as(
                    "SELECT i.received_at, MIN(t.recorded_at) FROM gw_inbox i \
                     JOIN gw_fake_transcript t ON t.chat_id = $1 WHERE i.provider_event_id = $2 \
                     GROUP BY i.received_at",
                )
                .bind(&chat)
                .bind(format!("fd-{i}"))
                .fetch_optional(pool)
                .await
                .expect("query")
            });
            if let Some((received, first)) = row {
                samples.push((first - received) as f64);
                wait_until_idle(db).await;
                break;
            }
            assert!(Instant::now() < deadline, "no delta for {chat}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    samples.sort_by(f64::total_cmp);
    samples
}

/// Waits until no command is queued or running, so each message meets an idle gateway.
async fn wait_until_idle(db: &cowork_cloud::database::Database) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let open: i64 = cowork_cloud::with_reader!(db, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM cloud_commands WHERE state IN ('queued', 'pending', 'running')")
                .fetch_one(pool)
                .await
                .expect("count")
        });
        if open == 0 || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn start(backend: Backend, run_workers: bool) -> Option<(TestDatabase, RunningGateway, String)> {
    let Some(test_db) = TestDatabase::new(backend).await else {
        println!("{}: skipped (no database)", backend.name());
        return None;
    };
    let mut config = GatewayConfig::for_tests(Storage::DataDir(std::env::temp_dir()));
    // The demo pace does not change when the first delta appears; a short one keeps turns brief.
    config.cloud = Default::default();
    config.cloud.demo_delta_interval = Duration::from_millis(20);
    // One client address sends everything; the per-source limit would measure itself.
    config.ingress.per_second = 1_000_000;
    config.ingress.burst = 1_000_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let options = RunOptions { run_workers, ..RunOptions::default() };
    let gateway = start_with_database(config, test_db.db.clone(), listener, options).await.expect("start");
    let base = format!("http://{}", gateway.local_addr);
    Some((test_db, gateway, base))
}

async fn run(backend: Backend) {
    let requests = env_usize("BENCH_REQUESTS", 4000);
    let concurrency = env_usize("BENCH_CONCURRENCY", 16);
    let messages = env_usize("BENCH_MESSAGES", 100);
    for run_workers in [false, true] {
        let Some((_db, gateway, base)) = start(backend, run_workers).await else { return };
        let mode = if run_workers { "end to end" } else { "ingress alone" };
        let acks = ack_latency(&base, requests, concurrency, &mode.replace(' ', "-")).await;
        println!(
            "{:<8} {:<13} ack latency at concurrency {concurrency}: p50 {:.2} ms, p99 {:.2} ms, {:.0} requests/s ({requests} requests)",
            backend.name(),
            mode,
            acks.p50_ms,
            acks.p99_ms,
            acks.per_second
        );
        gateway.shutdown();
        gateway.wait().await.expect("stop");
    }
    // A fresh, idle gateway, so the measurement is not queued behind the ack runs' backlog.
    let Some((test_db, gateway, base)) = start(backend, true).await else { return };
    let samples = first_delta(&base, &test_db.db, messages).await;
    println!(
        "{:<8} {:<13} inbound message to first rendered delta: median {:.0} ms, p90 {:.0} ms, max {:.0} ms ({messages} messages)",
        backend.name(),
        "end to end",
        percentile(&samples, 50.0),
        percentile(&samples, 90.0),
        samples.last().copied().unwrap_or(f64::NAN)
    );
    gateway.shutdown();
    gateway.wait().await.expect("stop");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        run(Backend::Sqlite).await;
        run(Backend::Postgres).await;
    });
}
