//! The gateway's Prometheus metrics: every name and label set is declared here, once; code
//! reports typed events (`metrics.inbound_accepted(&provider)`, `metrics.delivery_retried(&provider)`)
//! and never builds a label by hand. Backlog gauges are computed from the store at scrape time.
//!
//! `GET /metrics` serves the Prometheus text format 0.0.4 (`text/plain; version=0.0.4`), as
//! Open Cowork does. Label values are bounded: provider ids come from the configuration (a
//! request for an unknown provider is labelled `_unknown`), reasons are ingress error codes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use cowork_cloud_client::CommandBacklog;
use cowork_providers::{ProviderId, ProviderKind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::config::ProviderConfig;
use crate::store::{BindingBacklog, GatewayStore, Millis};

/// The `Content-Type` of `GET /metrics`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The `provider` label of requests for a provider that is not configured (provider ids must
/// start with a letter, so this cannot collide with one).
pub const UNKNOWN_PROVIDER: &str = "_unknown";

/// Ack-latency buckets in seconds: 0.5 ms to 5 s.
const ACK_BUCKETS: [f64; 13] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Metric names (counters get `_total` appended by the encoder) and their help texts.
mod names {
    pub const PROVIDER_STATE: (&str, &str) =
        ("open_cowork_gateway_provider_state", "Provider lifecycle state (one-hot over the states)");
    pub const RETRIES: (&str, &str) =
        ("open_cowork_gateway_provider_delivery_retries", "Delivery attempts that failed and will be retried");
    pub const DEAD_LETTERS: (&str, &str) =
        ("open_cowork_gateway_provider_delivery_dead_letters", "Deliveries given up (dead-lettered)");
    pub const SENT: (&str, &str) = ("open_cowork_gateway_provider_deliveries_sent", "Deliveries the platform accepted");
    pub const ACCEPTED: (&str, &str) =
        ("open_cowork_gateway_inbound_accepted", "Webhook requests acknowledged with a 2xx (after the durable commit)");
    pub const REJECTED: (&str, &str) =
        ("open_cowork_gateway_inbound_rejected", "Webhook requests refused, by ingress error code");
    pub const IGNORED: (&str, &str) = (
        "open_cowork_gateway_inbound_ignored",
        "Inbound events recorded without prompting (auto-replies, senders not allowed), by reason",
    );
    pub const ACK_SECONDS: (&str, &str) =
        ("open_cowork_gateway_ack_seconds", "Time from a webhook request's arrival to its answer, in seconds");
    pub const BACKLOG: (&str, &str) = (
        "open_cowork_gateway_delivery_backlog",
        "Outbox rows per binding and state (pending, claimed, retrying, dead)",
    );
    pub const RUNNABLE_COMMANDS: (&str, &str) = (
        "open_cowork_gateway_session_commands_runnable",
        "Session commands due now that no worker runs (embedded cloud)",
    );
    pub const OLDEST_RUNNABLE: (&str, &str) = (
        "open_cowork_gateway_session_command_oldest_runnable_age_seconds",
        "How long the oldest due session command has waited for a worker (embedded cloud)",
    );
    pub const OWNED_BINDINGS: (&str, &str) =
        ("open_cowork_gateway_owned_bindings", "Channel bindings this replica holds and acts on now");
    pub const OWNERSHIP_CHANGES: (&str, &str) =
        ("open_cowork_gateway_ownership_changes", "Channel bindings this replica took, handed over or lost");
    pub const FENCED_WRITES: (&str, &str) = (
        "open_cowork_gateway_fenced_writes_refused",
        "Writes refused because their channel binding has a new owner (an older epoch)",
    );
    pub const SPANS_DROPPED: (&str, &str) = (
        "open_cowork_gateway_trace_spans_dropped",
        "Trace spans dropped because the OTLP exporter's queue was full or the collector refused or missed them",
    );
    pub const STORE_COMMITS: (&str, &str) = (
        "open_cowork_gateway_store_commits",
        "Write transactions committed to the SQLite database (Postgres: see pg_stat_database)",
    );
    pub const STORE_ROW_WRITES: (&str, &str) = (
        "open_cowork_gateway_store_row_writes",
        "Rows inserted, updated or deleted by committed transactions in the SQLite database, by table",
    );
    pub const OLDEST_OPEN: (&str, &str) = (
        "open_cowork_gateway_delivery_oldest_open_age_seconds",
        "Age of the oldest undelivered (pending, claimed or retrying) outbox row per binding",
    );
}

/// This replica's ownership figures at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnershipFigures {
    /// Bindings held and trusted now.
    pub owned: usize,
    /// Ownership changes so far.
    pub changes: u64,
    /// Fenced writes refused so far.
    pub refused_writes: u64,
}

