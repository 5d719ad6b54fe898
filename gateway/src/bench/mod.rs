//! The ingress load generator (`open-cowork-gateway bench ingress`): sends signed webhook
//! requests exactly as an integrator would (Open Cowork `v1` HMAC over `v1:{ts}:{body}`, a
//! unique event id and the current timestamp per request) over keep-alive HTTP/1 connections,
//! one per concurrent client, optionally rotating `X-Forwarded-For` over a pool of addresses so
//! per-source limits can stay on, and reports throughput and latency percentiles.

pub mod conversations;
mod report;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

pub use conversations::{ConversationBench, ConversationReport};
pub use report::Report;

/// What to send.
#[derive(Clone, Debug)]
pub struct IngressBench {
    /// The webhook URL, e.g. `http://127.0.0.1:8790/webhooks/webhook` (plain HTTP).
    pub url: String,
    /// The provider's shared secret; without it requests are unsigned (for the fake provider).
    pub secret: Option<String>,
    /// Requests in total.
    pub requests: usize,
    /// Concurrent clients (one keep-alive connection each).
    pub concurrency: usize,
    /// Rotate `X-Forwarded-For` over this many addresses (0: do not send the header).
    pub forwarded_pool: usize,
    /// Distinct chats the requests spread over.
    pub chats: usize,
}

struct Target {
    addr: SocketAddr,
    host: String,
    path: String,
}

fn parse_url(url: &str) -> anyhow::Result<Target> {
    let rest =
        url.strip_prefix("http://").context("the URL must start with http:// (point it at the gateway directly)")?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .with_context(|| format!("cannot resolve {authority}"))?
        .next()
        .context("no address for the URL's host")?;
    Ok(Target { addr, host: authority.to_owned(), path })
}

/// Runs the benchmark and returns its report.
pub async fn run(bench: IngressBench) -> anyhow::Result<Report> {
    if bench.concurrency == 0 || bench.requests == 0 {
        bail!("--requests and --concurrency must be at least 1");
    }
    let target = Arc::new(parse_url(&bench.url)?);
    let run_id = format!("{:x}", SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let bench = Arc::new(bench);
    let started = Instant::now();
    // Live progress for a person watching; nothing when the output goes to a file or a script.
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr())
        .then(|| tokio::spawn(show_progress(done.clone(), bench.requests, started)));
    let mut clients = Vec::with_capacity(bench.concurrency);
    for _ in 0..bench.concurrency {
        let (target, bench, next, done, run_id) =
            (target.clone(), bench.clone(), next.clone(), done.clone(), run_id.clone());
        clients.push(tokio::spawn(async move { client(&target, &bench, &next, &done, &run_id).await }));
    }
    let mut report = Report::default();
    for client in clients {
        report.merge(client.await.context("a client task failed")??);
    }
    report.elapsed = started.elapsed();
    if let Some(progress) = progress {
        progress.abort();
        eprint!("\r\x1b[K");
    }
    Ok(report)
}

/// Rewrites one line on the terminal every second: requests answered, of how many, how fast.
async fn show_progress(done: Arc<AtomicUsize>, total: usize, started: Instant) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        eprint!("\r\x1b[K{}", progress_line(done.load(Ordering::Relaxed), total, started.elapsed()));
    }
}

/// `12,000 of 50,000 requests answered (24 %), 9,870/s`.
fn progress_line(done: usize, total: usize, elapsed: std::time::Duration) -> String {
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    let percent = done * 100 / total.max(1);
    format!(
        "{} of {} requests answered ({percent} %), {}/s",
        thousands(done),
        thousands(total),
        thousands(rate as usize)
    )
}

/// `n` with thousands separated by commas.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

async fn connect(target: &Target) -> anyhow::Result<http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(target.addr).await.context("connecting to the gateway")?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn client(
    target: &Target,
    bench: &IngressBench,
    next: &AtomicUsize,
    done: &AtomicUsize,
    run_id: &str,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut sender = connect(target).await?;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= bench.requests {
            return Ok(report);
        }
        let request = build_request(target, bench, run_id, i)?;
        if sender.ready().await.is_err() {
            sender = connect(target).await?;
        }
        let sent = Instant::now();
        match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.into_body().collect().await;
                report.record(status, sent.elapsed());
            }
            Err(_) => {
                report.record(0, sent.elapsed());
                sender = connect(target).await?;
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
}

fn build_request(
    target: &Target,
    bench: &IngressBench,
    run_id: &str,
    i: usize,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let chat = i % bench.chats.max(1);
    let body = serde_json::json!({
        "id": format!("bench-{run_id}-{i}"),
        "target": {"chatId": format!("bench-chat-{chat}")},
        "sender": {"userId": "bench-user"},
        "chatId": format!("bench-chat-{chat}"),
        "text": "benchmark message",
    })
    .to_string();
    let mut request = Request::post(target.path.as_str())
        .header("host", target.host.as_str())
        .header("content-type", "application/json");
    if let Some(secret) = &bench.secret {
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string();
        let signature = cowork_providers::signature::signature_header(secret.as_bytes(), "v1", &ts, body.as_bytes());
        request = request
            .header("x-open-cowork-gateway-webhook-timestamp", ts)
            .header("x-open-cowork-gateway-webhook-signature", signature);
    }
    if bench.forwarded_pool > 0 {
        // 198.18.0.0/15 is reserved for benchmarks; one address per pool slot.
        let n = (i % bench.forwarded_pool) as u32;
        let ip = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0)) + n);
        request = request.header("x-forwarded-for", ip.to_string());
    }
    Ok(request.body(Full::new(Bytes::from(body)))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_counts_with_separators() {
        let line = progress_line(12_000, 50_000, std::time::Duration::from_millis(1_250));
        assert_eq!(line, "12,000 of 50,000 requests answered (24 %), 9,600/s");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(progress_line(0, 0, std::time::Duration::ZERO), "0 of 0 requests answered (0 %), 0/s");
    }
}
