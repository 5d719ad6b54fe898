//! How people reach the admin API (`OPEN_COWORK_CLOUD_AUTH_MODE` and its settings), read from
//! the `OPEN_COWORK_CLOUD_*` variables and checked against where the cloud listens: a mode that
//! would expose an unauthenticated or forgeable owner stops startup, naming the setting.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;

use super::reader::{env_boolean, env_get, env_integer};
use super::{ConfigError, Secret};

/// The shortest header-auth secret accepted, in bytes.
pub const MIN_HEADER_SECRET_BYTES: usize = 32;

/// Who may call besides API tokens (which every mode accepts first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// API tokens only (this cloud's default).
    #[default]
    Token,
    /// No credentials: every request without an API token is the local owner.
    None,
    /// Identity headers from a trusted proxy, signed with a shared secret.
    Header,
    /// Bearer JWTs from an OpenID Connect issuer.
    Oidc,
}

impl AuthMode {
    /// The setting's value (`token`, `none`, `header`, `oidc`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::None => "none",
            Self::Header => "header",
            Self::Oidc => "oidc",
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthMode {
    type Err = ConfigError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "token" | "tokens" => Ok(Self::Token),
            "none" => Ok(Self::None),
            "header" => Ok(Self::Header),
            "oidc" => Ok(Self::Oidc),
            _ => Err(ConfigError::invalid("OPEN_COWORK_CLOUD_AUTH_MODE", "must be one of token, none, header, oidc")),
        }
    }
}

/// Header mode's settings.
#[derive(Clone, Debug)]
pub struct HeaderAuthConfig {
    /// The HMAC key of the signature (`OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET`, at least 32 bytes).
    pub secret: Option<Secret>,
    /// How far a signature's timestamp may be from now, either way
    /// (`OPEN_COWORK_CLOUD_HEADER_AUTH_MAX_SIGNATURE_AGE_MS`, default 5 min).
    pub max_signature_age: Duration,
    /// Accept unsigned headers (members only) on a public bind
    /// (`OPEN_COWORK_CLOUD_HEADER_AUTH_ALLOW_UNSIGNED`).
    pub allow_unsigned: bool,
}

impl Default for HeaderAuthConfig {
    fn default() -> Self {
        Self { secret: None, max_signature_age: Duration::from_secs(300), allow_unsigned: false }
    }
}

/// OIDC mode's settings.
#[derive(Clone, Debug, Default)]
pub struct OidcConfig {
    /// The issuer URL (`OPEN_COWORK_CLOUD_OIDC_ISSUER`), trailing slash dropped.
    pub issuer: Option<String>,
    /// The audience tokens must carry (`OPEN_COWORK_CLOUD_OIDC_CLIENT_ID`).
    pub client_id: Option<String>,
    /// Email domains allowed in, lowercase (`OPEN_COWORK_CLOUD_OIDC_ALLOWED_EMAIL_DOMAINS`,
    /// comma-separated; empty: any).
    pub allowed_email_domains: Vec<String>,
}

/// The human auth settings.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// The mode (`OPEN_COWORK_CLOUD_AUTH_MODE`, default `token`).
    pub mode: AuthMode,
    /// Allow mode `none` on a non-loopback bind (`OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH`).
    pub allow_insecure: bool,
    /// Where people reach the cloud (`OPEN_COWORK_CLOUD_PUBLIC_URL`); a non-loopback one marks
    /// the cloud as exposed.
    pub public_url: Option<Url>,
    /// Header mode.
    pub header: HeaderAuthConfig,
    /// OIDC mode.
    pub oidc: OidcConfig,
}