/// `{provider}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

/// `{provider, kind, state}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderStateLabels {
    provider: String,
    kind: String,
    state: String,
}

/// `{provider, reason}` (refused requests, ignored events).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    provider: String,
    reason: String,
}

/// `{binding, state}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BacklogLabels {
    binding: String,
    state: String,
}

/// `{binding}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BindingLabels {
    binding: String,
}

/// `{table}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: String,
}

/// A provider's lifecycle state (Open Cowork's set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderState {
    /// Configured, not started.
    Configured,
    /// Starting.
    Starting,
    /// Running and believed to work.
    Healthy,
    /// Running, but failing (for example credentials refused).
    Unhealthy,
    /// Could not start.
    Failed,
    /// Stopped.
    Stopped,
}

impl ProviderState {
    const ALL: [Self; 6] =
        [Self::Configured, Self::Starting, Self::Healthy, Self::Unhealthy, Self::Failed, Self::Stopped];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "configured",
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }
}

fn ack_histogram() -> Histogram {
    Histogram::new(ACK_BUCKETS)
}

/// The gateway's metrics registry and its typed events.
pub struct Metrics {
    registry: Registry,
    provider_state: Family<ProviderStateLabels, Gauge>,
    retries: Family<ProviderLabels, Counter>,
    dead_letters: Family<ProviderLabels, Counter>,
    sent: Family<ProviderLabels, Counter>,
    accepted: Family<ProviderLabels, Counter>,
    rejected: Family<ReasonLabels, Counter>,
    ignored: Family<ReasonLabels, Counter>,
    ack_seconds: Family<ProviderLabels, Histogram, fn() -> Histogram>,
    backlog: Family<BacklogLabels, Gauge>,
    oldest_open: Family<BindingLabels, Gauge<f64, AtomicU64>>,
    runnable_commands: Gauge,
    oldest_runnable: Gauge<f64, AtomicU64>,
    owned_bindings: Gauge,
    ownership_changes: Counter,
    fenced_writes: Counter,
    spans_dropped: Counter,
    store_commits: Counter,
    store_row_writes: Family<TableLabels, Counter>,
    /// The per-request series of each configured provider, resolved once so the ingress hot
    /// path neither allocates label sets nor hashes them: (accepted counter, ack histogram).
    per_provider: HashMap<String, (Counter, Histogram)>,
    /// The configured bindings, whose backlog series exist (at zero) even when empty.
    bindings: Vec<String>,
    /// Provider states for diagnostics, by provider id: (kind, state).
    states: Mutex<BTreeMap<String, (ProviderKind, ProviderState)>>,
    /// Serializes scrapes (each one rebuilds the backlog gauges).
    scrape: tokio::sync::Mutex<()>,
}

