//! Deployment tiers (`OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER`, `OPEN_COWORK_CLOUD_DEPLOYMENT_TIER`):
//! `local` (the default), `self_host_beta`, `private_beta` and `public_production`, as Open
//! Cowork names them. `public_production` fails closed: startup is refused, naming every rule the
//! settings break, and each binary supplies its own rules; the checks both share live here.

use std::collections::HashMap;
use std::fmt;

use super::ConfigError;
use super::reader::env_get;
use crate::database::Storage;

/// How exposed a deployment is, and so how strict its startup checks are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeploymentTier {
    /// A laptop or a test (the default).
    #[default]
    Local,
    /// A self-hosted trial.
    SelfHostBeta,
    /// A private beta.
    PrivateBeta,
    /// A public production service: every rule below must hold.
    PublicProduction,
}

impl DeploymentTier {
    /// The tier named in `variable`, `local` when unset; any other value is refused.
    pub fn from_env(env: &HashMap<String, String>, variable: &str) -> Result<Self, ConfigError> {
        match env_get(env, variable) {
            None | Some("local") => Ok(Self::Local),
            Some("self_host_beta") => Ok(Self::SelfHostBeta),
            Some("private_beta") => Ok(Self::PrivateBeta),
            Some("public_production") => Ok(Self::PublicProduction),
            Some(_) => Err(ConfigError::invalid(
                variable,
                "must be one of local, self_host_beta, private_beta, public_production",
            )),
        }
    }

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::SelfHostBeta => "self_host_beta",
            Self::PrivateBeta => "private_beta",
            Self::PublicProduction => "public_production",
        }
    }
}

impl fmt::Display for DeploymentTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rules a `public_production` configuration breaks, each naming its setting.
#[derive(Debug, Default)]
pub struct Refusals(Vec<String>);

impl Refusals {
    /// Records that `setting` breaks a rule, saying what it needs.
    pub fn refuse(&mut self, setting: &str, needs: &str) {
        self.0.push(format!("{setting} {needs}"));
    }

    /// The rules broken so far.
    pub fn rules(&self) -> &[String] {
        &self.0
    }

    /// `Ok` when nothing was refused; else one error listing every broken rule, named after the
    /// tier variable.
    pub fn into_result(self, tier_variable: &str) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = self.0.iter().enumerate().map(|(i, rule)| format!("({}) {rule}", i + 1)).collect();
        Err(ConfigError::invalid(
            tier_variable,
            &format!("is public_production, which refuses to start until these are fixed: {}", list.join("; ")),
        ))
    }

    /// Postgres, over TLS unless the server is on this machine.
    pub fn require_postgres(&mut self, setting: &str, storage: &Storage) {
        let Storage::Url(url) = storage else {
            return self.refuse(setting, "needs a Postgres database (SQLite serves one process on one disk)");
        };
        let Ok(parsed) = ::url::Url::parse(url.expose()) else {
            return self.refuse(setting, "needs a postgres:// URL");
        };
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return self.refuse(setting, "needs a Postgres database (SQLite serves one process on one disk)");
        }
        let loopback = match parsed.host() {
            None => true,
            // postgres:// is not a special scheme to the URL parser: its hosts, addresses
            // included, come back as names.
            Some(::url::Host::Domain(host)) => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                host == "localhost"
                    || host.starts_with('/')
                    || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
            }
            Some(::url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(::url::Host::Ipv6(ip)) => ip.is_loopback(),
        };
        let tls = parsed
            .query_pairs()
            .any(|(key, value)| key == "sslmode" && matches!(value.as_ref(), "require" | "verify-ca" | "verify-full"));
        if !loopback && !tls {
            self.refuse(
                setting,
                "needs TLS to a Postgres server off this machine (sslmode=require, verify-ca or verify-full)",
            );
        }
    }

    /// An https URL.
    pub fn require_https(&mut self, setting: &str, url: Option<&str>) {
        match url.map(::url::Url::parse) {
            Some(Ok(url)) if url.scheme() == "https" && url.host().is_some() => {}
            Some(_) => self.refuse(setting, "needs an https URL"),
            None => self.refuse(setting, "needs an https public URL"),
        }
    }

    /// A token long and varied enough not to be guessed.
    pub fn require_strong(&mut self, setting: &str, token: Option<&str>) {
        if !token.is_some_and(is_strong) {
            self.refuse(setting, "needs a strong value (at least 32 characters, 12 distinct, no placeholder word)");
        }
    }

    /// No secret written literally in the configuration (`paths` are those written so).
    pub fn require_references(&mut self, paths: &[String]) {
        for path in paths {
            self.refuse(
                path,
                "takes its secret as a reference (env:NAME or file:/path), not written in the configuration",
            );
        }
    }
}

