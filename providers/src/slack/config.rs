//! Configuration of a `kind: "slack"` provider: the `botToken` and `signingSecret` credentials
//! (several signing secrets at once for rotation) and the `settings` object (`apiBaseUrl`,
//! `sessionScope`, `respondTo`, `botUserId`). Unknown settings are refused and every error names
//! the offending field.

use std::fmt;

use http::HeaderValue;
use serde_json::{Map, Value};
use url::Url;

use crate::egress::operator_endpoint_allowed;

/// The Slack Web API base URL used when `apiBaseUrl` is not set.
pub const DEFAULT_API_BASE_URL: &str = "https://slack.com/api";

const KNOWN_FIELDS: [&str; 4] = ["apiBaseUrl", "sessionScope", "respondTo", "botUserId"];

/// The longest `botUserId` accepted, in bytes (Slack ids are short upper-case alphanumerics).
const MAX_BOT_USER_ID_BYTES: usize = 32;

/// How inbound messages map to sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionScope {
    /// One session per thread: a top-level message opens a thread under itself (the default).
    #[default]
    Thread,
    /// One session per DM or channel; replies go to the top level (or into the user's thread).
    Channel,
}

/// Which messages in channels reach the agent (every DM message always does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RespondTo {
    /// Only messages that mention the app (`app_mention` events; the default).
    #[default]
    Mentions,
    /// Every message of the channels the app is in (needs the `message.*` subscriptions).
    All,
}

/// `settings` of a `kind: "slack"` provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackSettings {
    /// The Web API base URL, without a trailing slash (operator-configured; a local mock works).
    pub api_base_url: String,
    /// How messages map to sessions.
    pub session_scope: SessionScope,
    /// Which channel messages reach the agent.
    pub respond_to: RespondTo,
    /// The app's own user id: its messages are ignored and `<@id>` mentions stripped.
    pub bot_user_id: Option<String>,
}

impl Default for SlackSettings {
    fn default() -> Self {
        Self {
            api_base_url: DEFAULT_API_BASE_URL.to_owned(),
            session_scope: SessionScope::default(),
            respond_to: RespondTo::default(),
            bot_user_id: None,
        }
    }
}

