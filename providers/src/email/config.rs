//! Configuration of a `kind: "email"` provider: the credentials (`inboundSecret`, several at once
//! for rotation, and `smtpPassword`) and the `settings` object. Unknown settings are refused and
//! every error names the offending field; the module doc of [`super`] explains each setting.

use std::fmt;
use std::net::IpAddr;

use lettre::message::Mailbox;
use serde_json::{Map, Value};

use super::address::{self, clean_name};
use crate::egress::operator_endpoint_allowed;

/// The default attachment limit, inbound and outbound: 1 MiB.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 1024 * 1024;
/// The largest `maxAttachmentBytes` accepted: 15 MiB (Open Cowork's ceiling; most relays and
/// mailboxes refuse much larger mail, and base64 adds a third).
pub const MAX_ATTACHMENT_BYTES_LIMIT: u64 = 15 * 1024 * 1024;
/// The subject of a mail that starts a thread (no inbound subject to answer).
pub const DEFAULT_SUBJECT: &str = "Open Cowork update";
/// The SMTP timeout used when the gateway passes none (`OPEN_COWORK_GATEWAY_SMTP_TIMEOUT_MS`).
pub const DEFAULT_SMTP_TIMEOUT_MS: u64 = 30_000;
/// The longest fallback subject accepted, in bytes.
const MAX_SUBJECT_BYTES: usize = 200;
/// The longest host name (RFC 1035).
const MAX_HOST_BYTES: usize = 253;

const KNOWN_FIELDS: [&str; 13] = [
    "from",
    "smtpHost",
    "smtpPort",
    "smtpSecurity",
    "smtpSecure",
    "smtpUsername",
    "smtpRootCertificates",
    "allowedSenders",
    "maxAttachmentBytes",
    "requireAuthenticationResults",
    "authServId",
    "subject",
    "inboundAddress",
];

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connect, then STARTTLS, which is required: nothing is sent if the server does not
    /// offer it (the default; port 587).
    #[default]
    StartTls,
    /// Implicit TLS from the first byte (SMTPS; port 465).
    Tls,
    /// No TLS at all: only to a loopback host, and never with credentials (port 25).
    None,
}

impl SmtpSecurity {
    /// The port used when `smtpPort` is not set.
    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }
}

/// One `allowedSenders` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderPattern {
    /// Exactly this address (lowercased).
    Address(String),
    /// Any address at exactly this domain (`@example.com`; subdomains are not included).
    Domain(String),
}

impl SenderPattern {
    /// Whether a lowercased address matches.
    pub fn matches(&self, address: &str) -> bool {
        match self {
            Self::Address(expected) => expected == address,
            Self::Domain(domain) => address::domain_of(address) == domain,
        }
    }
}

/// An authentication method whose verdict the relay reports in `Authentication-Results`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// SPF of the envelope sender (must be aligned with the From domain).
    Spf,
    /// A DKIM signature (its `d=` domain must be aligned with the From domain).
    Dkim,
    /// DMARC of the From domain.
    Dmarc,
}

/// Which relay verdicts a mail needs before it may prompt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum VerdictRequirement {
    /// Verdicts are not looked at (the default).
    #[default]
    Off,
    /// `true`: DMARC as the relay judged it (`dmarc=pass`), or, when the relay reports no DMARC
    /// result, an aligned `dkim=pass` or `spf=pass`; an explicit `dmarc=fail` always fails.
    Dmarc,
    /// A list such as `["spf", "dkim"]`: every listed method must pass (SPF and DKIM aligned).
    Each(Vec<AuthMethod>),
}

/// `settings` of a `kind: "email"` provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailSettings {
    /// The From of every reply (`Name <address>` or an address); its domain names our
    /// Message-IDs and mail from it is never prompted.
    pub from: Mailbox,
    /// The SMTP server (operator-configured; loopback allowed, cloud metadata never).
    pub smtp_host: String,
    /// The SMTP port (default by security: 587, 465 or 25).
    pub smtp_port: u16,
    /// How the SMTP connection is protected.
    pub smtp_security: SmtpSecurity,
    /// The SMTP AUTH user; AUTH (PLAIN or LOGIN) happens only when set, and never without TLS.
    pub smtp_username: Option<String>,
    /// Extra trusted root certificates (PEM) for a relay with a private CA, on top of the
    /// Mozilla roots.
    pub smtp_root_certificates: Option<String>,
    /// Who may prompt; empty allows every sender.
    pub allowed_senders: Vec<SenderPattern>,
    /// The largest attachment, inbound and outbound, in bytes.
    pub max_attachment_bytes: u64,
    /// Relay verdicts a mail needs before it may prompt.
    pub require_authentication_results: VerdictRequirement,
    /// Only `Authentication-Results` headers of this authserv-id count (the relay's own); when
    /// unset, only the topmost header counts (the one the closest relay added).
    pub auth_serv_id: Option<String>,
    /// The subject of a mail that starts a thread.
    pub subject: String,
    /// The address the relay receives for; mail from it is never prompted either.
    pub inbound_address: Option<String>,
}

