//! The `open-cowork.config.json` file: its `gateway` and `cloud` sections (other top-level
//! sections belong to other Open Cowork components and are ignored).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::provider::ProviderConfig;
use super::{ConfigError, Flags, GatewayConfig};
use cowork_cloud::config::ObjectReader;

/// Open Cowork gateway settings accepted with a warning until this version implements them.
const DEFERRED_GATEWAY: &[&str] = &["mode", "productMode", "instanceId", "branding", "metrics", "diagnostics", "cloud"];
const DEFERRED_TIMEOUTS: &[&str] = &["webhookDeliveryMs", "cloudRequestMs"];
/// Finds the config file (see [`cowork_cloud::config::locate_file`]).
pub(super) fn locate(cwd: &Path, env: &HashMap<String, String>, flags: &Flags) -> Option<PathBuf> {
    cowork_cloud::config::locate_file(cwd, env, flags.config_path.as_deref())
}

/// Applies the file at `path` onto `config`.
pub(super) fn apply(config: &mut GatewayConfig, path: &Path, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    let mut root = cowork_cloud::config::read_file(path)?;
    if let Some(gateway) = root.object("gateway")? {
        apply_gateway(config, gateway, env)?;
    }
    if let Some(cloud) = root.object("cloud")? {
        config.cloud.apply_file(cloud, env, &mut config.warnings, |_, _| Ok(()))?;
    }
    Ok(())
}

fn apply_gateway(
    config: &mut GatewayConfig,
    mut gateway: ObjectReader,
    env: &HashMap<String, String>,
) -> Result<(), ConfigError> {
    if let Some(providers) = gateway.take("providers") {
        config.providers = parse_providers("gateway.providers", providers, env)?;
    }
    if let Some(mut server) = gateway.object("server")? {
        if let Some(host) = server.string("host")? {
            config.listen.set_ip(
                host.parse().map_err(|_| ConfigError::invalid("gateway.server.host", "must be an IP address"))?,
            );
        }
        if let Some(port) = server.integer("port", 0..=65535)? {
            config.listen.set_port(port as u16);
        }
        config.public_url = server.string("publicBaseUrl")?.filter(|u| !u.is_empty()).or(config.public_url.take());
        if let Some(bytes) = server.integer("maxRequestBodyBytes", 1024..=64 * 1024 * 1024)? {
            config.max_request_body_bytes = bytes as usize;
        }
        if let Some(token) = server.string("adminToken")? {
            if !cowork_cloud::config::references::is_reference(&token) {
                config.cloud.inline_secrets.push("gateway.server.adminToken".to_owned());
            }
            let token = cowork_cloud::config::references::resolve_reference("gateway.server.adminToken", token, env)?;
            config.operator.set_token(token.expose().to_owned());
        }
        if let Some(allow) = server.boolean("allowLoopbackOperatorBypass")? {
            config.operator.allow_loopback_bypass = allow;
        }
        if let Some(trust) = server.boolean("trustProxyHeaders")? {
            config.ingress.proxies.trust_headers = trust;
        }
        if let Some(cidrs) = server.take("trustedProxyCidrs") {
            let path = "gateway.server.trustedProxyCidrs";
            config.ingress.proxies.trusted = match cidrs {
                Value::String(list) => super::parse_cidrs(path, list.split(','))?,
                Value::Array(items) => {
                    let items: Vec<String> = items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
                    super::parse_cidrs(path, items.iter().map(String::as_str))?
                }
                _ => return Err(ConfigError::invalid(path, "must be an array or a comma-separated string")),
            };
        }
        if let Some(mut limit) = server.object("rateLimit")? {
            if let Some(n) = limit.integer("perSecond", 1..=1_000_000)? {
                config.ingress.per_second = n as u32;
            }
            if let Some(n) = limit.integer("burst", 1..=1_000_000)? {
                config.ingress.burst = n as u32;
            }
            limit.finish(&[], &mut config.warnings)?;
        }
        server.finish(&[], &mut config.warnings)?;
    }
    if let Some(mut timeouts) = gateway.object("timeouts")? {
        if let Some(ms) = timeouts.integer("shutdownDrainMs", 100..=120_000)? {
            config.shutdown_drain = Duration::from_millis(ms);
        }
        if let Some(ms) = timeouts.integer("smtpMs", 100..=120_000)? {
            config.smtp_timeout = Duration::from_millis(ms);
        }
        timeouts.finish(DEFERRED_TIMEOUTS, &mut config.warnings)?;
    }
    if let Some(mut logging) = gateway.object("logging")? {
        if let Some(level) = logging.string("level")? {
            config.log_level = level;
        }
        logging.finish(&[], &mut config.warnings)?;
    }
    if let Some(mut delivery) = gateway.object("delivery")? {
        if let Some(n) = delivery.integer("maxAttempts", 1..=100)? {
            config.workers.delivery_retry.attempt_budget = n as u32;
        }
        delivery.finish(&[], &mut config.warnings)?;
    }
    gateway.finish(DEFERRED_GATEWAY, &mut config.warnings)
}

/// Parses a providers array (from the file or `OPEN_COWORK_GATEWAY_PROVIDERS`).
pub(super) fn parse_providers(
    path: &str,
    value: Value,
    env: &HashMap<String, String>,
) -> Result<Vec<ProviderConfig>, ConfigError> {
    let Value::Array(items) = value else {
        return Err(ConfigError::invalid(path, "must be an array"));
    };
    items.into_iter().enumerate().map(|(i, item)| ProviderConfig::parse(path, i, item, env)).collect()
}