/// At least 32 characters, at least 12 distinct, and no placeholder word.
fn is_strong(token: &str) -> bool {
    let distinct: std::collections::HashSet<char> = token.chars().collect();
    let lower = token.to_ascii_lowercase();
    let placeholder = ["changeme", "change-me", "replace", "example", "password", "placeholder", "secret"]
        .iter()
        .any(|word| lower.contains(word));
    token.chars().count() >= 32 && distinct.len() >= 12 && !placeholder
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn url(value: &str) -> Storage {
        Storage::Url(Secret::new(value.to_owned()))
    }

    #[test]
    fn tiers_parse_and_anything_else_is_refused() {
        let env = |v: &str| HashMap::from([("TIER".to_owned(), v.to_owned())]);
        assert_eq!(DeploymentTier::from_env(&HashMap::new(), "TIER").unwrap(), DeploymentTier::Local);
        assert_eq!(
            DeploymentTier::from_env(&env("public_production"), "TIER").unwrap(),
            DeploymentTier::PublicProduction
        );
        assert_eq!(DeploymentTier::from_env(&env("private_beta"), "TIER").unwrap().as_str(), "private_beta");
        let error = DeploymentTier::from_env(&env("production"), "TIER").unwrap_err().to_string();
        assert!(error.contains("`TIER` must be one of local"), "{error}");
    }

    #[test]
    fn postgres_needs_tls_off_this_machine() {
        let refused = |storage: Storage| {
            let mut refusals = Refusals::default();
            refusals.require_postgres("DB", &storage);
            refusals.rules().join(" ")
        };
        assert!(refused(Storage::DataDir("/data".into())).contains("needs a Postgres database"));
        assert!(refused(url("sqlite:///data/x.db")).contains("needs a Postgres database"));
        assert!(refused(url("postgres://u:p@db.internal/x")).contains("needs TLS"));
        assert!(refused(url("postgres://u:p@db.internal/x?sslmode=prefer")).contains("needs TLS"));
        assert_eq!(refused(url("postgres://u:p@db.internal/x?sslmode=verify-full")), "");
        assert_eq!(refused(url("postgres://u:p@127.0.0.1:5432/x")), "");
        assert_eq!(refused(url("postgresql://u@localhost/x")), "");
    }

    #[test]
    fn weak_tokens_and_plain_urls_are_refused_and_all_rules_are_listed() {
        let mut refusals = Refusals::default();
        refusals.require_strong("TOKEN", Some("short"));
        refusals.require_strong("TOKEN", Some(&"ab".repeat(20)));
        refusals.require_strong("TOKEN", Some("changeme-changeme-changeme-changeme-123"));
        refusals.require_strong("TOKEN", None);
        refusals.require_https("URL", Some("http://gw.example.org"));
        refusals.require_https("URL", None);
        assert_eq!(refusals.rules().len(), 6);
        let mut fine = Refusals::default();
        fine.require_strong("TOKEN", Some("k8Jq2vN5xW9zR4tY7uB3mC6pL1sD0fGhQe"));
        fine.require_https("URL", Some("https://gw.example.org"));
        assert!(fine.into_result("TIER").is_ok());
        let error = refusals.into_result("TIER").unwrap_err().to_string();
        assert!(
            error.contains("(1) TOKEN needs a strong value") && error.contains("(6) URL needs an https"),
            "{error}"
        );
    }
}