impl EmailSettings {
    /// Parses the `settings` object (camelCase, unknown fields refused); errors name the field.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let map = &crate::settings::settings_object(value, &KNOWN_FIELDS, "email")?;
        let from = parse_from(string(map, "from")?)?;
        let smtp_host = string(map, "smtpHost")?.ok_or("settings.smtpHost is required")?;
        let smtp_security = parse_security(map)?;
        let smtp_port = match map.get("smtpPort") {
            None | Some(Value::Null) => smtp_security.default_port(),
            Some(value) => value
                .as_u64()
                .and_then(|port| u16::try_from(port).ok())
                .filter(|port| *port > 0)
                .ok_or("settings.smtpPort must be an integer between 1 and 65535")?,
        };
        let max_attachment_bytes = match map.get("maxAttachmentBytes") {
            None | Some(Value::Null) => DEFAULT_MAX_ATTACHMENT_BYTES,
            Some(value) => value.as_u64().ok_or("settings.maxAttachmentBytes must be a positive integer")?,
        };
        let inbound_address = match string(map, "inboundAddress")? {
            None => None,
            Some(raw) => {
                Some(address::parse_address(&raw).ok_or("settings.inboundAddress must be a mail address")?.to_string())
            }
        };
        let settings = Self {
            from,
            smtp_host,
            smtp_port,
            smtp_security,
            smtp_username: string(map, "smtpUsername")?,
            smtp_root_certificates: string(map, "smtpRootCertificates")?,
            allowed_senders: parse_allowed_senders(map.get("allowedSenders"))?,
            max_attachment_bytes,
            require_authentication_results: parse_requirement(map.get("requireAuthenticationResults"))?,
            auth_serv_id: string(map, "authServId")?.map(|id| id.to_ascii_lowercase()),
            subject: string(map, "subject")?.unwrap_or_else(|| DEFAULT_SUBJECT.to_owned()),
            inbound_address,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks ranges and cross-field rules (plaintext only to loopback, never with AUTH).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attachment_bytes == 0 || self.max_attachment_bytes > MAX_ATTACHMENT_BYTES_LIMIT {
            return Err(format!("settings.maxAttachmentBytes must be between 1 and {MAX_ATTACHMENT_BYTES_LIMIT}"));
        }
        check_host(&self.smtp_host)?;
        if self.smtp_security == SmtpSecurity::None {
            if !is_loopback_host(&self.smtp_host) {
                return Err(format!(
                    "settings.smtpSecurity \"none\" is allowed only to a loopback smtpHost, not {:?}; use \"starttls\" or \"tls\"",
                    self.smtp_host
                ));
            }
            if self.smtp_username.is_some() {
                return Err(
                    "settings.smtpUsername needs TLS: credentials are never sent with smtpSecurity \"none\"".into()
                );
            }
        }
        if let Some(user) = &self.smtp_username
            && user.chars().any(char::is_control)
        {
            return Err("settings.smtpUsername contains control characters".into());
        }
        if self.subject.len() > MAX_SUBJECT_BYTES || self.subject.chars().any(char::is_control) {
            return Err(format!(
                "settings.subject must be at most {MAX_SUBJECT_BYTES} bytes without control characters"
            ));
        }
        if let Some(id) = &self.auth_serv_id
            && !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err("settings.authServId must be a host-like authserv-id such as mx.example.com".into());
        }
        if let Some(pem) = &self.smtp_root_certificates {
            super::smtp::root_certificate(pem)
                .map_err(|reason| format!("settings.smtpRootCertificates is not usable: {reason}"))?;
        }
        Ok(())
    }

    /// The lowercased From address.
    pub fn from_address(&self) -> String {
        self.from.email.to_string().to_lowercase()
    }

    /// The domain of the From address: our Message-IDs live there.
    pub fn from_domain(&self) -> String {
        self.from.email.domain().to_ascii_lowercase()
    }

    /// Whether a lowercased sender may prompt.
    pub fn sender_allowed(&self, address: &str) -> bool {
        self.allowed_senders.is_empty() || self.allowed_senders.iter().any(|pattern| pattern.matches(address))
    }
}

/// The credentials of one email provider: the `inboundSecret` values (any of them
/// authenticates the relay; several at once for rotation) and the optional `smtpPassword`.
#[derive(Clone, Default)]
pub struct EmailCredentials {
    /// Secrets the relay presents (header or bearer) or signs with (`v1` HMAC).
    pub inbound_secrets: Vec<String>,
    /// The SMTP AUTH password (needs `smtpUsername`).
    pub smtp_password: Option<String>,
}

impl fmt::Debug for EmailCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailCredentials")
            .field("inbound_secrets", &format_args!("[redacted; {}]", self.inbound_secrets.len()))
            .field("smtp_password", &self.smtp_password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// An optional string setting, trimmed; empty counts as absent.
fn string(map: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.trim().to_owned()).filter(|text| !text.is_empty())),
        Some(_) => Err(format!("settings.{field} must be a string")),
    }
}

