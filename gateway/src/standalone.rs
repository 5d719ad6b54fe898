//! The embedded cloud of standalone mode: sessions, the command worker and the configured agent
//! runtime run in this process on the gateway's database (an `opencode serve` the runtime needs
//! runs as a child process); each configured provider's binding is provisioned at start.

use std::sync::Arc;

use anyhow::Context;
use cowork_cloud::database::Database;
use cowork_cloud_client::SessionBackend;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::config::GatewayConfig;

/// The in-process cloud.
pub struct EmbeddedCloud {
    service: cowork_cloud::CloudService,
    worker: std::sync::Mutex<Option<cowork_cloud::CommandWorker>>,
}

impl EmbeddedCloud {
    /// Starts the cloud on `db` and provisions a binding per provider.
    pub async fn start(
        db: &Database,
        config: &GatewayConfig,
        clock: Arc<dyn cowork_cloud::Clock>,
    ) -> anyhow::Result<Self> {
        let settings = config.cloud.service_settings(config.workers.lease);
        let runtime = cowork_cloud::runtime::assemble(&config.cloud).await?;
        let (service, worker) = cowork_cloud::CloudService::new(db.clone(), settings, runtime, clock);
        for provider in &config.providers {
            service
                .provision_binding(provider.binding_id.as_str(), provider.id.as_str(), &provider.default_agent)
                .await
                .with_context(|| format!("provisioning channel binding {}", provider.binding_id))?;
        }
        Ok(Self { service, worker: std::sync::Mutex::new(Some(worker)) })
    }

    /// The session backend the gateway talks to.
    pub fn backend(&self) -> Arc<dyn SessionBackend> {
        Arc::new(self.service.clone())
    }

    /// The command worker's run loop (once), beside the watch on its backlog.
    pub fn worker_future(&self, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        let watch = self.service.clone().watch_backlog(shutdown.clone());
        Box::pin(async move {
            if let Some(worker) = worker {
                tokio::join!(worker.run(shutdown), watch);
            }
        })
    }
}