impl SlackSettings {
    /// Parses the `settings` object (camelCase, unknown fields refused); errors name the field.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let map = &crate::settings::settings_object(value, &KNOWN_FIELDS, "slack")?;
        let api_base_url = string(map, "apiBaseUrl")?.unwrap_or_else(|| DEFAULT_API_BASE_URL.to_owned());
        let session_scope = match string(map, "sessionScope")?.as_deref() {
            None | Some("thread") => SessionScope::Thread,
            Some("channel") => SessionScope::Channel,
            Some(other) => {
                return Err(format!("settings.sessionScope must be \"thread\" or \"channel\", not {other:?}"));
            }
        };
        let respond_to = match string(map, "respondTo")?.as_deref() {
            None | Some("mentions") => RespondTo::Mentions,
            Some("all") => RespondTo::All,
            Some(other) => return Err(format!("settings.respondTo must be \"mentions\" or \"all\", not {other:?}")),
        };
        let settings = Self {
            api_base_url: api_base_url.trim_end_matches('/').to_owned(),
            session_scope,
            respond_to,
            bot_user_id: string(map, "botUserId")?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks `apiBaseUrl` (an http(s) URL without credentials, query or fragment, never a cloud
    /// metadata address) and `botUserId` (upper-case letters and digits).
    pub fn validate(&self) -> Result<(), String> {
        let field = "settings.apiBaseUrl";
        let url = Url::parse(&self.api_base_url).map_err(|e| format!("{field} is not a valid URL: {e}"))?;
        operator_endpoint_allowed(&self.api_base_url).map_err(|reason| format!("{field} is refused: {reason}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{field} must not embed credentials (user:pass@)"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{field} must not have a query or fragment"));
        }
        if let Some(id) = &self.bot_user_id {
            let valid = !id.is_empty()
                && id.len() <= MAX_BOT_USER_ID_BYTES
                && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !valid {
                return Err("settings.botUserId must be a Slack user id such as U0123ABCD".into());
            }
        }
        Ok(())
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

/// The credentials of one Slack provider: the bot token (sent as a bearer token) and the signing
/// secrets (any of them verifies a request). Never printed.
#[derive(Clone)]
pub(super) struct SlackCredentials {
    /// `Bearer <bot token>`, marked sensitive.
    pub authorization: HeaderValue,
    /// The signing secrets.
    pub signing_secrets: Vec<Vec<u8>>,
}

impl SlackCredentials {
    /// Validates the configured values; errors name the credential.
    pub fn new(bot_token: String, signing_secrets: Vec<String>) -> Result<Self, String> {
        let token = bot_token.trim();
        if token.is_empty() {
            return Err("credentials.botToken is required for a slack provider".into());
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("credentials.botToken must be printable ASCII without spaces".into());
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "credentials.botToken is not a valid header value".to_owned())?;
        authorization.set_sensitive(true);
        let secrets = crate::signature::secret_bytes(signing_secrets, "credentials.signingSecret", "slack")?;
        Ok(Self { authorization, signing_secrets: secrets })
    }
}

impl fmt::Debug for SlackCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlackCredentials([redacted token], [redacted; {} secrets])", self.signing_secrets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<SlackSettings, String> {
        SlackSettings::from_json(&value)
    }

    #[test]
    fn defaults_and_every_setting() {
        assert_eq!(parse(Value::Null).unwrap(), SlackSettings::default());
        assert_eq!(parse(json!({})).unwrap().api_base_url, "https://slack.com/api");
        let all = json!({"apiBaseUrl": "http://127.0.0.1:9000/api/", "sessionScope": "channel",
            "respondTo": "all", "botUserId": "U0BOT"});
        let settings = parse(all).unwrap();
        assert_eq!(settings.api_base_url, "http://127.0.0.1:9000/api");
        assert_eq!((settings.session_scope, settings.respond_to), (SessionScope::Channel, RespondTo::All));
        assert_eq!(settings.bot_user_id.as_deref(), Some("U0BOT"));
        let explicit = parse(json!({"sessionScope": "thread", "respondTo": "mentions"})).unwrap();
        assert_eq!((explicit.session_scope, explicit.respond_to), (SessionScope::Thread, RespondTo::Mentions));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({"apiBaseURL": "https://x.io"}), "apiBaseURL"),
            (json!({"apiBaseUrl": 5}), "apiBaseUrl"),
            (json!({"apiBaseUrl": "slack.com/api"}), "apiBaseUrl"),
            (json!({"apiBaseUrl": "ftp://slack.com/api"}), "apiBaseUrl"),
            (json!({"apiBaseUrl": "http://169.254.169.254/api"}), "apiBaseUrl"),
            (json!({"apiBaseUrl": "https://u:p@slack.com/api"}), "apiBaseUrl"),
            (json!({"apiBaseUrl": "https://slack.com/api?x=1"}), "apiBaseUrl"),
            (json!({"sessionScope": "user"}), "sessionScope"),
            (json!({"respondTo": "everything"}), "respondTo"),
            (json!({"respondTo": true}), "respondTo"),
            (json!({"botUserId": "<@U1>"}), "botUserId"),
        ];
        for (value, field) in cases {
            let error = parse(value.clone()).unwrap_err();
            assert!(error.contains(field), "{value}: {error}");
        }
        assert!(parse(json!([])).is_err());
    }

    #[test]
    fn credentials_are_required_validated_and_never_printed() {
        let secrets = || vec!["signing".to_owned()];
        assert!(SlackCredentials::new(" ".into(), secrets()).unwrap_err().contains("botToken"));
        assert!(SlackCredentials::new("xoxb 1".into(), secrets()).unwrap_err().contains("botToken"));
        assert!(SlackCredentials::new("xoxb-1".into(), vec![]).unwrap_err().contains("signingSecret"));
        let error = SlackCredentials::new("xoxb-1".into(), vec!["a".into(), String::new()]).unwrap_err();
        assert!(error.contains("signingSecret[1]"), "{error}");
        let credentials = SlackCredentials::new("xoxb-secret-token".into(), secrets()).unwrap();
        assert_eq!(credentials.authorization, "Bearer xoxb-secret-token");
        assert!(credentials.authorization.is_sensitive());
        let printed = format!("{credentials:?}");
        assert!(!printed.contains("xoxb-secret-token") && !printed.contains("signing"), "{printed}");
    }
}