/// `from`: required, `Name <address>` or an address, no control characters.
fn parse_from(raw: Option<String>) -> Result<Mailbox, String> {
    let raw = raw.ok_or("settings.from is required")?;
    if raw.chars().any(char::is_control) {
        return Err("settings.from contains control characters".into());
    }
    let sender = address::parse_mailbox(&raw)
        .ok_or_else(|| format!("settings.from must be an address or `Name <address>`, not {raw:?}"))?;
    let email = sender.address.parse().map_err(|_| format!("settings.from has an invalid address: {raw:?}"))?;
    if !sender.address.is_ascii() {
        return Err("settings.from must be an ASCII address (SMTPUTF8 is not supported)".into());
    }
    Ok(Mailbox::new(sender.name.as_deref().and_then(clean_name), email))
}

/// `smtpSecurity`, with Open Cowork's `smtpSecure: true` as an alias of `tls`.
fn parse_security(map: &Map<String, Value>) -> Result<SmtpSecurity, String> {
    let security = match string(map, "smtpSecurity")?.as_deref() {
        None => None,
        Some("starttls") => Some(SmtpSecurity::StartTls),
        Some("tls") => Some(SmtpSecurity::Tls),
        Some("none") => Some(SmtpSecurity::None),
        Some(other) => {
            return Err(format!("settings.smtpSecurity must be \"starttls\", \"tls\" or \"none\", not {other:?}"));
        }
    };
    let secure = match map.get("smtpSecure") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(secure)) => Some(*secure),
        Some(_) => return Err("settings.smtpSecure must be a boolean".into()),
    };
    match (security, secure) {
        (Some(security), Some(true)) if security != SmtpSecurity::Tls => {
            Err(format!("settings.smtpSecure: true contradicts settings.smtpSecurity {:?}", security.as_str()))
        }
        (Some(SmtpSecurity::Tls), Some(false)) => {
            Err("settings.smtpSecure: false contradicts settings.smtpSecurity \"tls\"".into())
        }
        (Some(security), _) => Ok(security),
        (None, Some(true)) => Ok(SmtpSecurity::Tls),
        (None, _) => Ok(SmtpSecurity::StartTls),
    }
}

/// `allowedSenders`: an array of addresses and `@domain` entries.
fn parse_allowed_senders(value: Option<&Value>) -> Result<Vec<SenderPattern>, String> {
    let field = "settings.allowedSenders";
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("{field} must be an array of addresses or @domain entries")),
    };
    let mut patterns = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let entry = item.as_str().map(str::trim).ok_or_else(|| format!("{field}[{index}] must be a string"))?;
        let pattern = if let Some(domain) = entry.strip_prefix('@') {
            let probe = format!("x@{domain}");
            let parsed = address::parse_address(&probe)
                .ok_or_else(|| format!("{field}[{index}] {entry:?} is not a valid @domain"))?;
            SenderPattern::Domain(address::domain_of(parsed.as_ref()).to_owned())
        } else {
            let parsed = address::parse_address(entry)
                .ok_or_else(|| format!("{field}[{index}] {entry:?} is not an address or @domain"))?;
            SenderPattern::Address(parsed.to_string())
        };
        patterns.push(pattern);
    }
    Ok(patterns)
}

/// `requireAuthenticationResults`: `false`, `true` or a list of `spf`, `dkim`, `dmarc`.
fn parse_requirement(value: Option<&Value>) -> Result<VerdictRequirement, String> {
    let field = "settings.requireAuthenticationResults";
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(VerdictRequirement::Off),
        Some(Value::Bool(true)) => Ok(VerdictRequirement::Dmarc),
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut methods = Vec::with_capacity(items.len());
            for item in items {
                let method = match item.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("spf") => AuthMethod::Spf,
                    Some("dkim") => AuthMethod::Dkim,
                    Some("dmarc") => AuthMethod::Dmarc,
                    _ => return Err(format!("{field} entries must be \"spf\", \"dkim\" or \"dmarc\", not {item}")),
                };
                if !methods.contains(&method) {
                    methods.push(method);
                }
            }
            Ok(VerdictRequirement::Each(methods))
        }
        Some(_) => Err(format!("{field} must be a boolean or a non-empty list of \"spf\", \"dkim\", \"dmarc\"")),
    }
}

/// A host name or IP literal, never a cloud metadata address.
fn check_host(host: &str) -> Result<(), String> {
    let field = "settings.smtpHost";
    if host.len() > MAX_HOST_BYTES || host.chars().any(|c| c.is_control() || c.is_whitespace() || c == '/') {
        return Err(format!("{field} must be a host name or IP address, not {host:?}"));
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let url_host = if bare.parse::<std::net::Ipv6Addr>().is_ok() { format!("[{bare}]") } else { bare.to_owned() };
    url::Host::parse(&url_host).map_err(|_| format!("{field} must be a host name or IP address, not {host:?}"))?;
    operator_endpoint_allowed(&format!("https://{url_host}/")).map_err(|reason| format!("{field} is refused: {reason}"))
}

/// `localhost` (and names under it) or a loopback address.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
