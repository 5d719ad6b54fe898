//! The gateway's `public_production` rules (`OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER`): startup is
//! refused, naming every rule broken, unless the gateway runs on Postgres (over TLS off this
//! machine), with a strong admin token, secrets given as references rather than written in the
//! configuration, an https public URL, only signed ingress (no fake provider), no loopback
//! bypass of the operator token, and an https cloud in split mode.

use cowork_cloud::config::tier::{DeploymentTier, Refusals};

use super::{ConfigError, GatewayConfig, ProviderSettings};

/// The tier variable, named in the refusal.
pub const TIER_VARIABLE: &str = "OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER";

/// The rules `config` breaks for its tier (none below `public_production`).
pub fn refusals(config: &GatewayConfig) -> Refusals {
    let mut refusals = Refusals::default();
    if config.tier != DeploymentTier::PublicProduction {
        return refusals;
    }
    refusals.require_postgres("OPEN_COWORK_GATEWAY_DATABASE_URL", &config.storage);
    let token = config.operator.admin_token.as_ref().map(|token| token.expose());
    refusals.require_strong("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", token);
    let mut inline = config.cloud.inline_secrets.clone();
    inline.extend(config.providers.iter().flat_map(|p| p.inline_credentials.iter().cloned()));
    refusals.require_references(&inline);
    refusals.require_https("OPEN_COWORK_GATEWAY_PUBLIC_URL", config.public_url.as_deref());
    for provider in &config.providers {
        if matches!(provider.settings, ProviderSettings::Fake(_)) {
            refusals.refuse(
                &format!("gateway.providers[id={}]", provider.id),
                "is the fake provider, whose ingress is not signed: every ingress provider must verify its requests",
            );
        }
    }
    if config.operator.allow_loopback_bypass {
        refusals.refuse(
            "OPEN_COWORK_GATEWAY_ALLOW_LOOPBACK_OPERATOR_BYPASS",
            "must be off (every operator call shows the token)",
        );
    }
    if let Some(remote) = &config.remote_cloud {
        refusals.require_https("OPEN_COWORK_CLOUD_BASE_URL", Some(&remote.base_url));
    }
    refusals
}

/// Refuses `config` when it breaks a rule of its tier.
pub fn check(config: &GatewayConfig) -> Result<(), ConfigError> {
    refusals(config).into_result(TIER_VARIABLE)
}
