//! The end-to-end benchmark (`open-cowork-gateway bench conversations`): N signed webhooks, each
//! a new chat, through a running gateway whose `webhook` provider delivers to a receiver this
//! command runs. A conversation is complete when the receiver holds the reply's final text for
//! its chat (the demo runtime's reply to the prompt, [`DemoRuntime::final_reply`]). Reports the
//! conversations completed per second, the deliveries the receiver got per conversation by type,
//! the ack latency of the webhooks, and, given the gateway's `/metrics` on SQLite, the commits
//! and row writes per conversation as SQLite counted them.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use cowork_cloud::DemoRuntime;
use tokio::sync::Notify;

use super::{IngressBench, Report, thousands};

/// The prompt every conversation sends (what the ingress benchmark sends).
pub const PROMPT: &str = "benchmark message";

/// What to run.
#[derive(Clone, Debug)]
pub struct ConversationBench {
    /// The webhooks to send: `requests` conversations, each its own chat.
    pub ingress: IngressBench,
    /// Where the receiver listens (the provider's `deliveryUrl` points here).
    pub receiver: SocketAddr,
    /// The gateway's `/metrics`, read before and after for the store's write counters.
    pub metrics_url: Option<String>,
    /// The gateway's admin token, which `/metrics` asks for.
    pub admin_token: Option<String>,
    /// How long to wait for every conversation to complete.
    pub timeout: Duration,
}

/// What the receiver saw.
#[derive(Debug, Default)]
struct Received {
    /// Deliveries by their `type` (text, edit, buttons, file; `invalid` for a body not understood).
    by_type: BTreeMap<String, usize>,
    /// Chats whose final text arrived.
    complete: HashSet<String>,
    /// When the last of them arrived.
    last_complete: Option<Instant>,
}

struct Receiver {
    expected: String,
    target: usize,
    received: Mutex<Received>,
    all_done: Notify,
}

/// The store's write counters as `/metrics` shows them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreWrites {
    /// `open_cowork_gateway_store_commits_total`.
    pub commits: f64,
    /// `open_cowork_gateway_store_row_writes_total` by table.
    pub rows: BTreeMap<String, f64>,
}

impl StoreWrites {
    /// Reads the counters from Prometheus text (absent on Postgres: `None`).
    pub fn parse(text: &str) -> Option<Self> {
        let mut writes = Self::default();
        let mut found = false;
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            if series == "open_cowork_gateway_store_commits_total" {
                writes.commits = value;
                found = true;
            } else if let Some(labels) = series.strip_prefix("open_cowork_gateway_store_row_writes_total{table=\"") {
                let table = labels.trim_end_matches("\"}");
                writes.rows.insert(table.to_owned(), value);
            }
        }
        found.then_some(writes)
    }

    fn since(&self, before: &Self) -> Self {
        let rows = self
            .rows
            .iter()
            .map(|(table, n)| (table.clone(), n - before.rows.get(table).copied().unwrap_or(0.0)))
            .filter(|(_, n)| *n > 0.0)
            .collect();
        Self { commits: self.commits - before.commits, rows }
    }
}

/// What the run measured.
#[derive(Debug)]
pub struct ConversationReport {
    /// The webhooks' answers and ack latency.
    pub ingress: Report,
    /// Conversations started.
    pub conversations: usize,
    /// Conversations whose final text arrived.
    pub completed: usize,
    /// From the first webhook sent to the last final text received (or to the timeout).
    pub elapsed: Duration,
    /// Deliveries received by type.
    pub deliveries: BTreeMap<String, usize>,
    /// The store's writes during the run (SQLite, with `--metrics-url`).
    pub writes: Option<StoreWrites>,
}

impl ConversationReport {
    /// Completed conversations per second.
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Whether every conversation completed and every webhook was acknowledged.
    pub fn succeeded(&self) -> bool {
        self.completed == self.conversations && self.ingress.failures() == 0
    }
}

impl fmt::Display for ConversationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.conversations.max(1) as f64;
        writeln!(
            f,
            "conversations: {} of {} complete in {:.2} s: {:.0}/s",
            thousands(self.completed),
            thousands(self.conversations),
            self.elapsed.as_secs_f64(),
            self.per_second()
        )?;
        let total: usize = self.deliveries.values().sum();
        let by_type: Vec<String> = self.deliveries.iter().map(|(t, c)| format!("{t} {:.2}", *c as f64 / n)).collect();
        writeln!(f, "deliveries per conversation: {:.2} ({})", total as f64 / n, by_type.join(", "))?;
        if let Some(writes) = &self.writes {
            let rows: f64 = writes.rows.values().sum();
            let tables: Vec<String> = writes.rows.iter().map(|(t, r)| format!("{t} {:.2}", r / n)).collect();
            writeln!(f, "commits per conversation: {:.2}", writes.commits / n)?;
            writeln!(f, "row writes per conversation: {:.2} ({})", rows / n, tables.join(", "))?;
        }
        writeln!(f, "webhooks (ack latency while the workers run):")?;
        write!(f, "{}", self.ingress)
    }
}

