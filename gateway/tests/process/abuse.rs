//! Slow and abusive clients against the real binary: connections that dribble their headers or
//! their body, a flood of idle connections, huge header sets and a storm of tiny requests, all
//! at once. The limits hold (slow connections are cut off, huge headers refused with 431), the
//! gateway's memory stays bounded, and an ordinary sender keeps being answered throughout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cowork_cloud::database::testing::TestDatabase;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::harness::{DEADLINE, GatewayProcess};

const HEADER_TIMEOUT_MS: u64 = 500;
const REQUEST_TIMEOUT_MS: u64 = 1_500;
const MAX_CONNECTIONS: usize = 64;
const SLOW_HEADS: usize = 50;
const SLOW_BODIES: usize = 30;

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Writes `head`, then `dribble` one byte every 100 ms until the server closes the connection;
/// returns how long the server let it live and the status line it answered with, if any.
async fn dribble(addr: String, head: Vec<u8>, dribble: u8) -> (Duration, String) {
    let started = Instant::now();
    let Ok(mut stream) = TcpStream::connect(&addr).await else { return (started.elapsed(), String::new()) };
    if stream.write_all(&head).await.is_err() {
        return (started.elapsed(), String::new());
    }
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while started.elapsed() < DEADLINE {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if stream.write_all(&[dribble]).await.is_err() {
                    break;
                }
            }
        }
    }
    let status = String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned();
    (started.elapsed(), status)
}

