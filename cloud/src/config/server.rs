//! The `open-cowork-cloud serve` settings: where it listens and stores, which roles it runs,
//! logging and draining, on top of the shared [`CloudConfig`]. Precedence: flags, then
//! `OPEN_COWORK_CLOUD_*` variables, then the config file's `cloud` section, then defaults.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::reader::{env_boolean, env_get, env_integer};
use super::references::{resolve_reference, resolve_secret_variables};
use super::tier::DeploymentTier;
use super::{CloudConfig, ConfigError, Secret};
use crate::database::Storage;

/// The cloud's default port.
pub const DEFAULT_PORT: u16 = 8787;

/// The SQLite file the cloud keeps in its data dir.
pub const SQLITE_FILE: &str = "cloud.db";

/// What one `open-cowork-cloud serve` process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Role {
    /// The HTTP API and the command workers.
    #[default]
    All,
    /// The HTTP API only: it queues commands that worker processes run.
    Web,
    /// The command workers only, with the health routes on its port.
    Worker,
}

impl Role {
    /// The wire name (`all`, `web`, `worker`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Web => "web",
            Self::Worker => "worker",
        }
    }

    /// Whether this role serves the API.
    pub fn serves_api(self) -> bool {
        matches!(self, Self::All | Self::Web)
    }

    /// Whether this role runs session commands.
    pub fn runs_commands(self) -> bool {
        matches!(self, Self::All | Self::Worker)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ConfigError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "all" | "all-in-one" => Ok(Self::All),
            "web" => Ok(Self::Web),
            "worker" => Ok(Self::Worker),
            _ => Err(ConfigError::invalid("role", "must be one of all, web, worker")),
        }
    }
}

/// The file's `cloud.billing` section, if any.
fn read_billing(
    cloud: &mut super::reader::ObjectReader,
    warnings: &mut Vec<String>,
) -> Result<Option<crate::billing::Billing>, ConfigError> {
    let Some(mut billing) = cloud.object("billing")? else { return Ok(None) };
    let provider = billing.string("provider")?.unwrap_or_else(|| "none".to_owned());
    let status = match billing.object("stub")? {
        Some(mut stub) => {
            let status = stub.string("status")?;
            stub.finish(&[], warnings)?;
            status
        }
        None => None,
    };
    billing.finish(&[], warnings)?;
    crate::billing::Billing::parse(&provider, status.as_deref())
        .map(Some)
        .map_err(|reason| ConfigError::invalid("cloud.billing", &reason))
}

/// Command-line flags that beat every other source.
#[derive(Clone, Debug, Default)]
pub struct ServeFlags {
    /// `--listen ADDR:PORT`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--config`.
    pub config_path: Option<PathBuf>,
    /// `--role`.
    pub role: Option<Role>,
}

/// Everything `open-cowork-cloud serve` runs with.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The listen address (default 127.0.0.1:8787).
    pub listen: SocketAddr,
    /// Where the sessions live (default `./.open-cowork-cloud/cloud.db`).
    pub storage: Storage,
    /// What this process runs.
    pub role: Role,
    /// Runtimes and the session worker's tuning.
    pub cloud: CloudConfig,
    /// How long a claimed command stays leased without renewal.
    pub lease: Duration,
    /// How long shutdown waits for running commands and open requests.
    pub shutdown_drain: Duration,
    /// The log filter (`OPEN_COWORK_CLOUD_LOG_LEVEL`, default `info`).
    pub log_level: String,
    /// The key API tokens are hashed under (`OPEN_COWORK_CLOUD_TOKEN_HASH_KEY`); without it a
    /// key kept in the database.
    pub token_hash_key: Option<Secret>,
    /// The largest request body the API reads (`OPEN_COWORK_CLOUD_MAX_REQUEST_BODY_BYTES`, 1 MiB).
    pub max_request_body_bytes: usize,
    /// Request rate limits per client address and per token.
    pub request_limits: crate::api::guard::RequestLimits,
    /// Prompt quotas.
    pub quotas: crate::channels::Quotas,
    /// How people reach the admin API besides API tokens.
    pub auth: super::auth::AuthConfig,
    /// The billing gate (`cloud.billing.provider`, `OPEN_COWORK_CLOUD_BILLING_PROVIDER`:
    /// `none` or `stub`; the stub's `cloud.billing.stub.status` /
    /// `OPEN_COWORK_CLOUD_BILLING_STUB_STATUS`: `active`, `inactive` or `none`).
    pub billing: crate::billing::Billing,
    /// How channel gateways may act beyond their grants.
    pub channel_policy: crate::channels::ChannelPolicy,
    /// How often an API process looks for events other processes appended
    /// (`OPEN_COWORK_CLOUD_SSE_POLL_INTERVAL_MS`, default 250 ms).
    pub sse_poll: Duration,
    /// The config file read, if any.
    pub config_file: Option<PathBuf>,
    /// Settings accepted with a warning (Open Cowork keys this version does not implement).
    pub warnings: Vec<String>,
    /// `OPEN_COWORK_CLOUD_DEPLOYMENT_TIER` (default `local`).
    pub tier: DeploymentTier,
    /// Where trace spans go (`OPEN_COWORK_CLOUD_OTLP_ENDPOINT` or the standard `OTEL_*`
    /// variables; off by default).
    pub trace_export: crate::telemetry::TraceExport,
}