impl AuthConfig {
    /// Applies the `OPEN_COWORK_CLOUD_*` auth variables.
    pub fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        if let Some(mode) = env_get(env, "OPEN_COWORK_CLOUD_AUTH_MODE") {
            self.mode = mode.parse()?;
        }
        if let Some(allow) = env_boolean(env, "OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH")? {
            self.allow_insecure = allow;
        }
        if let Some(url) = env_get(env, "OPEN_COWORK_CLOUD_PUBLIC_URL") {
            self.public_url = Some(http_url("OPEN_COWORK_CLOUD_PUBLIC_URL", url)?);
        }
        if let Some(secret) = env.get("OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET").filter(|s| !s.is_empty()) {
            if secret.len() < MIN_HEADER_SECRET_BYTES {
                return Err(ConfigError::invalid(
                    "OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET",
                    &format!("must be at least {MIN_HEADER_SECRET_BYTES} bytes"),
                ));
            }
            self.header.secret = Some(Secret::new(secret.clone()));
        }
        if let Some(ms) = env_integer(env, "OPEN_COWORK_CLOUD_HEADER_AUTH_MAX_SIGNATURE_AGE_MS", 1_000..=3_600_000)? {
            self.header.max_signature_age = Duration::from_millis(ms);
        }
        if let Some(allow) = env_boolean(env, "OPEN_COWORK_CLOUD_HEADER_AUTH_ALLOW_UNSIGNED")? {
            self.header.allow_unsigned = allow;
        }
        if let Some(issuer) = env_get(env, "OPEN_COWORK_CLOUD_OIDC_ISSUER") {
            let url = http_url("OPEN_COWORK_CLOUD_OIDC_ISSUER", issuer)?;
            if url.scheme() != "https" && !is_loopback_url(&url) {
                return Err(ConfigError::invalid(
                    "OPEN_COWORK_CLOUD_OIDC_ISSUER",
                    "must be an https URL (plain http only on loopback)",
                ));
            }
            self.oidc.issuer = Some(issuer.trim_end_matches('/').to_owned());
        }
        if let Some(client_id) = env_get(env, "OPEN_COWORK_CLOUD_OIDC_CLIENT_ID") {
            self.oidc.client_id = Some(client_id.to_owned());
        }
        if let Some(domains) = env_get(env, "OPEN_COWORK_CLOUD_OIDC_ALLOWED_EMAIL_DOMAINS") {
            self.oidc.allowed_email_domains = domains
                .split(',')
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect();
        }
        Ok(())
    }

    /// Refuses combinations that would let anyone who reaches `listen` act as an owner.
    pub fn validate(&self, listen: SocketAddr) -> Result<(), ConfigError> {
        let local_bind = is_loopback_ip(listen.ip());
        let public_url = self.public_url.as_ref().filter(|url| !is_loopback_url(url));
        match self.mode {
            AuthMode::Token => Ok(()),
            AuthMode::None => {
                // As Open Cowork: the override admits a non-loopback bind (a container's port
                // mapping, say), never a public URL, which says the cloud is published.
                if public_url.is_some() {
                    return Err(ConfigError::invalid(
                        "OPEN_COWORK_CLOUD_AUTH_MODE",
                        "`none` cannot be used with a non-loopback OPEN_COWORK_CLOUD_PUBLIC_URL",
                    ));
                }
                if !local_bind && !self.allow_insecure {
                    return Err(ConfigError::invalid(
                        "OPEN_COWORK_CLOUD_AUTH_MODE",
                        &format!(
                            "`none` listens without authentication on {listen}, which is not loopback; \
                             set OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH=true to allow it"
                        ),
                    ));
                }
                Ok(())
            }
            AuthMode::Header => {
                let exposed = !local_bind || public_url.is_some();
                if self.header.secret.is_none() && exposed && !self.header.allow_unsigned {
                    return Err(ConfigError::invalid(
                        "OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET",
                        "is required for header auth on a non-loopback bind or public URL \
                         (or set OPEN_COWORK_CLOUD_HEADER_AUTH_ALLOW_UNSIGNED=true for members only)",
                    ));
                }
                Ok(())
            }
            AuthMode::Oidc => {
                if self.oidc.issuer.is_none() {
                    return Err(ConfigError::invalid("OPEN_COWORK_CLOUD_OIDC_ISSUER", "is required for oidc auth"));
                }
                if self.oidc.client_id.is_none() {
                    return Err(ConfigError::invalid("OPEN_COWORK_CLOUD_OIDC_CLIENT_ID", "is required for oidc auth"));
                }
                Ok(())
            }
        }
    }
}

fn http_url(name: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|_| ConfigError::invalid(name, "must be an absolute http(s) URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::invalid(name, "must be an absolute http(s) URL"));
    }
    Ok(url)
}

fn is_loopback_ip(ip: IpAddr) -> bool {
    ip.is_loopback() || matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()))
}

