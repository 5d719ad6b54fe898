//! `open-cowork-gateway doctor`: the configuration (as `check`), then what it points at: the
//! database answers and its schema is this build's, the TLS posture of every connection, each
//! provider's credentials where the platform offers a harmless test (Slack `auth.test`, an SMTP
//! connection with STARTTLS and AUTH), and in split mode the cloud with the service token.

use std::time::Duration;

use cowork_cloud::database::{Backend, Storage, schema_status};
use cowork_cloud::report::Report;
use cowork_cloud_client::SessionBackend;
use tokio_util::sync::CancellationToken;

use crate::app::SQLITE_FILE;
use crate::config::{ConfigError, GatewayConfig};
use crate::registry::ProviderRegistry;

/// How long one platform check may take.
const PLATFORM_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs every check.
pub async fn report(loaded: &Result<GatewayConfig, ConfigError>) -> Report {
    let mut report = Report::new("open-cowork-gateway doctor");
    super::check::configuration(&mut report, loaded);
    let Ok(config) = loaded else { return report };
    database(&mut report, &config.storage).await;
    tls(&mut report, config);
    providers(&mut report, config).await;
    cloud(&mut report, config).await;
    report
}

/// Reachable, and migrated to this build's schema (pending migrations are applied by the next
/// start; migrations this build does not know mean a newer build ran against it).
pub async fn database(report: &mut Report, storage: &Storage) {
    match schema_status(storage, SQLITE_FILE).await {
        Err(error) => report.fail("database", format!("{}: {error}", storage.describe(SQLITE_FILE))),
        Ok(status) if !status.exists => report.warn(
            "database",
            format!("{} does not exist yet (the first start creates it)", storage.describe(SQLITE_FILE)),
        ),
        Ok(status) if !status.unknown.is_empty() => report.fail(
            "database schema",
            format!(
                "applied migrations this build does not know: {:?} (a newer version ran against it)",
                status.unknown
            ),
        ),
        Ok(status) if !status.pending.is_empty() => report.warn(
            "database schema",
            format!("{} migrations pending ({:?}); the next start applies them", status.pending.len(), status.pending),
        ),
        Ok(status) => {
            let engine = match status.backend {
                Backend::Sqlite => "SQLite",
                Backend::Postgres => "Postgres",
            };
            report.pass("database", format!("{engine} answers; its schema is this build's"));
        }
    }
}

/// TLS wherever traffic leaves the machine.
fn tls(report: &mut Report, config: &GatewayConfig) {
    let mut refusals = cowork_cloud::config::tier::Refusals::default();
    if matches!(&config.storage, Storage::Url(url) if !url.expose().starts_with("sqlite:")) {
        refusals.require_postgres("OPEN_COWORK_GATEWAY_DATABASE_URL", &config.storage);
        match refusals.rules().first() {
            Some(rule) => report.warn("tls: database", rule.clone()),
            None => report.pass("tls: database", "TLS to Postgres, or Postgres on this machine"),
        }
    }
    match config.public_url.as_deref() {
        Some(url) if url.starts_with("https://") => report.pass("tls: public URL", url.to_owned()),
        Some(url) => report.warn("tls: public URL", format!("{url} is not https")),
        None => report.skip("tls: public URL", "no public URL set"),
    }
    if let Some(remote) = &config.remote_cloud {
        if remote.base_url.starts_with("https://") {
            report.pass("tls: cloud", remote.base_url.clone());
        } else {
            report.warn("tls: cloud", format!("{} is plain http", remote.base_url));
        }
    }
}

/// Each platform's credentials, where the platform can be asked without side effects.
async fn providers(report: &mut Report, config: &GatewayConfig) {
    for (provider_config, built) in ProviderRegistry::platforms(&config.providers, config.smtp_timeout) {
        let name = format!("provider {}", provider_config.id);
        let provider = match built {
            Ok(provider) => provider,
            Err(error) => {
                report.fail(&name, format!("{error:#}"));
                continue;
            }
        };
        match tokio::time::timeout(PLATFORM_TIMEOUT, provider.check_credentials()).await {
            Ok(None) => {
                report.skip(&name, format!("{} offers no harmless credential test", provider_config.kind().as_str()))
            }
            Ok(Some(Ok(detail))) => report.pass(&name, detail),
            Ok(Some(Err(detail))) => report.fail(&name, detail),
            Err(_) => report.fail(&name, "the platform did not answer in time"),
        }
    }
}

/// In split mode: the cloud is ready and accepts the service token for a granted binding.
async fn cloud(report: &mut Report, config: &GatewayConfig) {
    let Some(remote) = &config.remote_cloud else { return };
    let backend = match crate::app::remote_backend(remote, config, CancellationToken::new()) {
        Ok(backend) => backend,
        Err(error) => return report.fail("cloud", format!("{error:#}")),
    };
    match backend.remote_health().await {
        Some(Ok(())) => report.pass("cloud", format!("{} is ready and accepts the service token", remote.base_url)),
        Some(Err(reason)) => report.fail("cloud", reason),
        None => report.skip("cloud", "not in split mode"),
    }
}
