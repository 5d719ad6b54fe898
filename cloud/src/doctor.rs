//! The checks `doctor` runs in both binaries, and the cloud's `check` and `doctor` reports.

use crate::config::server::{SQLITE_FILE, ServeConfig};
use crate::config::tier::Refusals;
use crate::config::{ConfigError, production};
use crate::database::{Backend, Storage, schema_status};
use crate::report::Report;

/// The database answers, and its schema is this build's (pending migrations are applied by the
/// next start; migrations this build does not know mean a newer build ran against it).
/// `sqlite_file` names the file in a data dir.
pub async fn database(report: &mut Report, storage: &Storage, sqlite_file: &str) {
    match schema_status(storage, sqlite_file).await {
        Err(error) => report.fail("database", format!("{}: {error}", storage.describe(sqlite_file))),
        Ok(status) if !status.exists => report.warn(
            "database",
            format!("{} does not exist yet (the first start creates it)", storage.describe(sqlite_file)),
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

/// TLS to a Postgres server off this machine (`setting` names the URL's variable), and an https
/// public URL.
pub fn tls(report: &mut Report, setting: &str, storage: &Storage, public_url: Option<&str>) {
    if matches!(storage, Storage::Url(url) if !url.expose().starts_with("sqlite:")) {
        let mut refusals = Refusals::default();
        refusals.require_postgres(setting, storage);
        match refusals.rules().first() {
            Some(rule) => report.warn("tls: database", rule.clone()),
            None => report.pass("tls: database", "TLS to Postgres, or Postgres on this machine"),
        }
    }
    match public_url {
        Some(url) if url.starts_with("https://") => report.pass("tls: public URL", url.to_owned()),
        Some(url) => report.warn("tls: public URL", format!("{url} is not https")),
        None => report.skip("tls: public URL", "no public URL set"),
    }
}

/// The deployment tier's check lines: one pass, or one failure per rule `refusals` holds.
pub fn tier(report: &mut Report, tier: crate::config::tier::DeploymentTier, refusals: &Refusals) {
    if refusals.rules().is_empty() {
        report.pass("deployment tier", format!("{tier}: every rule of the tier holds"));
    }
    for rule in refusals.rules() {
        report.fail("deployment tier", format!("{tier}: {rule}"));
    }
}

/// `open-cowork-cloud check`: the configuration alone, offline.
pub fn check(loaded: &Result<ServeConfig, ConfigError>) -> Report {
    let mut report = Report::new("open-cowork-cloud check");
    configuration(&mut report, loaded);
    report
}

/// `open-cowork-cloud doctor`: the configuration, the database and the TLS posture.
pub async fn doctor(loaded: &Result<ServeConfig, ConfigError>) -> Report {
    let mut report = Report::new("open-cowork-cloud doctor");
    configuration(&mut report, loaded);
    if let Ok(config) = loaded {
        database(&mut report, &config.storage, SQLITE_FILE).await;
        let public_url = config.auth.public_url.as_ref().map(|url| url.as_str());
        tls(&mut report, "OPEN_COWORK_CLOUD_DATABASE_URL", &config.storage, public_url);
    }
    report
}

fn configuration(report: &mut Report, loaded: &Result<ServeConfig, ConfigError>) {
    let config = match loaded {
        Ok(config) => config,
        Err(error) => return report.fail("configuration", error.to_string()),
    };
    report.pass(
        "configuration",
        format!(
            "role {}; runtime {}; people authenticate by {}",
            config.role.as_str(),
            config.cloud.runtime.as_str(),
            config.auth.mode.as_str()
        ),
    );
    for warning in &config.warnings {
        report.warn("configuration", warning.clone());
    }
    report.pass("storage", config.storage.describe(SQLITE_FILE));
    tier(report, config.tier, &production::refusals(config));
}
