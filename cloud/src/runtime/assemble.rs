//! Builds the configured agent runtimes: the default one and one per agent in `cloud.agents`;
//! agents with the same settings share a runtime, and one `opencode serve` (started here when a
//! binary is configured) serves every agent that uses OpenCode.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use cowork_providers::egress::{EgressRules, SystemResolver};

use super::{
    AgentRuntime, AgentRuntimes, DemoRuntime, ManagedServer, OpenAiRuntime, OpenAiSettings, OpenCodeRuntime,
    OpenCodeSettings,
};
use crate::config::{AgentRuntimeConfig, CloudConfig, OpenCodeConfig};

/// The configured agent runtimes: the default one, and one per agent in `cloud.agents` (an
/// `opencode serve` they need is started here, once).
pub async fn assemble(cloud: &CloudConfig) -> anyhow::Result<Arc<dyn AgentRuntime>> {
    let mut built = RuntimeSet::new(cloud);
    let default = built.runtime(&cloud.default_runtime(), "the default runtime").await?;
    if cloud.agents.is_empty() {
        return Ok(default);
    }
    let mut runtimes = AgentRuntimes::new(default);
    for (agent, choice) in &cloud.agents {
        let runtime = built.runtime(choice, &format!("cloud.agents.{agent}")).await?;
        runtimes = runtimes.with_agent(agent.clone(), runtime);
    }
    Ok(Arc::new(runtimes))
}

/// The runtimes built so far, so agents with the same settings share one and a single OpenCode
/// server serves every agent that uses it.
struct RuntimeSet<'a> {
    cloud: &'a CloudConfig,
    demo: Option<Arc<dyn AgentRuntime>>,
    /// By (system prompt, model), the settings an agent may change.
    openai: HashMap<(Option<String>, String), Arc<dyn AgentRuntime>>,
    /// The runtime with `cloud.opencode`'s own model: the one that owns the server.
    opencode: Option<OpenCodeRuntime>,
    /// Runtimes sharing that server, by model.
    opencode_models: HashMap<Option<String>, Arc<dyn AgentRuntime>>,
}

impl<'a> RuntimeSet<'a> {
    fn new(cloud: &'a CloudConfig) -> Self {
        Self { cloud, demo: None, openai: HashMap::new(), opencode: None, opencode_models: HashMap::new() }
    }

    /// The runtime for `choice`, built on first use; `who` names it in errors.
    async fn runtime(&mut self, choice: &AgentRuntimeConfig, who: &str) -> anyhow::Result<Arc<dyn AgentRuntime>> {
        Ok(match choice {
            AgentRuntimeConfig::Demo => {
                let interval = self.cloud.demo_delta_interval;
                self.demo.get_or_insert_with(|| Arc::new(DemoRuntime::new(interval))).clone()
            }
            AgentRuntimeConfig::OpenAi { system_prompt, model } => {
                let openai = &self.cloud.openai;
                let system_prompt = system_prompt.clone().or_else(|| openai.system_prompt.clone());
                let model = model.clone().unwrap_or_else(|| openai.model.clone());
                let key = (system_prompt, model);
                if let Some(runtime) = self.openai.get(&key) {
                    return Ok(runtime.clone());
                }
                let settings = OpenAiSettings {
                    base_url: openai.base_url.clone(),
                    model: key.1.clone(),
                    api_key: openai.api_key.as_ref().map(|key| key.expose().to_owned()),
                    system_prompt: key.0.clone(),
                    tools_enabled: openai.tools_enabled,
                    declared_tools: openai.declared_tools.clone(),
                    ..OpenAiSettings::default()
                };
                // Pages the agent fetches come from traffic: the full egress policy applies.
                let runtime: Arc<dyn AgentRuntime> = Arc::new(
                    OpenAiRuntime::new(settings)
                        .map_err(|reason| anyhow::anyhow!("cloud.openai ({who}): {reason}"))?
                        .with_egress(Arc::new(SystemResolver), EgressRules::default()),
                );
                self.openai.insert(key, runtime.clone());
                runtime
            }
            AgentRuntimeConfig::OpenCode { model } => {
                let model = model.clone().or_else(|| self.cloud.opencode.model.clone());
                if let Some(runtime) = self.opencode_models.get(&model) {
                    return Ok(runtime.clone());
                }
                let server = match &self.opencode {
                    Some(server) => server,
                    None => {
                        let started = OpenCodeRuntime::start(opencode_settings(&self.cloud.opencode)?)
                            .await
                            .map_err(|reason| anyhow::anyhow!("cloud.opencode ({who}): {reason}"))?;
                        self.opencode.insert(started)
                    }
                };
                let runtime: Arc<dyn AgentRuntime> =
                    Arc::new(server.with_model(model.clone()).map_err(|reason| anyhow::anyhow!("{who}: {reason}"))?);
                self.opencode_models.insert(model, runtime.clone());
                runtime
            }
        })
    }
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
