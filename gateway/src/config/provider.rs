//! `gateway.providers[]` entries: `{id, kind, enabled, channelBindingId, externalWorkspaceId,
//! defaultAgent, credentials, settings}`, as in Open Cowork.

use std::collections::{BTreeMap, HashMap, HashSet};

use cowork_providers::email::EmailSettings;
use cowork_providers::fake::FakeSettings;
use cowork_providers::slack::SlackSettings;
use cowork_providers::webhook::WebhookSettings;
use cowork_providers::{BindingId, ProviderId, ProviderKind};
use serde_json::Value;

use super::{ConfigError, Secret};
use cowork_cloud::config::ObjectReader;
use cowork_cloud::config::references::{is_reference, resolve_reference};

/// Kinds Open Cowork has that this build does not implement yet.
const LATER_KINDS: &[&str] = &["telegram", "discord", "whatsapp", "signal", "cli"];

/// Credentials by name; several values allow rotation.
pub type Credentials = BTreeMap<String, Vec<Secret>>;

/// One configured provider instance.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// Instance id (`/webhooks/{id}`).
    pub id: ProviderId,
    /// Whether it runs.
    pub enabled: bool,
    /// The channel binding it serves (defaults to the id).
    pub binding_id: BindingId,
    /// The platform workspace (for example a Slack team id).
    pub workspace_id: Option<String>,
    /// The agent new sessions run.
    pub default_agent: String,
    /// Credentials by name; several values allow rotation.
    pub credentials: Credentials,
    /// Paths of credentials written literally rather than as references (refused in
    /// `public_production`).
    pub inline_credentials: Vec<String>,
    /// Kind-specific settings.
    pub settings: ProviderSettings,
}

/// Kind-specific settings.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderSettings {
    /// `kind: "fake"`.
    Fake(FakeSettings),
    /// `kind: "webhook"` (credential `sharedSecret`).
    Webhook(WebhookSettings),
    /// `kind: "slack"` (credentials `botToken`, `signingSecret`).
    Slack(SlackSettings),
    /// `kind: "email"` (credentials `inboundSecret`, `smtpPassword`).
    Email(EmailSettings),
}

impl ProviderConfig {
    /// The provider kind.
    pub fn kind(&self) -> ProviderKind {
        match self.settings {
            ProviderSettings::Fake(_) => ProviderKind::Fake,
            ProviderSettings::Webhook(_) => ProviderKind::Webhook,
            ProviderSettings::Slack(_) => ProviderKind::Slack,
            ProviderSettings::Email(_) => ProviderKind::Email,
        }
    }

    /// The fake provider enabled when nothing is configured: id `fake`, binding `fake-binding`.
    pub fn default_fake() -> Self {
        Self {
            id: ProviderId::new("fake"),
            enabled: true,
            binding_id: BindingId::new("fake-binding"),
            workspace_id: None,
            default_agent: "build".to_owned(),
            credentials: BTreeMap::new(),
            inline_credentials: Vec::new(),
            settings: ProviderSettings::Fake(FakeSettings::default()),
        }
    }

    /// [`Self::default_fake`] with `OPEN_COWORK_GATEWAY_FAKE_CHANNEL_BINDING_ID` / `_FAKE_WORKSPACE_ID`.
    pub(super) fn default_fake_from(env: &HashMap<String, String>) -> Self {
        let mut fake = Self::default_fake();
        if let Some(binding) = env.get("OPEN_COWORK_GATEWAY_FAKE_CHANNEL_BINDING_ID").filter(|v| !v.is_empty()) {
            fake.binding_id = BindingId::new(binding.clone());
        }
        fake.workspace_id = env.get("OPEN_COWORK_GATEWAY_FAKE_WORKSPACE_ID").filter(|v| !v.is_empty()).cloned();
        fake
    }

