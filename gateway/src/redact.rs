//! The gateway's redactor: the one redaction function ([`cowork_cloud::redact`]) loaded with
//! every secret the gateway's configuration holds.

pub use cowork_cloud::redact::{MASK, Redactor};

use crate::config::{GatewayConfig, Secret, Storage};

/// A redactor for every secret the configuration holds: the admin token, each provider
/// credential value, and the database URL (whole, and its password).
pub fn for_config(config: &GatewayConfig) -> Redactor {
    let mut secrets: Vec<Secret> = Vec::new();
    secrets.extend(config.operator.admin_token.iter().cloned());
    for provider in &config.providers {
        secrets.extend(provider.credentials.values().flatten().cloned());
    }
    let redactor = Redactor::new(&secrets);
    match &config.storage {
        Storage::Url(url) => redactor.with_database_url(url),
        _ => redactor,
    }
}
