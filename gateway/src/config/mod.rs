//! The gateway's typed configuration, built once at startup by [`GatewayConfig::load`]:
//! defaults, then `open-cowork.config.json`, then `OPEN_COWORK_GATEWAY_*` / `OPEN_COWORK_CLOUD_*`
//! variables, then command-line flags; then validated. Nothing reads the environment afterwards.

mod env;
mod file;
mod operator;
mod provider;
mod reader;
mod runtime;
mod secret;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use operator::OperatorConfig;
pub use provider::{ProviderConfig, ProviderSettings};
pub use secret::Secret;

use crate::backoff::RetryPolicy;
use crate::dispatcher::circuit::CircuitSettings;
use crate::ingress::{IngressLimits, ServerLimits};

/// A configuration problem, naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a bad value.
    #[error("invalid configuration: `{path}` {reason}")]
    Invalid {
        /// The setting (config path or variable name).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The config file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not JSON.
    #[error("config file {path} is not valid JSON: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl ConfigError {
    pub(crate) fn invalid(path: &str, reason: &str) -> Self {
        Self::Invalid { path: path.to_owned(), reason: reason.to_owned() }
    }
}

/// Where the gateway keeps its state.
#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    /// SQLite `gateway.db` inside this directory.
    DataDir(PathBuf),
    /// A `sqlite:` or `postgres://` URL.
    Url(Secret),
}

/// Command-line flags that override everything else.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `--listen ADDR:PORT`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir` (or `OPEN_COWORK_GATEWAY_DATA_DIR`, applied by the CLI parser).
    pub data_dir: Option<PathBuf>,
    /// `--database-url` (or `OPEN_COWORK_GATEWAY_DATABASE_URL`).
    pub database_url: Option<String>,
    /// `--config` (or `OPEN_COWORK_CONFIG_PATH`).
    pub config_path: Option<PathBuf>,
}

/// Inbox and dispatch tuning.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerSettings {
    /// Retry schedule and attempt budget of outbound deliveries.
    pub delivery_retry: RetryPolicy,
    /// Retry schedule and attempt budget of inbound processing.
    pub inbox_retry: RetryPolicy,
    /// Lease of a claimed inbox row, outbox row or session command (`OPEN_COWORK_GATEWAY_LEASE_MS`);
    /// work held by a process that died is picked up again once its lease expires.
    pub lease: Duration,
    /// Rows claimed per round.
    pub batch: usize,
    /// How long an approval or question accepts answers.
    pub interaction_ttl: Duration,
    /// Finished inbox and outbox rows are pruned after this long.
    pub retention: Duration,
    /// Fallback poll when no wake-up arrives.
    pub poll_interval: Duration,
    /// When a destination's circuit opens and for how long.
    pub circuit: CircuitSettings,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            delivery_retry: RetryPolicy::default(),
            inbox_retry: RetryPolicy::default(),
            lease: Duration::from_secs(30),
            batch: 32,
            interaction_ttl: Duration::from_secs(24 * 3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            poll_interval: Duration::from_secs(1),
            circuit: CircuitSettings::default(),
        }
    }
}

/// An agent runtime: `demo`, `openai` or `opencode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeKind {
    /// The scripted demo runtime (the default when no model is configured).
    Demo,
    /// Any OpenAI-compatible chat completions endpoint ([`CloudConfig::openai`]).
    OpenAi,
    /// An OpenCode server ([`CloudConfig::opencode`]; started by the gateway when a binary is set).
    OpenCode,
}

impl RuntimeKind {
    /// The runtime's name in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Demo => "demo",
            Self::OpenAi => "openai",
            Self::OpenCode => "opencode",
        }
    }

    /// The runtime called `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "demo" => Some(Self::Demo),
            "openai" => Some(Self::OpenAi),
            "opencode" => Some(Self::OpenCode),
            _ => None,
        }
    }
}