/// Runs the benchmark.
pub async fn run(bench: ConversationBench) -> anyhow::Result<ConversationReport> {
    let conversations = bench.ingress.requests;
    let receiver = Arc::new(Receiver {
        expected: DemoRuntime::final_reply(PROMPT),
        target: conversations,
        received: Mutex::new(Received::default()),
        all_done: Notify::new(),
    });
    let listener = tokio::net::TcpListener::bind(bench.receiver)
        .await
        .with_context(|| format!("the receiver cannot listen on {}", bench.receiver))?;
    let app = axum::Router::new().fallback(post(receive)).with_state(receiver.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let before = match &bench.metrics_url {
        Some(url) => Some(store_writes(&http, url, bench.admin_token.as_deref()).await?),
        None => None,
    };
    let started = Instant::now();
    let ingress = super::run(IngressBench { chats: conversations, ..bench.ingress.clone() }).await?;
    // The receiver leaves a permit when the last one arrived before this wait began.
    let _ = tokio::time::timeout(bench.timeout.saturating_sub(started.elapsed()), receiver.all_done.notified()).await;
    let (completed, last, deliveries) = {
        let received = receiver.received.lock().map_err(|_| anyhow::anyhow!("the receiver panicked"))?;
        (received.complete.len(), received.last_complete, received.by_type.clone())
    };
    let elapsed = match last {
        Some(last) if completed == conversations => last.duration_since(started),
        _ => started.elapsed(),
    };
    let writes = match (&bench.metrics_url, before) {
        (Some(url), Some(Some(before))) => {
            let after = store_writes(&http, url, bench.admin_token.as_deref()).await?;
            // Postgres leaves the SQLite counters at zero: nothing to report.
            after.map(|after| after.since(&before)).filter(|run| run.commits > 0.0)
        }
        _ => None,
    };
    server.abort();
    Ok(ConversationReport { ingress, conversations, completed, elapsed, deliveries, writes })
}

async fn store_writes(http: &reqwest::Client, url: &str, token: Option<&str>) -> anyhow::Result<Option<StoreWrites>> {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let text = request
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("reading {url}"))?
        .text()
        .await?;
    Ok(StoreWrites::parse(&text))
}

async fn receive(State(receiver): State<Arc<Receiver>>, body: Bytes) -> &'static str {
    let delivery: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let kind = delivery.as_ref().and_then(|d| d["type"].as_str()).unwrap_or("invalid").to_owned();
    let chat = delivery.as_ref().and_then(|d| d["target"]["chatId"].as_str());
    let text = delivery.as_ref().and_then(|d| d["text"].as_str());
    if let Ok(mut received) = receiver.received.lock() {
        *received.by_type.entry(kind).or_default() += 1;
        if let (Some(chat), Some(text)) = (chat, text)
            && text == receiver.expected
            && received.complete.insert(chat.to_owned())
        {
            received.last_complete = Some(Instant::now());
            if received.complete.len() == receiver.target {
                receiver.all_done.notify_one();
            }
        }
    }
    "{}"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_writes_are_read_from_the_metrics_text() {
        let text = "# HELP open_cowork_gateway_store_commits Write transactions\n\
                    open_cowork_gateway_store_commits_total 120\n\
                    open_cowork_gateway_store_row_writes_total{table=\"gw_outbox\"} 30\n\
                    open_cowork_gateway_store_row_writes_total{table=\"gw_inbox\"} 7\n";
        let after = StoreWrites::parse(text).expect("found");
        assert_eq!(after.commits, 120.0);
        assert_eq!(after.rows.get("gw_outbox"), Some(&30.0));
        let before = StoreWrites { commits: 20.0, rows: BTreeMap::from([("gw_outbox".to_owned(), 30.0)]) };
        let run = after.since(&before);
        assert_eq!(run.commits, 100.0);
        assert_eq!(run.rows, BTreeMap::from([("gw_inbox".to_owned(), 7.0)]));
        assert_eq!(StoreWrites::parse("open_cowork_gateway_owned_bindings 1\n"), None);
    }
}
