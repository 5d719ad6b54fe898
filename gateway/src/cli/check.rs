//! `open-cowork-gateway check`: the configuration alone, offline: does it load, what does it
//! run, and does it keep the rules of its deployment tier.

use cowork_cloud::report::Report;

use crate::app::SQLITE_FILE;
use crate::config::{ConfigError, GatewayConfig, production};

/// The checks of a loaded (or refused) configuration.
pub fn report(loaded: &Result<GatewayConfig, ConfigError>) -> Report {
    let mut report = Report::new("open-cowork-gateway check");
    configuration(&mut report, loaded);
    report
}

/// Adds the configuration checks to `report`.
pub fn configuration(report: &mut Report, loaded: &Result<GatewayConfig, ConfigError>) {
    let config = match loaded {
        Ok(config) => config,
        Err(error) => return report.fail("configuration", error.to_string()),
    };
    let mode = if config.remote_cloud.is_some() { "split (serve)" } else { "standalone" };
    let providers: Vec<String> = config.providers.iter().map(|p| format!("{} ({})", p.id, p.kind().as_str())).collect();
    report.pass("configuration", format!("{mode}; providers {}", providers.join(", ")));
    for warning in &config.warnings {
        report.warn("configuration", warning.clone());
    }
    report.pass("storage", config.storage.describe(SQLITE_FILE));
    let exposure = match (&config.public_url, config.listen.ip().is_loopback()) {
        (Some(url), _) => format!("public URL {url}, listening on {}", config.listen),
        (None, true) => format!("loopback only ({})", config.listen),
        (None, false) => format!("listening on {} (no public URL set)", config.listen),
    };
    let token = if config.operator.admin_token.is_some() { "admin token set" } else { "no admin token" };
    report.pass("exposure", format!("{exposure}; {token}"));
    cowork_cloud::doctor::tier(report, config.tier, &production::refusals(config));
}