/// The runtime of one agent in `cloud.agents.<name>`, with the settings that apply to it; the
/// runtime's connection settings are the shared `cloud.openai` / `cloud.opencode` ones.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentRuntimeConfig {
    /// `"runtime": "demo"`.
    Demo,
    /// `"runtime": "openai"`.
    OpenAi {
        /// `systemPrompt`: replaces `cloud.openai.systemPrompt` for this agent.
        system_prompt: Option<String>,
        /// `model`: replaces `cloud.openai.model` for this agent.
        model: Option<String>,
    },
    /// `"runtime": "opencode"`.
    OpenCode {
        /// `model`: `provider/model`, replacing `cloud.opencode.model` for this agent.
        model: Option<String>,
    },
}

impl AgentRuntimeConfig {
    /// Which runtime this is.
    pub fn kind(&self) -> RuntimeKind {
        match self {
            Self::Demo => RuntimeKind::Demo,
            Self::OpenAi { .. } => RuntimeKind::OpenAi,
            Self::OpenCode { .. } => RuntimeKind::OpenCode,
        }
    }
}

/// Settings of the `opencode` runtime.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OpenCodeConfig {
    /// `OPEN_COWORK_CLOUD_OPENCODE_URL`, `cloud.opencode.url`: a running OpenCode server (default
    /// `http://127.0.0.1:4096`); unused when `binary` is set.
    pub url: Option<String>,
    /// `OPEN_COWORK_CLOUD_OPENCODE_BIN`, `cloud.opencode.binary`: start `opencode serve` with this
    /// binary (on a free loopback port) and stop it with the gateway.
    pub binary: Option<PathBuf>,
    /// `OPEN_COWORK_CLOUD_OPENCODE_DIRECTORY`, `cloud.opencode.directory`: the started server's
    /// working directory, the project its agents read and change (default: the current one).
    pub directory: Option<PathBuf>,
    /// `OPEN_COWORK_CLOUD_OPENCODE_CONFIG`, `cloud.opencode.configPath`: an `opencode.json` for
    /// the started server (providers, models).
    pub config_path: Option<PathBuf>,
    /// `cloud.opencode.stateDir`: keep the started server's own state here instead of the
    /// user's home directory.
    pub state_dir: Option<PathBuf>,
    /// `OPEN_COWORK_CLOUD_OPENCODE_MODEL`, `cloud.opencode.model`: `provider/model` for every
    /// prompt (default: OpenCode's configured model).
    pub model: Option<String>,
    /// `cloud.opencode.askPermissions`: the permissions (tool names) that ask the channel first
    /// (default `bash`, `edit`, `write`, `webfetch`).
    pub ask_permissions: Option<Vec<String>>,
}

/// Settings of the `openai` runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAiConfig {
    /// `OPEN_COWORK_CLOUD_OPENAI_BASE_URL`, `cloud.openai.baseUrl` (requests go to `{base}/chat/completions`).
    pub base_url: String,
    /// `OPEN_COWORK_CLOUD_OPENAI_MODEL`, `cloud.openai.model`.
    pub model: String,
    /// `OPEN_COWORK_CLOUD_OPENAI_API_KEY` (then `OPENAI_API_KEY`), `cloud.openai.apiKey`.
    pub api_key: Option<Secret>,
    /// `OPEN_COWORK_CLOUD_OPENAI_SYSTEM_PROMPT`, `cloud.openai.systemPrompt`.
    pub system_prompt: Option<String>,
    /// `cloud.openai.tools`: offer the built-in `fetch_url` tool (each call needs an approval).
    pub tools_enabled: bool,
    /// `cloud.openai.declaredTools`: tools whose arguments are POSTed to an endpoint (each call
    /// needs an approval); validated at load.
    pub declared_tools: Vec<cowork_cloud::runtime::DeclaredTool>,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: cowork_cloud::runtime::DEFAULT_OPENAI_BASE_URL.to_owned(),
            model: "gpt-4o-mini".to_owned(),
            api_key: None,
            system_prompt: None,
            tools_enabled: false,
            declared_tools: Vec::new(),
        }
    }
}

