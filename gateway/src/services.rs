//! The shared dependencies of ingress and the workers.

use std::sync::Arc;

use cowork_cloud_client::SessionBackend;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::WorkerSettings;
use crate::dispatcher::circuit::Circuits;
use crate::dispatcher::pacing::Pacer;
use crate::metrics::Metrics;
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
}
