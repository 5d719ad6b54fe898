//! The embedded cloud of standalone mode: sessions, the command worker and the configured agent
//! runtime run in this process on the gateway's database (an `opencode serve` the runtime needs
//! runs as a child process); each configured provider's binding is provisioned at start.

use std::sync::Arc;

use anyhow::Context;
use cowork_cloud::database::Database;
use cowork_cloud_client::SessionBackend;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use cowork_cloud::runtime::{
    AgentRuntime, DemoRuntime, ManagedServer, OpenAiRuntime, OpenAiSettings, OpenCodeRuntime, OpenCodeSettings,
};
use cowork_providers::egress::{EgressRules, SystemResolver};

use crate::config::{CloudConfig, GatewayConfig, OpenCodeConfig, RuntimeChoice};

/// The configured agent runtime (an `opencode serve` it needs is started here).
async fn agent_runtime(cloud: &CloudConfig) -> anyhow::Result<Arc<dyn AgentRuntime>> {
    Ok(match &cloud.runtime {
        RuntimeChoice::Demo => Arc::new(DemoRuntime::new(cloud.demo_delta_interval)),
        RuntimeChoice::OpenAi(openai) => {
            let settings = OpenAiSettings {
                base_url: openai.base_url.clone(),
                model: openai.model.clone(),
                api_key: openai.api_key.as_ref().map(|key| key.expose().to_owned()),
                system_prompt: openai.system_prompt.clone(),
                tools_enabled: openai.tools_enabled,
                declared_tools: openai.declared_tools.clone(),
                ..OpenAiSettings::default()
            };
            // Pages the agent fetches come from traffic: the full egress policy applies.
            let runtime = OpenAiRuntime::new(settings)
                .map_err(|reason| anyhow::anyhow!("cloud.openai: {reason}"))?
                .with_egress(Arc::new(SystemResolver), EgressRules::default());
            Arc::new(runtime)
        }
        RuntimeChoice::OpenCode(opencode) => Arc::new(
            OpenCodeRuntime::start(opencode_settings(opencode)?)
                .await
                .map_err(|reason| anyhow::anyhow!("cloud.opencode: {reason}"))?,
        ),
    })
}

/// The OpenCode runtime's settings from the gateway's config.
fn opencode_settings(opencode: &OpenCodeConfig) -> anyhow::Result<OpenCodeSettings> {
    let defaults = OpenCodeSettings::default();
    let server = match &opencode.binary {
        Some(binary) => {
            let directory = match &opencode.directory {
                Some(directory) => directory.clone(),
                None => std::env::current_dir().context("finding the working directory for opencode serve")?,
            };
            Some(ManagedServer {
                binary: binary.clone(),
                directory,
                config_path: opencode.config_path.clone(),
                state_dir: opencode.state_dir.clone(),
                start_timeout: OPENCODE_START_TIMEOUT,
            })
        }
        None => None,
    };
    Ok(OpenCodeSettings {
        base_url: opencode.url.clone().unwrap_or(defaults.base_url),
        server,
        model: opencode.model.clone(),
        ask_permissions: opencode.ask_permissions.clone().unwrap_or(defaults.ask_permissions),
        ..OpenCodeSettings::default()
    })
}

/// How long a started `opencode serve` may take to become healthy.
const OPENCODE_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

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
        let settings = cowork_cloud::CloudSettings {
            demo_delta_interval: config.cloud.demo_delta_interval,
            worker_concurrency: config.cloud.session_concurrency,
            lease: config.workers.lease,
            ..cowork_cloud::CloudSettings::default()
        };
        let runtime = agent_runtime(&config.cloud).await?;
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

    /// The command worker's run loop (once).
    pub fn worker_future(&self, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        Box::pin(async move {
            if let Some(worker) = worker {
                worker.run(shutdown).await;
            }
        })
    }
}
