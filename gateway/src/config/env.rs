//! `OPEN_COWORK_GATEWAY_*` and `OPEN_COWORK_CLOUD_*` variables; they override the file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, DeploymentTier, GatewayConfig, Secret, Storage, TraceExport};
use cowork_cloud::config::reader::{env_boolean as boolean, env_get as get, env_integer as integer};

/// Applies the variables onto `config`.
pub(super) fn apply(config: &mut GatewayConfig, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    if let Some(host) = get(env, "OPEN_COWORK_GATEWAY_HOST") {
        let ip = if host == "localhost" { "127.0.0.1" } else { host };
        config
            .listen
            .set_ip(ip.parse().map_err(|_| ConfigError::invalid("OPEN_COWORK_GATEWAY_HOST", "must be an IP address"))?);
    }
    if let Some(port) = integer(env, "OPEN_COWORK_GATEWAY_PORT", 0..=65535)? {
        config.listen.set_port(port as u16);
    }
    if let Some(url) = get(env, "OPEN_COWORK_GATEWAY_PUBLIC_URL") {
        config.public_url = Some(url.to_owned());
    }
    if let Some(url) = get(env, "OPEN_COWORK_GATEWAY_DATABASE_URL") {
        config.storage = Storage::Url(Secret::new(url.to_owned()));
    } else if let Some(dir) = get(env, "OPEN_COWORK_GATEWAY_DATA_DIR") {
        config.storage = Storage::DataDir(PathBuf::from(dir));
    }
    if let Some(bytes) = integer(env, "OPEN_COWORK_GATEWAY_MAX_REQUEST_BODY_BYTES", 1024..=64 * 1024 * 1024)? {
        config.max_request_body_bytes = bytes as usize;
    }
    if let Some(ms) = integer(env, "OPEN_COWORK_GATEWAY_SHUTDOWN_DRAIN_TIMEOUT_MS", 100..=120_000)? {
        config.shutdown_drain = Duration::from_millis(ms);
    }
    if let Some(ms) = integer(env, "OPEN_COWORK_GATEWAY_HEADER_READ_TIMEOUT_MS", 100..=120_000)? {
        config.server.header_read_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = integer(env, "OPEN_COWORK_GATEWAY_REQUEST_TIMEOUT_MS", 100..=600_000)? {
        config.server.request_timeout = Duration::from_millis(ms);
    }
    if let Some(n) = integer(env, "OPEN_COWORK_GATEWAY_MAX_CONNECTIONS", 1..=100_000)? {
        config.server.max_connections = n as usize;
    }
    if let Some(ms) = integer(env, "OPEN_COWORK_GATEWAY_SMTP_TIMEOUT_MS", 100..=120_000)? {
        config.smtp_timeout = Duration::from_millis(ms);
    }
    if let Some(allow) = boolean(env, "OPEN_COWORK_GATEWAY_ALLOW_PUBLIC_FAKE_PROVIDER")? {
        config.allow_public_fake_provider = allow;
    }
    if let Some(token) = get(env, "OPEN_COWORK_GATEWAY_ADMIN_TOKEN") {
        config.operator.set_token(token.to_owned());
    }
    if let Some(allow) = boolean(env, "OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS")? {
        config.operator.allow_loopback_bypass = allow;
    }
    if let Some(pause) = boolean(env, "OPEN_COWORK_GATEWAY_PAUSE_WORKERS")? {
        config.pause_workers = pause;
    }
    if let Some(level) = get(env, "OPEN_COWORK_GATEWAY_LOG_LEVEL") {
        config.log_level = level.to_owned();
    }
    if let Some(n) = integer(env, "OPEN_COWORK_GATEWAY_DELIVERY_MAX_ATTEMPTS", 1..=100)? {
        config.workers.delivery_retry.attempt_budget = n as u32;
    }
    if let Some(trust) = boolean(env, "OPEN_COWORK_GATEWAY_TRUST_PROXY_HEADERS")? {
        config.ingress.proxies.trust_headers = trust;
    }
    if let Some(raw) = get(env, "OPEN_COWORK_GATEWAY_TRUSTED_PROXY_CIDRS") {
        config.ingress.proxies.trusted = super::parse_cidrs("OPEN_COWORK_GATEWAY_TRUSTED_PROXY_CIDRS", raw.split(','))?;
    }
    if let Some(n) = integer(env, "OPEN_COWORK_GATEWAY_RATE_LIMIT_PER_SECOND", 1..=1_000_000)? {
        config.ingress.per_second = n as u32;
    }
    if let Some(n) = integer(env, "OPEN_COWORK_GATEWAY_RATE_LIMIT_BURST", 1..=1_000_000)? {
        config.ingress.burst = n as u32;
    }
    if let Some(ms) = integer(env, "OPEN_COWORK_GATEWAY_INTERACTION_TTL_MS", 60_000..=30 * 24 * 3_600_000)? {
        config.workers.interaction_ttl = Duration::from_millis(ms);
    }
    // At least three days: email's redelivery window, which the inbox's dedupe keys must outlive.
    if let Some(days) = integer(env, "OPEN_COWORK_GATEWAY_RETENTION_DAYS", 3..=365)? {
        config.workers.retention = Duration::from_secs(days * 24 * 3600);
    }
    if let Some(ms) = integer(env, "OPEN_COWORK_GATEWAY_LEASE_MS", 1_000..=600_000)? {
        config.workers.lease = Duration::from_millis(ms);
    }
    config.tier = DeploymentTier::from_env(env, "OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER")?;
    config.trace_export = TraceExport::from_env(env, "OPEN_COWORK_GATEWAY_OTLP_ENDPOINT")?;
    config.ownership.instance_id = crate::ownership::instance::from_env(env);
    if let Some(ms) = integer(env, "OPEN_COWORK_GATEWAY_HEARTBEAT_INTERVAL_MS", 100..=60_000)? {
        config.ownership.heartbeat = Duration::from_millis(ms);
    }
    if let Some(ms) = integer(env, "OPEN_COWORK_GATEWAY_OWNERSHIP_LEASE_MS", 1_000..=600_000)? {
        config.ownership.lease = Duration::from_millis(ms);
    }
    // A member must get several heartbeats in per lease, or one late write makes it look dead.
    if config.ownership.lease < config.ownership.heartbeat * 3 {
        return Err(ConfigError::invalid(
            "OPEN_COWORK_GATEWAY_OWNERSHIP_LEASE_MS",
            "must be at least three times OPEN_COWORK_GATEWAY_HEARTBEAT_INTERVAL_MS",
        ));
    }
    if let Some(raw) = get(env, "OPEN_COWORK_GATEWAY_PROVIDERS") {
        let value = serde_json::from_str(raw)
            .map_err(|e| ConfigError::invalid("OPEN_COWORK_GATEWAY_PROVIDERS", &format!("is not valid JSON: {e}")))?;
        config.providers = super::file::parse_providers("OPEN_COWORK_GATEWAY_PROVIDERS", value, env)?;
    }
    config.cloud.apply_env(env)?;
    Ok(())
}
