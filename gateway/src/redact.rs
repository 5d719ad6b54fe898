//! The gateway's redactor: the one redaction function ([`cowork_cloud::redact`]) loaded with
//! every secret the gateway's configuration holds.

pub use cowork_cloud::redact::{MASK, Redactor};

use crate::config::{GatewayConfig, Secret, Storage};

/// A redactor for every secret the configuration holds: the admin token, each provider
/// credential value, the OpenAI key, the cloud service token, and the database URL (whole, and its password).
pub fn for_config(config: &GatewayConfig) -> Redactor {
    let mut secrets: Vec<Secret> = Vec::new();
    secrets.extend(config.operator.admin_token.iter().cloned());
    secrets.extend(config.cloud.openai.api_key.iter().cloned());
    secrets.extend(config.remote_cloud.iter().map(|remote| remote.service_token.clone()));
    for provider in &config.providers {
        secrets.extend(provider.credentials.values().flatten().cloned());
    }
    let redactor = Redactor::new(&secrets);
    match &config.storage {
        Storage::Url(url) => redactor.with_database_url(url),
        _ => redactor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_secret_is_masked() {
        let mut config = GatewayConfig::for_tests(Storage::DataDir("/tmp/unused".into()));
        config.operator.admin_token = Some(Secret::new("admin-token-value-123".into()));
        config.cloud.openai.api_key = Some(Secret::new("sk-openai-key-value-456".into()));
        let redactor = for_config(&config);
        let line = redactor.redact("admin-token-value-123 then sk-openai-key-value-456");
        assert!(!line.contains("admin-token-value-123"), "{line}");
        assert!(!line.contains("openai-key-value-456"), "{line}");
    }
}