    /// Parses entry `index` of a providers array found at `path`.
    pub(super) fn parse(
        path: &str,
        index: usize,
        value: Value,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut entry = ObjectReader::new(&format!("{path}[{index}]"), value)?;
        let kind = entry.string("kind")?.ok_or_else(|| ConfigError::invalid(&entry.path_of("kind"), "is required"))?;
        let kind_path = entry.path_of("kind");
        let id = entry.string("id")?.unwrap_or_else(|| format!("{kind}-{}", index + 1));
        let enabled = entry.boolean("enabled")?.unwrap_or(true);
        let binding_id = entry.string("channelBindingId")?.unwrap_or_else(|| id.clone());
        let workspace_id = entry.string("externalWorkspaceId")?.filter(|w| !w.is_empty());
        let default_agent = entry.string("defaultAgent")?.unwrap_or_else(|| "build".to_owned());
        let (credentials, inline_credentials) = match entry.object("credentials")? {
            Some(reader) => parse_credentials(reader, env)?,
            None => (BTreeMap::new(), Vec::new()),
        };
        let settings_path = entry.path_of("settings");
        let settings_value = entry.take("settings").unwrap_or_else(|| Value::Object(Default::default()));
        let settings = match kind.as_str() {
            "fake" => ProviderSettings::Fake(
                FakeSettings::from_json(&settings_value)
                    .map_err(|reason| ConfigError::invalid(&settings_path, &reason))?,
            ),
            "webhook" => {
                let secrets = credentials.get("sharedSecret").map_or(0, Vec::len);
                if secrets == 0 {
                    let path = format!("{}.sharedSecret", entry.path_of("credentials"));
                    return Err(ConfigError::invalid(&path, "is required (requests are verified with it)"));
                }
                ProviderSettings::Webhook(
                    WebhookSettings::from_json(&settings_value)
                        .map_err(|reason| ConfigError::invalid(&settings_path, &reason))?,
                )
            }
            "slack" => {
                for (name, at_most_one) in [("botToken", true), ("signingSecret", false)] {
                    let count = credentials.get(name).map_or(0, Vec::len);
                    if count == 0 || (at_most_one && count > 1) {
                        let path = format!("{}.{name}", entry.path_of("credentials"));
                        let reason = if count == 0 { "is required" } else { "takes one value" };
                        return Err(ConfigError::invalid(&path, reason));
                    }
                }
                ProviderSettings::Slack(
                    SlackSettings::from_json(&settings_value)
                        .map_err(|reason| ConfigError::invalid(&settings_path, &reason))?,
                )
            }
            "email" => {
                let credential = |name: &str| credentials.get(name).map_or(0, Vec::len);
                if credential("inboundSecret") == 0 {
                    let path = format!("{}.inboundSecret", entry.path_of("credentials"));
                    return Err(ConfigError::invalid(&path, "is required (relayed mail is authenticated with it)"));
                }
                if credential("smtpPassword") > 1 {
                    let path = format!("{}.smtpPassword", entry.path_of("credentials"));
                    return Err(ConfigError::invalid(&path, "takes one value"));
                }
                let settings = EmailSettings::from_json(&settings_value)
                    .map_err(|reason| ConfigError::invalid(&settings_path, &reason))?;
                if credential("smtpPassword") == 1 && settings.smtp_username.is_none() {
                    let path = format!("{settings_path}.smtpUsername");
                    return Err(ConfigError::invalid(&path, "is required with credentials.smtpPassword"));
                }
                ProviderSettings::Email(settings)
            }
            other if LATER_KINDS.contains(&other) => {
                return Err(ConfigError::invalid(
                    &kind_path,
                    &format!("`{other}` is not supported by this version yet"),
                ));
            }
            other => return Err(ConfigError::invalid(&kind_path, &format!("`{other}` is not a provider kind"))),
        };
        entry.finish(&[], &mut Vec::new())?;
        Ok(Self {
            id: ProviderId::new(id),
            enabled,
            binding_id: BindingId::new(binding_id),
            workspace_id,
            default_agent,
            credentials,
            inline_credentials,
            settings,
        })
    }
}

/// Resolves credential values: a string, an array of strings (rotation), or `env:NAME` /
/// `{env:NAME}` / `file:/path` references; also the paths of values written literally.
fn parse_credentials(
    reader: ObjectReader,
    env: &HashMap<String, String>,
) -> Result<(Credentials, Vec<String>), ConfigError> {
    let mut reader = reader;
    let mut out = BTreeMap::new();
    let mut inline = Vec::new();
    for key in reader.keys() {
        let path = reader.path_of(&key);
        let values = match reader.take(&key) {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    _ => Err(ConfigError::invalid(&path, "must be a string or an array of strings")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(ConfigError::invalid(&path, "must be a string or an array of strings")),
        };
        if values.iter().any(|v| !is_reference(v)) {
            inline.push(path.clone());
        }
        let resolved = values.into_iter().map(|v| resolve_reference(&path, v, env)).collect::<Result<_, _>>()?;
        out.insert(key, resolved);
    }
    Ok((out, inline))
}

/// Cross-entry rules: id shape, id matches kind, unique ids.
pub(super) fn validate_all(providers: &[ProviderConfig]) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for provider in providers {
        let id = provider.id.as_str();
        let path = format!("gateway.providers[id={id}]");
        let shaped = id.len() <= 64
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !shaped {
            return Err(ConfigError::invalid(&format!("{path}.id"), "must match ^[a-z][a-z0-9_-]{0,63}$"));
        }
        let kind = provider.kind().as_str();
        if provider.kind() != ProviderKind::Fake && id != kind && !id.starts_with(&format!("{kind}-")) {
            return Err(ConfigError::invalid(
                &format!("{path}.id"),
                &format!("must be `{kind}` or start with `{kind}-`"),
            ));
        }
        if provider.binding_id.as_str().is_empty() || provider.binding_id.as_str().chars().any(char::is_control) {
            return Err(ConfigError::invalid(&format!("{path}.channelBindingId"), "must be a non-empty id"));
        }
        if !seen.insert(id.to_owned()) {
            return Err(ConfigError::invalid(&format!("{path}.id"), "is used by two providers"));
        }
    }
    Ok(())
}
