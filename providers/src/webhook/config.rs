//! Configuration of a `kind: "webhook"` provider: the `sharedSecret` credentials (several at once
//! for rotation) and the `settings` object (`deliveryUrl`, `deliveryUrlAllowedHosts`,
//! `allowPrivateDelivery`, `maxAttachmentBytes`, `deliveryTimeoutMs`). Every error names the
//! offending field. The egress policy judges the delivery URL again on every send (DNS answers
//! included); the checks here only make obvious mistakes fail at start-up.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};
use url::{Host, Url};

use crate::egress::EgressRules;

/// The default attachment limit: 1 MiB.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 1024 * 1024;
/// The largest `maxAttachmentBytes` accepted: 25 MiB (the gateway's body cap bounds it further).
pub const MAX_ATTACHMENT_BYTES_LIMIT: u64 = 25 * 1024 * 1024;
/// The default delivery timeout (DNS, connect, request and response), in milliseconds.
pub const DEFAULT_DELIVERY_TIMEOUT_MS: u64 = 15_000;
/// The accepted range of `deliveryTimeoutMs`.
const DELIVERY_TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=120_000;
/// The longest delivery URL accepted, in bytes.
const MAX_URL_BYTES: usize = 2048;

const KNOWN_FIELDS: [&str; 5] =
    ["deliveryUrl", "deliveryUrlAllowedHosts", "allowPrivateDelivery", "maxAttachmentBytes", "deliveryTimeoutMs"];

/// The `sharedSecret` values of one webhook provider; the first signs outbound deliveries, any
/// of them verifies inbound requests. Never printed.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<Vec<u8>>);

impl WebhookSecrets {
    /// Validates the configured values: at least one, none empty, no control characters.
    pub fn new(values: Vec<String>) -> Result<Self, String> {
        crate::signature::secret_bytes(values, "credentials.sharedSecret", "webhook").map(Self)
    }

    /// All secrets, for verifying (rotation).
    pub fn all(&self) -> &[Vec<u8>] {
        &self.0
    }

    /// The secret that signs outbound deliveries (the first configured).
    pub fn signing(&self) -> &[u8] {
        self.0.first().map(Vec::as_slice).unwrap_or_default()
    }
}

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecrets([redacted; {}])", self.0.len())
    }
}

/// `settings` of a `kind: "webhook"` provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Where deliveries are POSTed (https, or http to a loopback host with private delivery).
    pub delivery_url: String,
    /// Hosts the delivery URL may name: exact names or `*.suffix` (not matching the apex);
    /// empty allows any host.
    pub delivery_url_allowed_hosts: Vec<String>,
    /// Allow private, loopback and link-local destinations (never cloud metadata).
    pub allow_private_delivery: bool,
    /// The largest inbound attachment, declared or inline, in bytes.
    pub max_attachment_bytes: u64,
    /// The delivery timeout in milliseconds (DNS, connect, request and response).
    pub delivery_timeout_ms: u64,
}

