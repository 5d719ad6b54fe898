//! The gateway's typed configuration, built once at startup by [`GatewayConfig::load`]:
//! defaults, then `open-cowork.config.json`, then `OPEN_COWORK_GATEWAY_*` / `OPEN_COWORK_CLOUD_*`
//! variables, then command-line flags; then validated. Nothing reads the environment afterwards.

mod env;
mod file;
mod operator;
pub mod production;
mod provider;
pub mod remote;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cowork_cloud::config::{
    AgentRuntimeConfig, CloudConfig, ConfigError, OpenAiConfig, OpenCodeConfig, RuntimeKind, Secret,
};
pub use cowork_cloud::database::Storage;
pub use operator::OperatorConfig;
pub use provider::{ProviderConfig, ProviderSettings};

use crate::dispatcher::circuit::CircuitSettings;
use crate::ingress::{IngressLimits, ServerLimits};
use crate::ownership::OwnershipSettings;
use cowork_cloud::config::references::{resolve_reference, resolve_secret_variables};
use cowork_cloud::config::tier::DeploymentTier;
use cowork_cloud::telemetry::TraceExport;
use cowork_cloud_client::backoff::RetryPolicy;

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
    /// The cloud in another process (`serve`); `None` runs it embedded (`standalone`).
    pub remote_cloud: Option<remote::RemoteCloud>,
    /// This replica's instance id and membership timing (scale-out).
    pub ownership: OwnershipSettings,
    /// `OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER` (default `local`).
    pub tier: DeploymentTier,
    /// Where trace spans go (`OPEN_COWORK_GATEWAY_OTLP_ENDPOINT` or the standard `OTEL_*`
    /// variables; off by default).
    pub trace_export: TraceExport,
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
            remote_cloud: None,
            ownership: OwnershipSettings::new("gateway".to_owned()),
            tier: DeploymentTier::Local,
            trace_export: TraceExport::Off,
        }
    }

    /// Builds the configuration from the working directory, the environment and flags.
    pub fn load(cwd: &Path, env: &HashMap<String, String>, flags: &Flags) -> Result<Self, ConfigError> {
        let env = &resolve_secret_variables(env)?;
        let mut config = Self::defaults(Storage::DataDir(cwd.join(".open-cowork")));
        if let Some(path) = file::locate(cwd, env, flags) {
            file::apply(&mut config, &path, env)?;
        }
        env::apply(&mut config, env)?;
        if let Some(listen) = flags.listen {
            config.listen = listen;
        }
        if let Some(url) = &flags.database_url {
            config.storage = Storage::Url(resolve_reference("--database-url", url.clone(), env)?);
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
        self.cloud.validate()?;
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
mod contracts;
#[cfg(test)]
mod tests;