impl ServeConfig {
    /// The defaults, storing under `cwd`.
    pub fn defaults(cwd: &Path) -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            storage: Storage::DataDir(cwd.join(".open-cowork-cloud")),
            role: Role::All,
            cloud: CloudConfig::default(),
            lease: Duration::from_secs(30),
            shutdown_drain: Duration::from_secs(10),
            log_level: "info".to_owned(),
            trace_export: crate::telemetry::TraceExport::Off,
            token_hash_key: None,
            max_request_body_bytes: 1024 * 1024,
            request_limits: crate::api::guard::RequestLimits::default(),
            quotas: crate::channels::Quotas::default(),
            sse_poll: Duration::from_millis(250),
            billing: crate::billing::Billing::None,
            channel_policy: crate::channels::ChannelPolicy::default(),
            auth: super::auth::AuthConfig::default(),
            config_file: None,
            warnings: Vec::new(),
            tier: DeploymentTier::Local,
        }
    }

    /// Loads the file (if any), then the variables, then the flags, and validates the result.
    pub fn load(cwd: &Path, env: &HashMap<String, String>, flags: &ServeFlags) -> Result<Self, ConfigError> {
        let env = &resolve_secret_variables(env)?;
        let database_url =
            flags.database_url.clone().map(|url| resolve_reference("--database-url", url, env)).transpose()?;
        let flags = &ServeFlags { database_url: database_url.map(|url| url.expose().to_owned()), ..flags.clone() };
        let mut config = Self::defaults(cwd);
        if let Some(path) = super::locate_file(cwd, env, flags.config_path.as_deref()) {
            let mut root = super::read_file(&path)?;
            if let Some(cloud) = root.object("cloud")? {
                let mut billing = None;
                let mut channel_policy = config.channel_policy;
                config.cloud.apply_file(cloud, env, &mut config.warnings, |cloud, warnings| {
                    billing = read_billing(cloud, warnings)?;
                    if let Some(allow) = cloud.boolean("allowRemoteApprovalResponses")? {
                        channel_policy.allow_remote_approvals = allow;
                    }
                    Ok(())
                })?;
                config.billing = billing.unwrap_or_default();
                config.channel_policy = channel_policy;
            }
            // The gateway's section and anything else are other programs' settings.
            config.config_file = Some(path);
        }
        config.apply_env(env)?;
        config.apply_flags(flags);
        config.cloud.validate()?;
        // After the flags: the check depends on the final listen address.
        config.auth.validate(config.listen)?;
        Ok(config)
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        self.tier = DeploymentTier::from_env(env, super::production::TIER_VARIABLE)?;
        if let Some(host) = env_get(env, "OPEN_COWORK_CLOUD_HOST") {
            let ip = if host == "localhost" { "127.0.0.1" } else { host };
            let ip = ip.parse().map_err(|_| ConfigError::invalid("OPEN_COWORK_CLOUD_HOST", "must be an IP address"))?;
            self.listen.set_ip(ip);
        }
        if let Some(port) = env_integer(env, "OPEN_COWORK_CLOUD_PORT", 0..=65535)? {
            self.listen.set_port(port as u16);
        }
        if let Some(url) = env_get(env, "OPEN_COWORK_CLOUD_DATABASE_URL") {
            self.storage = Storage::Url(Secret::new(url.to_owned()));
        } else if let Some(dir) = env_get(env, "OPEN_COWORK_CLOUD_DATA_DIR") {
            self.storage = Storage::DataDir(PathBuf::from(dir));
        }
        if let Some(role) = env_get(env, "OPEN_COWORK_CLOUD_ROLE") {
            self.role = role
                .parse()
                .map_err(|_| ConfigError::invalid("OPEN_COWORK_CLOUD_ROLE", "must be one of all, web, worker"))?;
        }
        if let Some(ms) = env_integer(env, "OPEN_COWORK_CLOUD_WORKER_LEASE_MS", 3_000..=600_000)? {
            self.lease = Duration::from_millis(ms);
        }
        if let Some(ms) = env_integer(env, "OPEN_COWORK_CLOUD_SHUTDOWN_DRAIN_TIMEOUT_MS", 100..=120_000)? {
            self.shutdown_drain = Duration::from_millis(ms);
        }
        if let Some(level) = env_get(env, "OPEN_COWORK_CLOUD_LOG_LEVEL") {
            self.log_level = level.to_owned();
        }
        self.trace_export = crate::telemetry::TraceExport::from_env(env, "OPEN_COWORK_CLOUD_OTLP_ENDPOINT")?;
        if let Some(key) = env_get(env, "OPEN_COWORK_CLOUD_TOKEN_HASH_KEY") {
            if key.len() < crate::auth::token::MIN_KEY_BYTES {
                return Err(ConfigError::invalid(
                    "OPEN_COWORK_CLOUD_TOKEN_HASH_KEY",
                    &format!("must be at least {} bytes", crate::auth::token::MIN_KEY_BYTES),
                ));
            }
            self.token_hash_key = Some(Secret::new(key.to_owned()));
        }
        if let Some(bytes) = env_integer(env, "OPEN_COWORK_CLOUD_MAX_REQUEST_BODY_BYTES", 1_024..=64 * 1024 * 1024)? {
            self.max_request_body_bytes = bytes as usize;
        }
        if let Some(max) = env_integer(env, "OPEN_COWORK_CLOUD_RATE_LIMIT_MAX_REQUESTS", 0..=1_000_000)? {
            self.request_limits.max_requests = max as u32;
        }
        if let Some(max) = env_integer(env, "OPEN_COWORK_CLOUD_GATEWAY_RATE_LIMIT_MAX_REQUESTS", 0..=100_000_000)? {
            self.request_limits.gateway_max_requests = max as u32;
        }
        if let Some(ms) = env_integer(env, "OPEN_COWORK_CLOUD_RATE_LIMIT_WINDOW_MS", 1_000..=3_600_000)? {
            self.request_limits.window = Duration::from_millis(ms);
        }
        let provider = env_get(env, "OPEN_COWORK_CLOUD_BILLING_PROVIDER");
        let status = env_get(env, "OPEN_COWORK_CLOUD_BILLING_STUB_STATUS");
        if provider.is_some() || status.is_some() {
            let provider = provider.unwrap_or(match self.billing {
                crate::billing::Billing::None => "none",
                crate::billing::Billing::Stub(_) => "stub",
            });
            self.billing = crate::billing::Billing::parse(provider, status)
                .map_err(|reason| ConfigError::invalid("OPEN_COWORK_CLOUD_BILLING_PROVIDER", &reason))?;
        }
        if let Some(ms) = env_integer(env, "OPEN_COWORK_CLOUD_SSE_POLL_INTERVAL_MS", 10..=60_000)? {
            self.sse_poll = Duration::from_millis(ms);
        }
        if let Some(allow) = env_boolean(env, "OPEN_COWORK_CLOUD_ALLOW_REMOTE_APPROVAL_RESPONSES")? {
            self.channel_policy.allow_remote_approvals = allow;
        }
        if let Some(attempts) = env_integer(env, "OPEN_COWORK_CLOUD_DELIVERY_MAX_ATTEMPTS", 1..=1_000)? {
            self.channel_policy.max_delivery_attempts = attempts as i64;
        }
        let quotas = &mut self.quotas;
        for (name, field) in [
            ("OPEN_COWORK_CLOUD_PROMPTS_PER_HOUR", &mut quotas.prompts_per_hour),
            ("OPEN_COWORK_CLOUD_GATEWAY_PROMPTS_PER_HOUR", &mut quotas.gateway_prompts_per_hour),
            ("OPEN_COWORK_CLOUD_MAX_QUEUED_COMMANDS_PER_SESSION", &mut quotas.max_queued_per_session),
            ("OPEN_COWORK_CLOUD_GATEWAY_DELIVERIES_PER_HOUR", &mut quotas.gateway_deliveries_per_hour),
        ] {
            if let Some(value) = env_integer(env, name, 0..=100_000_000)? {
                *field = value;
            }
        }
        self.auth.apply_env(env)?;
        self.cloud.apply_env(env)
    }

    fn apply_flags(&mut self, flags: &ServeFlags) {
        if let Some(listen) = flags.listen {
            self.listen = listen;
        }
        if let Some(url) = &flags.database_url {
            self.storage = Storage::Url(Secret::new(url.clone()));
        } else if let (Some(dir), Storage::DataDir(_)) = (&flags.data_dir, &self.storage) {
            // A database URL from the environment names the database; a data dir does not beat it.
            self.storage = Storage::DataDir(dir.clone());
        }
        if let Some(role) = flags.role {
            self.role = role;
        }
    }

    /// The engine settings the command workers run with.
    pub fn service_settings(&self) -> crate::CloudSettings {
        self.cloud.service_settings(self.lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_listen_on_loopback_8787_with_sqlite_in_a_data_dir() {
        let config = ServeConfig::load(Path::new("/srv"), &env(&[]), &ServeFlags::default()).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8787".parse().unwrap());
        assert_eq!(config.storage, Storage::DataDir(PathBuf::from("/srv/.open-cowork-cloud")));
        assert_eq!(config.role, Role::All);
    }

    #[test]
    fn variables_then_flags_override() {
        let vars = env(&[
            ("OPEN_COWORK_CLOUD_HOST", "0.0.0.0"),
            ("OPEN_COWORK_CLOUD_PORT", "9000"),
            ("OPEN_COWORK_CLOUD_DATABASE_URL", "postgres://u:p@db/x"),
            ("OPEN_COWORK_CLOUD_ROLE", "worker"),
        ]);
        let config = ServeConfig::load(Path::new("/srv"), &vars, &ServeFlags::default()).unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.role, Role::Worker);
        assert!(matches!(config.storage, Storage::Url(_)));
        let flags = ServeFlags {
            role: Some(Role::Web),
            data_dir: Some("/data".into()),
            listen: Some("127.0.0.1:1".parse().unwrap()),
            ..ServeFlags::default()
        };
        let config = ServeConfig::load(Path::new("/srv"), &vars, &flags).unwrap();
        assert_eq!((config.role, config.listen.port()), (Role::Web, 1));
        // A flag's data dir does not beat the variable's URL: the URL names the database.
        assert!(matches!(config.storage, Storage::Url(_)));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("OPEN_COWORK_CLOUD_ROLE", "scheduler"),
            ("OPEN_COWORK_CLOUD_PORT", "70000"),
            ("OPEN_COWORK_CLOUD_HOST", "example.com"),
            ("OPEN_COWORK_CLOUD_SHUTDOWN_DRAIN_TIMEOUT_MS", "5"),
            ("OPEN_COWORK_CLOUD_TOKEN_HASH_KEY", "short"),
            ("OPEN_COWORK_CLOUD_MAX_REQUEST_BODY_BYTES", "10"),
            ("OPEN_COWORK_CLOUD_BILLING_PROVIDER", "stripe"),
        ] {
            let error = ServeConfig::load(Path::new("/srv"), &env(&[(name, value)]), &ServeFlags::default())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(name), "{name}={value}: {error}");
        }
    }

    #[test]
    fn roles_parse_with_the_open_cowork_alias() {
        assert_eq!("all-in-one".parse::<Role>().ok(), Some(Role::All));
        assert!(Role::Web.serves_api() && !Role::Web.runs_commands());
        assert!(!Role::Worker.serves_api() && Role::Worker.runs_commands());
    }

    #[test]
    fn channel_policy_and_delivery_limits_come_from_the_file_and_the_variables() {
        let defaults = ServeConfig::load(Path::new("/srv"), &env(&[]), &ServeFlags::default()).unwrap();
        assert_eq!(
            (defaults.channel_policy.allow_remote_approvals, defaults.channel_policy.max_delivery_attempts),
            (false, 10)
        );
        assert_eq!(defaults.quotas.gateway_deliveries_per_hour, 1000);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("open-cowork.config.json");
        std::fs::write(&file, r#"{"cloud": {"allowRemoteApprovalResponses": true}}"#).unwrap();
        let path = file.to_string_lossy().into_owned();
        let vars = env(&[
            ("OPEN_COWORK_CONFIG_PATH", &path),
            ("OPEN_COWORK_CLOUD_DELIVERY_MAX_ATTEMPTS", "3"),
            ("OPEN_COWORK_CLOUD_GATEWAY_DELIVERIES_PER_HOUR", "0"),
        ]);
        let config = ServeConfig::load(dir.path(), &vars, &ServeFlags::default()).unwrap();
        assert!(config.channel_policy.allow_remote_approvals);
        assert_eq!((config.channel_policy.max_delivery_attempts, config.quotas.gateway_deliveries_per_hour), (3, 0));
        let off =
            env(&[("OPEN_COWORK_CONFIG_PATH", &path), ("OPEN_COWORK_CLOUD_ALLOW_REMOTE_APPROVAL_RESPONSES", "false")]);
        assert!(
            !ServeConfig::load(dir.path(), &off, &ServeFlags::default()).unwrap().channel_policy.allow_remote_approvals
        );
        let bad = env(&[("OPEN_COWORK_CLOUD_DELIVERY_MAX_ATTEMPTS", "0")]);
        let error = ServeConfig::load(dir.path(), &bad, &ServeFlags::default()).unwrap_err().to_string();
        assert!(error.contains("OPEN_COWORK_CLOUD_DELIVERY_MAX_ATTEMPTS"), "{error}");
    }
}