/// Whether `url`'s host is `localhost` or a loopback address.
pub fn is_loopback_url(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || bare.parse().is_ok_and(is_loopback_ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)], listen: &str) -> Result<AuthConfig, ConfigError> {
        let env = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut config = AuthConfig::default();
        config.apply_env(&env)?;
        config.validate(listen.parse().expect("listen"))?;
        Ok(config)
    }

    fn refused(pairs: &[(&str, &str)], listen: &str) -> String {
        load(pairs, listen).err().map(|e| e.to_string()).unwrap_or_default()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_default_is_tokens_only_anywhere() {
        let config = load(&[], "0.0.0.0:8787").expect("valid");
        assert_eq!(config.mode, AuthMode::Token);
        assert_eq!(config.header.max_signature_age, Duration::from_secs(300));
    }

    #[test]
    fn none_needs_loopback_or_the_override_and_never_a_public_url() {
        let none = [("OPEN_COWORK_CLOUD_AUTH_MODE", "none")];
        assert!(load(&none, "127.0.0.1:8787").is_ok());
        assert!(load(&none, "[::1]:8787").is_ok());
        assert!(refused(&none, "0.0.0.0:8787").contains("OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH"));
        let insecure = [none[0], ("OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH", "true")];
        assert!(load(&insecure, "0.0.0.0:8787").is_ok());
        let public = [insecure[0], insecure[1], ("OPEN_COWORK_CLOUD_PUBLIC_URL", "https://cloud.example.com")];
        assert!(refused(&public, "127.0.0.1:8787").contains("OPEN_COWORK_CLOUD_PUBLIC_URL"));
        let local_url = [none[0], ("OPEN_COWORK_CLOUD_PUBLIC_URL", "http://localhost:8787")];
        assert!(load(&local_url, "127.0.0.1:8787").is_ok());
    }

    #[test]
    fn header_needs_a_long_secret_off_loopback() {
        let header = ("OPEN_COWORK_CLOUD_AUTH_MODE", "header");
        assert!(load(&[header], "127.0.0.1:8787").is_ok(), "unsigned (members only) on loopback");
        assert!(refused(&[header], "0.0.0.0:8787").contains("OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET"));
        let public = ("OPEN_COWORK_CLOUD_PUBLIC_URL", "https://cloud.example.com");
        assert!(refused(&[header, public], "127.0.0.1:8787").contains("OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET"));
        assert!(load(&[header, ("OPEN_COWORK_CLOUD_HEADER_AUTH_ALLOW_UNSIGNED", "true")], "0.0.0.0:1").is_ok());
        let short = ("OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET", "short");
        assert!(refused(&[header, short], "127.0.0.1:1").contains("at least 32 bytes"));
        let config = load(&[header, ("OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET", SECRET)], "0.0.0.0:1").expect("valid");
        assert!(!format!("{config:?}").contains(SECRET), "the secret never prints");
        let age = ("OPEN_COWORK_CLOUD_HEADER_AUTH_MAX_SIGNATURE_AGE_MS", "10");
        assert!(refused(&[header, age], "127.0.0.1:1").contains("OPEN_COWORK_CLOUD_HEADER_AUTH_MAX_SIGNATURE_AGE_MS"));
    }

    #[test]
    fn oidc_needs_an_https_issuer_and_a_client_id() {
        let oidc = ("OPEN_COWORK_CLOUD_AUTH_MODE", "oidc");
        assert!(refused(&[oidc], "127.0.0.1:1").contains("OPEN_COWORK_CLOUD_OIDC_ISSUER"));
        let issuer = ("OPEN_COWORK_CLOUD_OIDC_ISSUER", "https://id.example.com/");
        assert!(refused(&[oidc, issuer], "127.0.0.1:1").contains("OPEN_COWORK_CLOUD_OIDC_CLIENT_ID"));
        let client = ("OPEN_COWORK_CLOUD_OIDC_CLIENT_ID", "cowork");
        let domains = ("OPEN_COWORK_CLOUD_OIDC_ALLOWED_EMAIL_DOMAINS", " Example.com, @corp.example ,");
        let config = load(&[oidc, issuer, client, domains], "0.0.0.0:1").expect("valid");
        assert_eq!(config.oidc.issuer.as_deref(), Some("https://id.example.com"));
        assert_eq!(config.oidc.allowed_email_domains, ["example.com", "corp.example"]);
        let plain = ("OPEN_COWORK_CLOUD_OIDC_ISSUER", "http://id.example.com");
        assert!(refused(&[oidc, plain, client], "127.0.0.1:1").contains("https"));
        assert!(load(&[oidc, ("OPEN_COWORK_CLOUD_OIDC_ISSUER", "http://127.0.0.1:9/"), client], "127.0.0.1:1").is_ok());
        assert!(refused(&[("OPEN_COWORK_CLOUD_AUTH_MODE", "saml")], "127.0.0.1:1").contains("token, none, header"));
    }
}