impl Metrics {
    /// Declares every metric; the configured providers start at zero (so a series exists before
    /// its first event) in state `configured`.
    pub fn new(providers: &[ProviderConfig]) -> Self {
        let mut metrics = Self {
            registry: Registry::default(),
            provider_state: Family::default(),
            retries: Family::default(),
            dead_letters: Family::default(),
            sent: Family::default(),
            accepted: Family::default(),
            rejected: Family::default(),
            ignored: Family::default(),
            ack_seconds: Family::new_with_constructor(ack_histogram as fn() -> Histogram),
            backlog: Family::default(),
            oldest_open: Family::default(),
            runnable_commands: Gauge::default(),
            oldest_runnable: Gauge::default(),
            owned_bindings: Gauge::default(),
            ownership_changes: Counter::default(),
            fenced_writes: Counter::default(),
            spans_dropped: Counter::default(),
            store_commits: Counter::default(),
            store_row_writes: Family::default(),
            per_provider: HashMap::new(),
            bindings: Vec::new(),
            states: Mutex::new(BTreeMap::new()),
            scrape: tokio::sync::Mutex::new(()),
        };
        let registry = &mut metrics.registry;
        registry.register(names::PROVIDER_STATE.0, names::PROVIDER_STATE.1, metrics.provider_state.clone());
        registry.register(names::RETRIES.0, names::RETRIES.1, metrics.retries.clone());
        registry.register(names::DEAD_LETTERS.0, names::DEAD_LETTERS.1, metrics.dead_letters.clone());
        registry.register(names::SENT.0, names::SENT.1, metrics.sent.clone());
        registry.register(names::ACCEPTED.0, names::ACCEPTED.1, metrics.accepted.clone());
        registry.register(names::REJECTED.0, names::REJECTED.1, metrics.rejected.clone());
        registry.register(names::IGNORED.0, names::IGNORED.1, metrics.ignored.clone());
        registry.register(names::ACK_SECONDS.0, names::ACK_SECONDS.1, metrics.ack_seconds.clone());
        registry.register(names::BACKLOG.0, names::BACKLOG.1, metrics.backlog.clone());
        registry.register(names::OLDEST_OPEN.0, names::OLDEST_OPEN.1, metrics.oldest_open.clone());
        registry.register(names::RUNNABLE_COMMANDS.0, names::RUNNABLE_COMMANDS.1, metrics.runnable_commands.clone());
        registry.register(names::OLDEST_RUNNABLE.0, names::OLDEST_RUNNABLE.1, metrics.oldest_runnable.clone());
        registry.register(names::OWNED_BINDINGS.0, names::OWNED_BINDINGS.1, metrics.owned_bindings.clone());
        registry.register(names::OWNERSHIP_CHANGES.0, names::OWNERSHIP_CHANGES.1, metrics.ownership_changes.clone());
        registry.register(names::FENCED_WRITES.0, names::FENCED_WRITES.1, metrics.fenced_writes.clone());
        registry.register(names::SPANS_DROPPED.0, names::SPANS_DROPPED.1, metrics.spans_dropped.clone());
        registry.register(names::STORE_COMMITS.0, names::STORE_COMMITS.1, metrics.store_commits.clone());
        registry.register(names::STORE_ROW_WRITES.0, names::STORE_ROW_WRITES.1, metrics.store_row_writes.clone());
        for provider in providers {
            let labels = ProviderLabels { provider: provider.id.to_string() };
            for family in [&metrics.retries, &metrics.dead_letters, &metrics.sent, &metrics.accepted] {
                drop(family.get_or_create(&labels));
            }
            metrics.set_provider_state(&provider.id, provider.kind(), ProviderState::Configured);
            let series =
                (metrics.accepted.get_or_create_owned(&labels), metrics.ack_seconds.get_or_create_owned(&labels));
            metrics.per_provider.insert(provider.id.to_string(), series);
            metrics.bindings.push(provider.binding_id.to_string());
        }
        metrics.bindings.sort();
        metrics.bindings.dedup();
        metrics
    }

    /// The counter of trace spans the exporter dropped (it counts from its own thread).
    pub fn spans_dropped(&self) -> Counter {
        self.spans_dropped.clone()
    }

    /// A webhook request was acknowledged (2xx).
    pub fn inbound_accepted(&self, provider: &ProviderId) {
        match self.per_provider.get(provider.as_str()) {
            Some((accepted, _)) => {
                accepted.inc();
            }
            None => {
                self.accepted.get_or_create(&provider_labels(Some(provider))).inc();
            }
        }
    }

    /// A webhook request was refused with ingress error code `reason`; `provider` is `None`
    /// when the path named no configured provider.
    pub fn inbound_rejected(&self, provider: Option<&ProviderId>, reason: &str) {
        let provider = provider_labels(provider).provider;
        self.rejected.get_or_create(&ReasonLabels { provider, reason: reason.to_owned() }).inc();
    }

    /// An inbound event was recorded without prompting, for `reason`.
    pub fn inbound_ignored(&self, provider: &ProviderId, reason: &str) {
        let provider = provider.to_string();
        self.ignored.get_or_create(&ReasonLabels { provider, reason: reason.to_owned() }).inc();
    }

    /// A webhook request was answered after `elapsed`.
    pub fn ack_latency(&self, provider: Option<&ProviderId>, elapsed: Duration) {
        match provider.and_then(|p| self.per_provider.get(p.as_str())) {
            Some((_, histogram)) => histogram.observe(elapsed.as_secs_f64()),
            None => self.ack_seconds.get_or_create(&provider_labels(provider)).observe(elapsed.as_secs_f64()),
        }
    }

    /// A delivery reached the platform.
    pub fn delivery_sent(&self, provider: &ProviderId) {
        self.sent.get_or_create(&provider_labels(Some(provider))).inc();
    }

    /// A delivery attempt failed and will be retried.
    pub fn delivery_retried(&self, provider: &ProviderId) {
        self.retries.get_or_create(&provider_labels(Some(provider))).inc();
    }