impl WebhookSettings {
    /// Parses the `settings` object; errors name the offending field.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let map = &crate::settings::settings_object(value, &KNOWN_FIELDS, "webhook")?;
        let delivery_url = match map.get("deliveryUrl") {
            None | Some(Value::Null) => return Err("settings.deliveryUrl is required".into()),
            Some(Value::String(url)) => url.trim().to_owned(),
            Some(_) => return Err("settings.deliveryUrl must be a string".into()),
        };
        let delivery_url_allowed_hosts = parse_allowed_hosts(map.get("deliveryUrlAllowedHosts"))?;
        let allow_private_delivery = match map.get("allowPrivateDelivery") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(allow)) => *allow,
            Some(_) => return Err("settings.allowPrivateDelivery must be a boolean".into()),
        };
        let settings = Self {
            delivery_url,
            delivery_url_allowed_hosts,
            allow_private_delivery,
            max_attachment_bytes: integer(map, "maxAttachmentBytes", DEFAULT_MAX_ATTACHMENT_BYTES)?,
            delivery_timeout_ms: integer(map, "deliveryTimeoutMs", DEFAULT_DELIVERY_TIMEOUT_MS)?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks ranges, the allowlist entries and the delivery URL; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attachment_bytes == 0 || self.max_attachment_bytes > MAX_ATTACHMENT_BYTES_LIMIT {
            return Err(format!("settings.maxAttachmentBytes must be between 1 and {MAX_ATTACHMENT_BYTES_LIMIT}"));
        }
        if !DELIVERY_TIMEOUT_RANGE_MS.contains(&self.delivery_timeout_ms) {
            return Err(format!(
                "settings.deliveryTimeoutMs must be between {} and {}",
                DELIVERY_TIMEOUT_RANGE_MS.start(),
                DELIVERY_TIMEOUT_RANGE_MS.end()
            ));
        }
        if let Some(invalid) = self.egress_rules().invalid_patterns().first() {
            return Err(format!(
                "settings.deliveryUrlAllowedHosts entry {invalid:?} is not a host name or *.suffix pattern"
            ));
        }
        self.check_delivery_url()
    }

    /// The delivery timeout (the [`crate::egress::Egress`] of this provider is built with it).
    pub fn delivery_timeout(&self) -> Duration {
        Duration::from_millis(self.delivery_timeout_ms)
    }

    /// The egress rules deliveries are judged by.
    pub fn egress_rules(&self) -> EgressRules {
        EgressRules {
            allow_private: self.allow_private_delivery,
            allowed_hosts: self.delivery_url_allowed_hosts.clone(),
        }
    }

    /// A start-up check of `deliveryUrl` needing no DNS: syntax, scheme, credentials, plain http
    /// only with private delivery and never to a non-loopback address, the allowlist. The egress
    /// policy judges it fully (DNS answers included) on every send.
    fn check_delivery_url(&self) -> Result<(), String> {
        let field = "settings.deliveryUrl";
        if self.delivery_url.len() > MAX_URL_BYTES {
            return Err(format!("{field} is longer than {MAX_URL_BYTES} bytes"));
        }
        if self.delivery_url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!("{field} contains whitespace or control characters"));
        }
        let url = Url::parse(&self.delivery_url).map_err(|e| format!("{field} is not a valid URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{field} must not embed credentials (user:pass@)"));
        }
        let (key, loopback_literal) = match url.host() {
            Some(Host::Domain(name)) if !name.trim_end_matches('.').is_empty() => {
                (name.trim_end_matches('.').to_ascii_lowercase(), false)
            }
            Some(Host::Ipv4(ip)) => (ip.to_string(), ip.is_loopback()),
            Some(Host::Ipv6(ip)) => (ip.to_string(), ip.is_loopback()),
            _ => return Err(format!("{field} has no host")),
        };
        let local = loopback_literal || key == "localhost";
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private_delivery && (local || matches!(url.host(), Some(Host::Domain(_)))) => {}
            _ => {
                return Err(format!(
                    "{field} must use https (http only to a loopback host with allowPrivateDelivery: true)"
                ));
            }
        }
        // As in the egress policy, loopback is exempt from the allowlist with private delivery.
        let exempt = self.allow_private_delivery && local;
        if !exempt && !self.egress_rules().host_allowed(&key) {
            return Err(format!("{field} host {key} is not in settings.deliveryUrlAllowedHosts"));
        }
        Ok(())
    }
}

/// Reads an optional non-negative integer field.
fn integer(map: &Map<String, Value>, field: &str, default: u64) -> Result<u64, String> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| format!("settings.{field} must be a non-negative integer")),
        Some(_) => Err(format!("settings.{field} must be a non-negative integer")),
    }
}

