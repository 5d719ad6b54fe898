//! The shared dependencies of ingress and the workers.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use cowork_cloud_client::{CommandBacklog, SessionBackend};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::WorkerSettings;
use crate::dispatcher::circuit::Circuits;
use crate::dispatcher::pacing::Pacer;
use crate::metrics::Metrics;
use crate::ownership::Ownership;
use crate::redact::Redactor;
use crate::registry::ProviderRegistry;
use crate::store::GatewayStore;

/// Wake-up signals between stages (a commit wakes the stage that consumes it).
#[derive(Default)]
pub struct Wakers {
    /// New inbox rows.
    pub inbox: Arc<Notify>,
    /// New outbox rows.
    pub outbox: Arc<Notify>,
}

/// Everything a stage needs.
pub struct Services {
    /// The gateway store.
    pub store: GatewayStore,
    /// The providers.
    pub providers: ProviderRegistry,
    /// The sessions.
    pub backend: Arc<dyn SessionBackend>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Worker tuning.
    pub settings: WorkerSettings,
    /// Wake-ups.
    pub wake: Wakers,
    /// Circuit breakers per delivery destination.
    pub circuits: Circuits,
    /// Platform pacing of sends and edits.
    pub pacer: Pacer,
    /// Metrics (typed events, Prometheus exposition).
    pub metrics: Arc<Metrics>,
    /// The one redaction function, knowing the configured secrets.
    pub redactor: Arc<Redactor>,
    /// Split mode: whether the cloud's delivery stream is connected now.
    pub cloud_delivery_stream: Option<Arc<AtomicBool>>,
    /// Which channel bindings this replica works.
    pub ownership: Arc<Ownership>,
}

impl Services {
    /// The session commands waiting for a worker, when the backend reports them; a failed read
    /// is logged and reported as unknown, so health output never fails on it.
    pub async fn command_backlog(&self) -> Option<CommandBacklog> {
        match self.backend.command_backlog().await {
            Ok(backlog) => backlog,
            Err(error) => {
                tracing::warn!(%error, "could not read the session command backlog");
                None
            }
        }
    }
}

/// The session command backlog as `/ready` and `/diagnostics` show it.
pub fn command_backlog_json(backlog: &CommandBacklog) -> serde_json::Value {
    serde_json::json!({
        "runnable": backlog.runnable,
        "oldestRunnableAgeMs": backlog.oldest_runnable_age_ms,
        "stallThresholdMs": backlog.stall_threshold_ms,
        "stalled": backlog.stalled(),
    })
}
