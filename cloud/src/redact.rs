//! The one redaction function: every text that may carry a secret (log lines, error messages,
//! a delivery's `lastError`, diagnostics, operator API output) passes through
//! [`Redactor::redact`] before it leaves the process or reaches the database.
//!
//! It masks, with `***`:
//! - values of keys that look secret (`token`, `secret`, `password`, `credential`, `api key`,
//!   `authorization`, `signature`, as part of any key name), in `key=value`, `key: value` and
//!   JSON `"key": "value"` form, escaped JSON included (a JSON log line holding a JSON body);
//! - `Bearer …` and `Basic …` credentials;
//! - `v0=` / `v1=` hex signatures (Slack and the generic webhook);
//! - Slack tokens (`xoxa-`, `xoxb-`, `xoxp-`, `xoxr-`), Open Cowork API and interaction tokens
//!   (`occ_…`, `occi_…`) and OpenAI-style keys (`sk-…`);
//! - URL userinfo (`scheme://user:pass@host` becomes `scheme://***@host`);
//! - every secret value the process was configured with (tokens, provider credentials, the
//!   database password), wherever it appears.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::config::Secret;

/// What a masked value becomes.
pub const MASK: &str = "***";

/// Configured secrets shorter than this are not searched for as text: masking every `abc` in
/// every log line would destroy the logs, and such a value is not a secret worth the name.
const MIN_LITERAL_SECRET: usize = 4;

/// The key names whose values are secret.
const SECRET_KEY: &str =
    r"[A-Za-z0-9_.-]*(?:token|secret|passw(?:or)?d|credential|api[-_ ]?key|authorization|signature)[A-Za-z0-9_.-]*";

/// `key": "value"` and `key='value'` (quotes possibly escaped, as inside a JSON log line):
/// groups 1 (key and separator), 2 (opening quote), 3 (the value), 4 (closing quote).
static QUOTED_VALUES: LazyLock<Option<Vec<Regex>>> = LazyLock::new(|| {
    let prefix = format!(r#"(?i)({SECRET_KEY}(?:\\?["'])?\s*[:=]\s*)"#);
    let double = format!(r#"{prefix}(\\?")((?:[^"\\]|\\[^"])*)(\\?")"#);
    let single = format!(r#"{prefix}(')([^']*)(')"#);
    [double, single].iter().map(|pattern| Regex::new(pattern).ok()).collect()
});

/// `key=value` / `key: value`: the bare value (with its `Bearer` scheme, if any).
static BARE_VALUE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(&format!(r#"(?i)({SECRET_KEY}(?:\\?["'])?\s*[:=]\s*)(?:(?:bearer|basic)\s+)?[^\s"'\\,;&(){{}}\[\]]+"#))
        .ok()
});

/// Patterns masked wherever they appear, with their replacement.
static PATTERNS: LazyLock<Option<Vec<(Regex, &'static str)>>> = LazyLock::new(|| {
    let patterns = [
        (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*", "$1 ***"),
        (r"\b(v[01])=[0-9a-fA-F]{16,}", "$1=***"),
        (r"\b(xox[abpr])-[A-Za-z0-9-]+", "$1-***"),
        (r"\b(occi?)_[A-Za-z0-9_-]{16,}", "${1}_***"),
        (r"\bsk-[A-Za-z0-9_-]{16,}", "sk-***"),
        (r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@", "$1***@"),
    ];
    patterns.into_iter().map(|(pattern, replacement)| Regex::new(pattern).ok().map(|re| (re, replacement))).collect()
});

/// Masks secrets in text; built once from the configuration's secrets.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Configured secret values, longest first (so a secret containing another is masked whole).
    literals: Vec<Secret>,
}

impl Redactor {
    /// A redactor that also masks these secret values wherever they appear.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut literals: Vec<Secret> =
            secrets.into_iter().filter(|s| s.expose().len() >= MIN_LITERAL_SECRET).cloned().collect();
        literals.sort_by(|a, b| b.expose().len().cmp(&a.expose().len()).then_with(|| a.expose().cmp(b.expose())));
        literals.dedup();
        Self { literals }
    }

    /// This redactor, also masking a database URL (whole, and its password).
    pub fn with_database_url(self, url: &Secret) -> Self {
        let mut secrets = self.literals;
        secrets.push(url.clone());
        if let Some(password) = url_password(url.expose()) {
            secrets.push(Secret::new(password.to_owned()));
        }
        Self::new(&secrets)
    }

    /// The text with every secret masked. If a built-in pattern failed to compile (it cannot;
    /// a unit test compiles them all) the whole text is masked: redaction fails closed.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.literals {
            if out.contains(secret.expose()) {
                out = out.replace(secret.expose(), MASK);
            }
        }
        let (Some(quoted), Some(bare), Some(patterns)) = (&*QUOTED_VALUES, &*BARE_VALUE, &*PATTERNS) else {
            return MASK.to_owned();
        };
        for pattern in quoted {
            out =
                pattern.replace_all(&out, |c: &Captures<'_>| format!("{}{}{MASK}{}", &c[1], &c[2], &c[4])).into_owned();
        }
        out = bare.replace_all(&out, |c: &Captures<'_>| format!("{}{MASK}", &c[1])).into_owned();
        for (pattern, replacement) in patterns {
            out = pattern.replace_all(&out, *replacement).into_owned();
        }
        out
    }
}

/// How deep [`Redactor::redact_json`] descends; deeper values are replaced.
const MAX_JSON_DEPTH: usize = 4;

/// The longest string [`Redactor::redact_json`] keeps, in characters.
const MAX_JSON_STRING: usize = 512;

/// The most array entries [`Redactor::redact_json`] keeps.
const MAX_JSON_ARRAY: usize = 50;

impl Redactor {
    /// A JSON value fit to show: values under secret-looking keys masked, every string redacted
    /// and cut to 512 characters, arrays to 50 entries, nesting to 4 levels.
    pub fn redact_json(&self, value: &serde_json::Value) -> serde_json::Value {
        self.redact_json_at(value, 0)
    }

    fn redact_json_at(&self, value: &serde_json::Value, depth: usize) -> serde_json::Value {
        use serde_json::Value;
        if depth > MAX_JSON_DEPTH {
            return Value::String(MASK.to_owned());
        }
        match value {
            Value::String(text) => Value::String(self.redact(text).chars().take(MAX_JSON_STRING).collect()),
            Value::Array(items) => Value::Array(
                items.iter().take(MAX_JSON_ARRAY).map(|item| self.redact_json_at(item, depth + 1)).collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, item)| {
                        let key: String = key.chars().take(128).collect();
                        let masked = SECRET_KEY_NAME.as_ref().is_none_or(|re| re.is_match(&key));
                        let item =
                            if masked { Value::String(MASK.to_owned()) } else { self.redact_json_at(item, depth + 1) };
                        (key, item)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// A whole key name that looks secret (fails closed: without it every key is masked).
static SECRET_KEY_NAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i)^(?:{SECRET_KEY}|[A-Za-z0-9_.-]*(?:cookie|ciphertext|envelope))$")).ok()
});

/// The password of a `scheme://user:password@host/...` URL, if it has one.
fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(password).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests;