    /// A delivery was dead-lettered.
    pub fn delivery_dead_lettered(&self, provider: &ProviderId) {
        self.dead_letters.get_or_create(&provider_labels(Some(provider))).inc();
    }

    /// Sets a provider's lifecycle state (the gauge is one-hot over all states).
    pub fn set_provider_state(&self, provider: &ProviderId, kind: ProviderKind, state: ProviderState) {
        for each in ProviderState::ALL {
            let labels = ProviderStateLabels {
                provider: provider.to_string(),
                kind: kind.as_str().to_owned(),
                state: each.as_str().to_owned(),
            };
            self.provider_state.get_or_create(&labels).set(i64::from(each == state));
        }
        if let Ok(mut states) = self.states.lock() {
            states.insert(provider.to_string(), (kind, state));
        }
    }

    /// Every provider's kind and state, by provider id.
    pub fn provider_states(&self) -> Vec<(String, ProviderKind, ProviderState)> {
        match self.states.lock() {
            Ok(states) => states.iter().map(|(id, (kind, state))| (id.clone(), *kind, *state)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Refreshes the backlog gauges from the store (and the session commands' from `commands`,
    /// when the backend reports them) and encodes everything as Prometheus text.
    pub async fn render(
        &self,
        store: &GatewayStore,
        commands: Option<CommandBacklog>,
        ownership: OwnershipFigures,
        now: Millis,
    ) -> String {
        let _one_at_a_time = self.scrape.lock().await;
        self.owned_bindings.set(i64::try_from(ownership.owned).unwrap_or(i64::MAX));
        // The totals live with the ownership; the counters catch up to them.
        self.ownership_changes.inc_by(ownership.changes.saturating_sub(self.ownership_changes.get()));
        self.fenced_writes.inc_by(ownership.refused_writes.saturating_sub(self.fenced_writes.get()));
        // A database outage is when the other figures matter most: the backlog keeps its last
        // values and the rest is still served.
        match store.delivery_backlog().await {
            Ok(backlog) => self.set_backlog(&backlog, now),
            Err(error) => tracing::warn!(%error, "could not read the delivery backlog for the metrics"),
        }
        if let Some(writes) = store.database().write_counts() {
            self.store_commits.inc_by(writes.commits.saturating_sub(self.store_commits.get()));
            for (table, rows) in writes.rows {
                let counter = self.store_row_writes.get_or_create(&TableLabels { table });
                counter.inc_by(rows.saturating_sub(counter.get()));
            }
        }
        if let Some(commands) = commands {
            self.runnable_commands.set(i64::try_from(commands.runnable).unwrap_or(i64::MAX));
            self.oldest_runnable.set(commands.oldest_runnable_age_ms.unwrap_or(0) as f64 / 1000.0);
        }
        self.encode()
    }

    fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an error here would be an encoder bug.
        if prometheus_text::encode(&mut text, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        text
    }

    fn set_backlog(&self, backlog: &[BindingBacklog], now: Millis) {
        // Bindings whose rows were all delivered or pruned disappear from the gauges.
        self.backlog.clear();
        self.oldest_open.clear();
        let idle = self.bindings.iter().filter(|b| !backlog.iter().any(|found| &found.binding_id == *b));
        let idle: Vec<BindingBacklog> =
            idle.map(|b| BindingBacklog { binding_id: b.clone(), ..BindingBacklog::default() }).collect();
        for binding in backlog.iter().chain(&idle) {
            let counts = [
                ("pending", binding.pending),
                ("claimed", binding.claimed),
                ("retrying", binding.retrying),
                ("dead", binding.dead),
            ];
            for (state, count) in counts {
                let labels = BacklogLabels { binding: binding.binding_id.clone(), state: state.to_owned() };
                self.backlog.get_or_create(&labels).set(i64::try_from(count).unwrap_or(i64::MAX));
            }
            let age = binding.oldest_open_created_at.map_or(0, |created| now.saturating_sub(created).max(0));
            let labels = BindingLabels { binding: binding.binding_id.clone() };
            self.oldest_open.get_or_create(&labels).set(age as f64 / 1000.0);
        }
    }
}

fn provider_labels(provider: Option<&ProviderId>) -> ProviderLabels {
    ProviderLabels { provider: provider.map_or_else(|| UNKNOWN_PROVIDER.to_owned(), ToString::to_string) }
}

#[cfg(test)]
mod tests;