/// The embedded cloud's settings (standalone mode).
#[derive(Clone, Debug, PartialEq)]
pub struct CloudConfig {
    /// The default runtime, for agents not in [`Self::agents`] (`OPEN_COWORK_CLOUD_RUNTIME`,
    /// `cloud.runtime`; otherwise the runtime last configured, demo when none is).
    pub runtime: RuntimeKind,
    /// Settings of the `openai` runtime, used by the default and by agents that choose it.
    pub openai: OpenAiConfig,
    /// Settings of the `opencode` runtime (one server for every agent that uses it).
    pub opencode: OpenCodeConfig,
    /// `cloud.agents`: the runtime of each listed agent, by agent name.
    pub agents: BTreeMap<String, AgentRuntimeConfig>,
    /// Pause between the demo runtime's text deltas (`OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS`).
    pub demo_delta_interval: Duration,
    /// Sessions whose commands run at the same time (`OPEN_COWORK_CLOUD_SESSION_CONCURRENCY`).
    pub session_concurrency: usize,
}

impl CloudConfig {
    /// The runtime of `agent`'s sessions, with its own settings (the default runtime's plain
    /// settings for an agent not in [`Self::agents`]).
    pub fn runtime_of(&self, agent: &str) -> AgentRuntimeConfig {
        self.agents.get(agent).cloned().unwrap_or_else(|| self.default_runtime())
    }

    /// The default runtime with no per-agent settings.
    pub fn default_runtime(&self) -> AgentRuntimeConfig {
        match self.runtime {
            RuntimeKind::Demo => AgentRuntimeConfig::Demo,
            RuntimeKind::OpenAi => AgentRuntimeConfig::OpenAi { system_prompt: None, model: None },
            RuntimeKind::OpenCode => AgentRuntimeConfig::OpenCode { model: None },
        }
    }

    /// Whether the default runtime or any listed agent uses `kind`.
    pub fn uses(&self, kind: RuntimeKind) -> bool {
        self.runtime == kind || self.agents.values().any(|agent| agent.kind() == kind)
    }
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            runtime: RuntimeKind::Demo,
            openai: OpenAiConfig::default(),
            opencode: OpenCodeConfig::default(),
            agents: BTreeMap::new(),
            demo_delta_interval: Duration::from_millis(150),
            session_concurrency: 16,
        }
    }
}

/// The whole gateway configuration.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The HTTP listen address (`OPEN_COWORK_GATEWAY_HOST` / `_PORT`, `--listen`).
    pub listen: SocketAddr,
    /// The public URL, when the gateway is exposed (`OPEN_COWORK_GATEWAY_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// Where state lives.
    pub storage: Storage,
    /// Largest accepted request body (`OPEN_COWORK_GATEWAY_MAX_REQUEST_BODY_BYTES`).
    pub max_request_body_bytes: usize,
    /// How long SIGTERM waits for in-flight work (`OPEN_COWORK_GATEWAY_SHUTDOWN_DRAIN_TIMEOUT_MS`).
    pub shutdown_drain: Duration,
    /// Connect, command and TLS timeout of SMTP deliveries (`OPEN_COWORK_GATEWAY_SMTP_TIMEOUT_MS`,
    /// `gateway.timeouts.smtpMs`).
    pub smtp_timeout: Duration,
    /// Allow the fake provider on a public bind (`OPEN_COWORK_GATEWAY_ALLOW_PUBLIC_FAKE_PROVIDER`).
    pub allow_public_fake_provider: bool,
    /// Operator API access (admin token, loopback bypass).
    pub operator: OperatorConfig,
    /// Enabled providers.
    pub providers: Vec<ProviderConfig>,
    /// Per-source rate limits and where the client address comes from.
    pub ingress: IngressLimits,
    /// Connection limits and timeouts of the HTTP server.
    pub server: ServerLimits,
    /// Worker tuning.
    pub workers: WorkerSettings,
    /// Embedded cloud settings.
    pub cloud: CloudConfig,
    /// Log filter (`OPEN_COWORK_GATEWAY_LOG_LEVEL`, `gateway.logging.level`).
    pub log_level: String,
    /// Run ingress only, with every worker paused (`OPEN_COWORK_GATEWAY_PAUSE_WORKERS`): accepted
    /// messages wait in the inbox. For benchmarks of ingress alone and for maintenance.
    pub pause_workers: bool,
    /// Config warnings to log once tracing is up.
    pub warnings: Vec<String>,
}