/// Sends one request whose headers are too many and too large; the status line answered.
async fn huge_headers(addr: String) -> String {
    let Ok(mut stream) = TcpStream::connect(&addr).await else { return String::new() };
    let mut request = b"GET /health HTTP/1.1\r\nHost: gateway\r\n".to_vec();
    for i in 0..200 {
        request.extend_from_slice(format!("x-filler-{i}: {}\r\n", "a".repeat(4096)).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    // The server may refuse before it has read everything; what it answered is what counts.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_abusive_clients_are_cut_off_and_others_keep_being_served() {
    let db = TestDatabase::sqlite().await;
    let gateway = GatewayProcess::start_with(
        &db.url,
        1,
        &[
            ("OPEN_COWORK_GATEWAY_HEADER_READ_TIMEOUT_MS", &HEADER_TIMEOUT_MS.to_string()),
            ("OPEN_COWORK_GATEWAY_REQUEST_TIMEOUT_MS", &REQUEST_TIMEOUT_MS.to_string()),
            ("OPEN_COWORK_GATEWAY_MAX_CONNECTIONS", &MAX_CONNECTIONS.to_string()),
            ("OPEN_COWORK_GATEWAY_RATE_LIMIT_PER_SECOND", "1000000"),
            ("OPEN_COWORK_GATEWAY_RATE_LIMIT_BURST", "1000000"),
        ],
    );
    let addr = gateway.base.trim_start_matches("http://").to_owned();
    let pid = gateway.child.id();
    // Warm up: the first messages allocate what the gateway keeps (pools, caches).
    let sender = reqwest::Client::new();
    for i in 0..20 {
        let body = json!({"id": format!("warm-{i}"), "chatId": "warm", "text": "hi"});
        let status =
            sender.post(format!("{}/webhooks/fake", gateway.base)).json(&body).send().await.map(|r| r.status());
        assert_eq!(status.map(|s| s.as_u16()).unwrap_or(0), 202);
    }
    let baseline = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let (mut heads, mut bodies) = (JoinSet::new(), JoinSet::new());
    // Headers that never end, and a body that never arrives.
    let slow_head = b"POST /webhooks/fake HTTP/1.1\r\nHost: gateway\r\nx-slow: ".to_vec();
    let slow_body = b"POST /webhooks/fake HTTP/1.1\r\nHost: gateway\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{".to_vec();
    for _ in 0..SLOW_HEADS {
        heads.spawn(dribble(addr.clone(), slow_head.clone(), b'a'));
    }
    for _ in 0..SLOW_BODIES {
        bodies.spawn(dribble(addr.clone(), slow_body.clone(), b' '));
    }
    // A flood of connections that say nothing, twice the connection limit.
    let mut flood = Vec::new();
    for _ in 0..MAX_CONNECTIONS * 2 {
        if let Ok(stream) = TcpStream::connect(&addr).await {
            flood.push(stream);
        }
    }
    let mut huge = JoinSet::new();
    for _ in 0..20 {
        huge.spawn(huge_headers(addr.clone()));
    }
    // A storm of tiny requests on a few keep-alive connections.
    let mut storm = JoinSet::new();
    for _ in 0..4 {
        let base = gateway.base.clone();
        storm.spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap_or_default();
            let mut served = 0u32;
            for _ in 0..500 {
                if client.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status().is_success()) {
                    served += 1;
                }
            }
            served
        });
    }

    // Meanwhile an ordinary sender, on its own connection, keeps being answered.
    let mut slowest = Duration::ZERO;
    for i in 0..50 {
        let body = json!({"id": format!("legit-{i}"), "chatId": "legit", "text": format!("message {i}")});
        let started = Instant::now();
        let status =
            sender.post(format!("{}/webhooks/fake", gateway.base)).json(&body).send().await.map(|r| r.status());
        assert_eq!(status.map(|s| s.as_u16()).unwrap_or(0), 202, "message {i} refused under abuse");
        slowest = slowest.max(started.elapsed());
    }

    let mut cut_head = Duration::ZERO;
    while let Some(result) = heads.join_next().await {
        cut_head = cut_head.max(result.expect("slow header task").0);
    }
    let mut cut_body = Vec::new();
    while let Some(result) = bodies.join_next().await {
        cut_body.push(result.expect("slow body task"));
    }
    while let Some(result) = huge.join_next().await {
        let status = result.expect("huge-header task");
        assert!(status.contains(" 431 "), "huge headers answered {status:?}");
    }
    let mut tiny = 0;
    while let Some(result) = storm.join_next().await {
        tiny += result.expect("storm task");
    }
    // A new connection is accepted once the idle flood has been cut off.
    drop(flood);
    let started = Instant::now();
    let fresh =
        reqwest::Client::new().get(format!("{}/health", gateway.base)).send().await.map(|r| r.status().as_u16());
    assert_eq!(fresh.unwrap_or(0), 200);
    let fresh_latency = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let growth_mib = peak.load(Ordering::Relaxed).saturating_sub(baseline) / 1024;
    eprintln!(
        "abuse: slowest ordinary ack {slowest:?}, header dribblers cut after at most {cut_head:?}, {} body \
         dribblers answered, {tiny}/2000 tiny requests served, fresh connection {fresh_latency:?}, \
         RSS {} MiB -> peak +{growth_mib} MiB",
        cut_body.len(),
        baseline / 1024
    );
    let limit = Duration::from_millis(HEADER_TIMEOUT_MS);
    assert!(cut_head < limit * 8, "slow headers held a connection for {cut_head:?}");
    assert_eq!(cut_body.len(), SLOW_BODIES, "every slow body is answered");
    for (lived, status) in &cut_body {
        assert!(status.contains(" 408 "), "a slow body is answered 408, not {status:?}");
        assert!(*lived < Duration::from_millis(REQUEST_TIMEOUT_MS) * 4, "a slow body lived {lived:?}");
    }
    assert_eq!(tiny, 2000, "every tiny request is served");
    // Every connection slot can be taken by abusers, each cut off after its timeout, so a
    // sender may wait a few of those rounds; it is never refused and never starved.
    assert!(slowest < Duration::from_secs(6), "an ordinary sender waited {slowest:?}");
    assert!(growth_mib < 64, "memory grew by {growth_mib} MiB under abuse");
    gateway
        .wait_for("legit", "every ordinary message answered", |t| {
            t["messages"].as_array().is_some_and(|m| m.len() == 50)
        })
        .await;
}
