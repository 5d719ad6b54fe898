//! Operator API access: the admin token (`OPEN_COWORK_GATEWAY_ADMIN_TOKEN`,
//! `gateway.server.adminToken`) and the loopback operator bypass
//! (`OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS`, `gateway.server.allowLoopbackOperatorBypass`).

use super::{ConfigError, GatewayConfig, Secret};

/// Prefixes of the example tokens found in docs and templates; a real deployment never uses them.
const PLACEHOLDER_PREFIXES: &[&str] = &["change-me", "changeme", "replace-with", "example-", "demo-"];

/// Who may call the operator API.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OperatorConfig {
    /// The admin token operator requests present as `Authorization: Bearer <token>` or
    /// `x-open-cowork-gateway-admin-token: <token>` (`OPEN_COWORK_GATEWAY_ADMIN_TOKEN`,
    /// `gateway.server.adminToken`, which may be an `env:NAME` reference). Without it, and
    /// without the loopback bypass, every operator route answers 401.
    pub admin_token: Option<Secret>,
    /// Lets requests from this machine call the operator API without a token when no admin
    /// token is configured (`OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS`,
    /// `gateway.server.allowLoopbackOperatorBypass`). Only valid on a loopback bind without a
    /// public URL; a request still needs a loopback peer and Host and no forwarding headers.
    pub allow_loopback_bypass: bool,
}

impl OperatorConfig {
    /// Takes the admin token from a config or environment value; blank means unset.
    pub(super) fn set_token(&mut self, value: String) {
        let value = value.trim().to_owned();
        self.admin_token = (!value.is_empty()).then(|| Secret::new(value));
    }
}

/// Rejects placeholder tokens and a bypass on an exposed gateway; warns when the bypass is
/// shadowed by a token.
pub(super) fn validate(config: &mut GatewayConfig) -> Result<(), ConfigError> {
    if let Some(token) = &config.operator.admin_token {
        let lower = token.expose().to_ascii_lowercase();
        if PLACEHOLDER_PREFIXES.iter().any(|prefix| lower.starts_with(prefix)) {
            return Err(ConfigError::invalid(
                "OPEN_COWORK_GATEWAY_ADMIN_TOKEN (gateway.server.adminToken)",
                "is a placeholder value (change-me…, replace-with…, example-…, demo-…); set a random token",
            ));
        }
    }
    if config.operator.allow_loopback_bypass {
        if config.publicly_exposed() {
            return Err(ConfigError::invalid(
                "OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS (gateway.server.allowLoopbackOperatorBypass)",
                "requires a loopback bind address and no public URL; set OPEN_COWORK_GATEWAY_ADMIN_TOKEN instead",
            ));
        }
        if config.operator.admin_token.is_some() {
            config.warnings.push(
                "config: an admin token is set, so OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS has no effect"
                    .to_owned(),
            );
        }
    }
    Ok(())
}