impl GatewayConfig {
    /// Defaults for tests: loopback port 0, the fake provider, the given storage, fast demo.
    pub fn for_tests(storage: Storage) -> Self {
        let mut config = Self::defaults(storage);
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.providers = vec![ProviderConfig::default_fake()];
        config.cloud.demo_delta_interval = Duration::from_millis(5);
        config
    }

    fn defaults(storage: Storage) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8790)),
            public_url: None,
            storage,
            max_request_body_bytes: 1024 * 1024,
            shutdown_drain: Duration::from_secs(10),
            smtp_timeout: Duration::from_secs(30),
            allow_public_fake_provider: false,
            operator: OperatorConfig::default(),
            providers: Vec::new(),
            ingress: IngressLimits::default(),
            server: ServerLimits::default(),
            workers: WorkerSettings::default(),
            cloud: CloudConfig::default(),
            log_level: "info".to_owned(),
            pause_workers: false,
            warnings: Vec::new(),
        }
    }

    /// Builds the configuration from the working directory, the environment and flags.
    pub fn load(cwd: &Path, env: &HashMap<String, String>, flags: &Flags) -> Result<Self, ConfigError> {
        let mut config = Self::defaults(Storage::DataDir(cwd.join(".open-cowork")));
        if let Some(path) = file::locate(cwd, env, flags) {
            file::apply(&mut config, &path, env)?;
        }
        env::apply(&mut config, env)?;
        if let Some(listen) = flags.listen {
            config.listen = listen;
        }
        if let Some(url) = &flags.database_url {
            config.storage = Storage::Url(Secret::new(url.clone()));
        } else if !matches!(config.storage, Storage::Url(_))
            && let Some(dir) = &flags.data_dir
        {
            config.storage = Storage::DataDir(dir.clone());
        }
        if config.providers.is_empty() {
            config.providers.push(ProviderConfig::default_fake_from(env));
        }
        config.validate()?;
        Ok(config)
    }

    /// True when the gateway is reachable beyond this machine.
    pub fn publicly_exposed(&self) -> bool {
        !self.listen.ip().is_loopback() || self.public_url.is_some()
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        self.providers.retain(|p| p.enabled);
        if self.providers.is_empty() {
            return Err(ConfigError::invalid("gateway.providers", "has no enabled provider"));
        }
        provider::validate_all(&self.providers)?;
        runtime::validate(&self.cloud)?;
        operator::validate(self)?;
        for provider in &self.providers {
            // Attachments arrive inside the request body, so a larger limit could never be used.
            let max_attachment_bytes = match &provider.settings {
                ProviderSettings::Webhook(settings) => Some(settings.max_attachment_bytes),
                ProviderSettings::Email(settings) => Some(settings.max_attachment_bytes),
                ProviderSettings::Fake(_) | ProviderSettings::Slack(_) => None,
            };
            if max_attachment_bytes.is_some_and(|bytes| bytes > self.max_request_body_bytes as u64) {
                let path = format!("gateway.providers[id={}].settings.maxAttachmentBytes", provider.id);
                return Err(ConfigError::invalid(
                    &path,
                    "must not exceed the request body limit (maxRequestBodyBytes)",
                ));
            }
        }
        let has_fake = self.providers.iter().any(|p| matches!(p.settings, ProviderSettings::Fake(_)));
        if has_fake && self.publicly_exposed() && !self.allow_public_fake_provider {
            return Err(ConfigError::invalid(
                "gateway.providers",
                "enables the fake provider (no authentication) on a public bind address or public URL; \
                 bind to loopback or set OPEN_COWORK_GATEWAY_ALLOW_PUBLIC_FAKE_PROVIDER=true",
            ));
        }
        Ok(())
    }
}

/// Parses CIDRs (a bare address counts as a single host), naming `path` on error.
pub(crate) fn parse_cidrs<'a>(
    path: &str,
    items: impl Iterator<Item = &'a str>,
) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    items
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError::invalid(path, &format!("has `{item}`, which is not a CIDR or an IP address")))
        })
        .collect()
}

#[cfg(test)]
mod tests;