/// `deliveryUrlAllowedHosts`: an array of strings or one comma-separated string.
fn parse_allowed_hosts(value: Option<&Value>) -> Result<Vec<String>, String> {
    let field = "settings.deliveryUrlAllowedHosts";
    let raw: Vec<&str> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(list)) => list.split(',').collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(|| format!("{field} must hold strings")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("{field} must be an array of hosts or a comma-separated string")),
    };
    Ok(raw.into_iter().map(str::trim).filter(|entry| !entry.is_empty()).map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<WebhookSettings, String> {
        WebhookSettings::from_json(&value)
    }

    #[test]
    fn defaults_and_both_allowlist_forms() {
        let settings = parse(json!({"deliveryUrl": "https://hooks.example.com/in"})).unwrap();
        assert_eq!(settings.max_attachment_bytes, DEFAULT_MAX_ATTACHMENT_BYTES);
        assert_eq!(settings.delivery_timeout(), Duration::from_millis(15_000));
        assert!(!settings.allow_private_delivery && settings.delivery_url_allowed_hosts.is_empty());
        let csv = json!({"deliveryUrl": "https://a.example.com", "deliveryUrlAllowedHosts": " *.Example.com, b.org ,"});
        assert_eq!(parse(csv).unwrap().delivery_url_allowed_hosts, ["*.Example.com", "b.org"]);
        let list =
            json!({"deliveryUrl": "https://b.org:8443/x", "deliveryUrlAllowedHosts": ["*.example.com", "b.org"]});
        assert_eq!(parse(list).unwrap().delivery_url_allowed_hosts.len(), 2);
        let local = json!({"deliveryUrl": "http://127.0.0.1:9000/x", "allowPrivateDelivery": true});
        assert!(parse(local).is_ok());
        // A name is judged by its DNS answers on every send (a test name pinned to loopback).
        let pinned = json!({"deliveryUrl": "http://hooks.test:9000/x", "allowPrivateDelivery": true});
        assert!(parse(pinned).is_ok());
        let loopback_exempt = json!({"deliveryUrl": "http://[::1]:9/", "allowPrivateDelivery": true,
            "deliveryUrlAllowedHosts": ["hooks.example.com"]});
        assert!(parse(loopback_exempt).is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({}), "deliveryUrl"),
            (json!({"deliveryUrl": 5}), "deliveryUrl"),
            (json!({"deliveryUrl": "https://x.io", "deliveryUrlAllowedHost": []}), "deliveryUrlAllowedHost"),
            (json!({"deliveryUrl": "https://x.io", "allowPrivateDelivery": "yes"}), "allowPrivateDelivery"),
            (json!({"deliveryUrl": "https://x.io", "maxAttachmentBytes": 0}), "maxAttachmentBytes"),
            (json!({"deliveryUrl": "https://x.io", "maxAttachmentBytes": -1}), "maxAttachmentBytes"),
            (json!({"deliveryUrl": "https://x.io", "deliveryTimeoutMs": 50}), "deliveryTimeoutMs"),
            (json!({"deliveryUrl": "https://x.io", "deliveryUrlAllowedHosts": 3}), "deliveryUrlAllowedHosts"),
            (json!({"deliveryUrl": "https://x.io", "deliveryUrlAllowedHosts": ["a b"]}), "deliveryUrlAllowedHosts"),
            (json!({"deliveryUrl": "ftp://x.io"}), "deliveryUrl"),
            (json!({"deliveryUrl": "http://x.io"}), "deliveryUrl"),
            (json!({"deliveryUrl": "http://127.0.0.1/"}), "deliveryUrl"),
            (json!({"deliveryUrl": "https://u:p@x.io/"}), "deliveryUrl"),
            (json!({"deliveryUrl": "http://10.0.0.1/", "allowPrivateDelivery": true}), "deliveryUrl"),
            (json!({"deliveryUrl": "https://x.io", "deliveryUrlAllowedHosts": ["*.*.x"]}), "deliveryUrlAllowedHosts"),
            (json!({"deliveryUrl": "x.io/path"}), "deliveryUrl"),
            (json!({"deliveryUrl": "https://x.io/a\u{7}"}), "deliveryUrl"),
            (json!({"deliveryUrl": "https://example.com", "deliveryUrlAllowedHosts": "*.example.com"}), "deliveryUrl"),
        ];
        for (value, field) in cases {
            let error = parse(value.clone()).unwrap_err();
            assert!(error.contains(field), "{value}: {error}");
        }
        assert!(parse(json!("x")).is_err());
    }

    #[test]
    fn secrets_are_required_validated_and_never_printed() {
        assert!(WebhookSecrets::new(vec![]).unwrap_err().contains("sharedSecret"));
        assert!(WebhookSecrets::new(vec!["a".into(), String::new()]).unwrap_err().contains("sharedSecret[1]"));
        assert!(WebhookSecrets::new(vec!["a\nb".into()]).unwrap_err().contains("sharedSecret[0]"));
        let secrets = WebhookSecrets::new(vec!["first".into(), "second".into()]).unwrap();
        assert_eq!(secrets.signing(), b"first");
        assert_eq!(secrets.all().len(), 2);
        assert!(!format!("{secrets:?}").contains("first"));
    }
}
