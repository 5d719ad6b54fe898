//! `open-cowork-gateway doctor`: the configuration (as `check`), then what it points at: the
//! database answers and its schema is this build's, the TLS posture of every connection, each
//! provider's credentials where the platform offers a harmless test (Slack `auth.test`, an SMTP
//! connection with STARTTLS and AUTH), and in split mode the cloud with the service token.

use std::time::Duration;

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
    cowork_cloud::doctor::database(&mut report, &config.storage, SQLITE_FILE).await;
    tls(&mut report, config);
    providers(&mut report, config).await;
    cloud(&mut report, config).await;
    report
}

/// TLS wherever traffic leaves the machine.
fn tls(report: &mut Report, config: &GatewayConfig) {
    cowork_cloud::doctor::tls(
        report,
        "OPEN_COWORK_GATEWAY_DATABASE_URL",
        &config.storage,
        config.public_url.as_deref(),
    );
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
