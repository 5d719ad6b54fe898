//! The cloud's `public_production` rules (`OPEN_COWORK_CLOUD_DEPLOYMENT_TIER`, see `tier.rs`):
//! Postgres (over TLS off this machine), a strong managed token hash key, secrets given as
//! references, an https public URL for the API, human auth other than `none` with no insecure
//! override and signed headers only, and the API apart from the command workers (role `web` or
//! `worker`, never `all`), so no API process runs agent turns.

use super::ConfigError;
use super::auth::AuthMode;
use super::server::{Role, ServeConfig};
use super::tier::{DeploymentTier, Refusals};

/// The tier variable, named in the refusal.
pub const TIER_VARIABLE: &str = "OPEN_COWORK_CLOUD_DEPLOYMENT_TIER";

/// The rules `config` breaks for its tier (none below `public_production`).
pub fn refusals(config: &ServeConfig) -> Refusals {
    let mut refusals = Refusals::default();
    if config.tier != DeploymentTier::PublicProduction {
        return refusals;
    }
    refusals.require_postgres("OPEN_COWORK_CLOUD_DATABASE_URL", &config.storage);
    let key = config.token_hash_key.as_ref().map(|key| key.expose());
    refusals.require_strong("OPEN_COWORK_CLOUD_TOKEN_HASH_KEY", key);
    refusals.require_references(&config.cloud.inline_secrets);
    if config.role == Role::All {
        refusals.refuse(
            "OPEN_COWORK_CLOUD_ROLE",
            "must be web or worker: the API runs apart from the command workers (not all)",
        );
    }
    if config.role == Role::Web {
        refusals.require_https("OPEN_COWORK_CLOUD_PUBLIC_URL", config.auth.public_url.as_ref().map(|u| u.as_str()));
    }
    if config.auth.mode == AuthMode::None {
        refusals.refuse("OPEN_COWORK_CLOUD_AUTH_MODE", "must not be none");
    }
    if config.auth.allow_insecure {
        refusals.refuse("OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH", "must be off");
    }
    if config.auth.mode == AuthMode::Header && config.auth.header.allow_unsigned {
        refusals.refuse("OPEN_COWORK_CLOUD_HEADER_AUTH_ALLOW_UNSIGNED", "must be off (identity headers are signed)");
    }
    refusals
}

/// Refuses `config` when it breaks a rule of its tier.
pub fn check(config: &ServeConfig) -> Result<(), ConfigError> {
    refusals(config).into_result(TIER_VARIABLE)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::config::server::ServeFlags;

    fn load(pairs: &[(&str, &str)], role: Role) -> ServeConfig {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let flags = ServeFlags { role: Some(role), ..ServeFlags::default() };
        ServeConfig::load(Path::new("/srv/cloud"), &env, &flags).unwrap()
    }

    const GOOD: [(&str, &str); 5] = [
        ("OPEN_COWORK_CLOUD_DEPLOYMENT_TIER", "public_production"),
        ("OPEN_COWORK_CLOUD_DATABASE_URL", "postgres://cloud:pw@db.internal/cloud?sslmode=require"),
        ("OPEN_COWORK_CLOUD_TOKEN_HASH_KEY", "Zr8mQ2xW5vN9kT4yB7uC3pL6sD1fGhJe0a"),
        ("OPEN_COWORK_CLOUD_PUBLIC_URL", "https://cloud.example.org"),
        ("OPEN_COWORK_CLOUD_HOST", "0.0.0.0"),
    ];

    #[test]
    fn public_production_runs_web_and_workers_apart_with_every_rule_kept() {
        check(&load(&GOOD, Role::Web)).unwrap();
        check(&load(&GOOD, Role::Worker)).unwrap();
        let refusal = check(&load(&GOOD, Role::All)).unwrap_err().to_string();
        assert!(refusal.contains("OPEN_COWORK_CLOUD_ROLE must be web or worker"), "{refusal}");
        // A local tier keeps the laptop defaults.
        check(&load(&[], Role::All)).unwrap();
    }

    #[test]
    fn public_production_names_every_rule_it_breaks() {
        let refusal = check(&load(
            &[
                ("OPEN_COWORK_CLOUD_DEPLOYMENT_TIER", "public_production"),
                ("OPEN_COWORK_CLOUD_AUTH_MODE", "none"),
                ("OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH", "true"),
                ("OPEN_COWORK_CLOUD_HOST", "0.0.0.0"),
            ],
            Role::Web,
        ))
        .unwrap_err()
        .to_string();
        for rule in [
            "OPEN_COWORK_CLOUD_DATABASE_URL needs a Postgres database",
            "OPEN_COWORK_CLOUD_TOKEN_HASH_KEY needs a strong value",
            "OPEN_COWORK_CLOUD_PUBLIC_URL needs an https public URL",
            "OPEN_COWORK_CLOUD_AUTH_MODE must not be none",
            "OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH must be off",
        ] {
            assert!(refusal.contains(rule), "{rule} missing from {refusal}");
        }
        let mut header = GOOD.to_vec();
        header.extend([
            ("OPEN_COWORK_CLOUD_AUTH_MODE", "header"),
            ("OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET", "Hq7wE2rT9yU4iO1pA6sD3fG8hJ5kL0zXcV"),
            ("OPEN_COWORK_CLOUD_HEADER_AUTH_ALLOW_UNSIGNED", "true"),
        ]);
        let refusal = check(&load(&header, Role::Web)).unwrap_err().to_string();
        assert!(refusal.contains("OPEN_COWORK_CLOUD_HEADER_AUTH_ALLOW_UNSIGNED must be off"), "{refusal}");
    }
}
