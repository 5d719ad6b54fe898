//! The Slack provider (`kind: "slack"`): the Events API and interactivity over HTTP, answered
//! through the Web API (`reference/opencowork-gateway.md` §3.1, fixing the gaps of §12.1 item 7).
//!
//! - Inbound: `POST /webhooks/{id}` signed with `X-Slack-Signature: v0=<hex HMAC-SHA256(signing
//!   secret, "v0:{ts}:{raw body}")>` and `X-Slack-Request-Timestamp` within 300 s, under any
//!   configured signing secret. `url_verification` is answered with its challenge;
//!   `event_callback` `message` (channels, private channels, DMs) and `app_mention` events become
//!   messages (bot, own, edited and deleted messages ignored; the bot mention stripped; in
//!   channels only mentions count unless `respondTo: all`, in DMs every message); `block_actions`
//!   become button clicks. The event id is `event_id` (stable across Slack's retries, which the
//!   gateway dedupes) or `block_actions:{trigger_id}`; there is no replay key.
//! - A request from another team than `externalWorkspaceId` is refused as
//!   [`InboundError::Unauthorized`]`("workspace mismatch")` (the shared error enum has no
//!   dedicated variant; the gateway may map that reason to 403 `workspace_mismatch`).
//! - Outbound: `chat.postMessage` and `chat.update` with the bot token, Markdown converted to
//!   mrkdwn, long text split, buttons as Block Kit (see `outbound.rs`), errors classified from
//!   Slack's codes and `Retry-After` (see `api.rs`).
//! - Files (up to 20 MiB): `files.getUploadURLExternal`, the bytes POSTed without the token to the
//!   returned URL (which must stay on the platform's host), then `files.completeUploadExternal`
//!   into the thread with the caption; the message id is the file id (see `upload.rs`).

pub(crate) mod api;
mod config;
mod inbound;
mod mrkdwn;
mod outbound;
mod split;
mod upload;
mod verify;

use async_trait::async_trait;

pub use api::MAX_RESPONSE_BYTES;
pub use config::{DEFAULT_API_BASE_URL, RespondTo, SessionScope, SlackSettings};
pub use mrkdwn::to_mrkdwn;
pub use outbound::{MAX_BUTTONS, MAX_BUTTONS_PER_ROW};
pub use split::{SLACK_TEXT_LIMIT, split};
pub use upload::MAX_FILE_BYTES;
pub use verify::{SIGNATURE_HEADER, SIGNATURE_PREFIX, TIMESTAMP_HEADER};

use crate::egress::Egress;
use crate::{
    Capabilities, ChannelProvider, Delivery, InboundError, InboundRequest, ProviderError, ProviderId, ProviderKind,
    SentMessage, Verified,
};

/// One configured Slack provider.
pub struct SlackProvider {
    id: ProviderId,
    credentials: config::SlackCredentials,
    settings: SlackSettings,
    workspace_id: Option<String>,
    api: api::Api,
    progress: outbound::Progress,
    uploads: outbound::Progress<String>,
    capabilities: Capabilities,
}

impl SlackProvider {
    /// Creates the provider from its `botToken`, its `signingSecret` values (several for
    /// rotation), its settings, the expected team id (`externalWorkspaceId`) and the egress
    /// policy every Web API call goes through; errors name the offending field.
    pub fn new(
        id: ProviderId,
        bot_token: String,
        signing_secrets: Vec<String>,
        settings: SlackSettings,
        workspace_id: Option<String>,
        egress: Egress,
    ) -> Result<Self, String> {
        let credentials = config::SlackCredentials::new(bot_token, signing_secrets)?;
        settings.validate()?;
        let workspace_id = workspace_id.map(|team| team.trim().to_owned()).filter(|team| !team.is_empty());
        if workspace_id.as_deref().is_some_and(|team| !team.bytes().all(|b| b.is_ascii_alphanumeric())) {
            return Err("externalWorkspaceId must be a Slack team id such as T0123ABCD".into());
        }
        let api = api::Api::new(settings.api_base_url.clone(), credentials.authorization.clone(), egress);
        let capabilities = Capabilities {
            message_editing: true,
            inline_buttons: true,
            max_buttons_per_message: MAX_BUTTONS,
            max_text_length: SLACK_TEXT_LIMIT,
            min_interval_ms: 1000,
            needs_reply_context: false,
            file_uploads: true,
            max_file_bytes: MAX_FILE_BYTES,
        };
        let (progress, uploads) = (outbound::Progress::default(), outbound::Progress::default());
        Ok(Self { id, credentials, settings, workspace_id, api, progress, uploads, capabilities })
    }

    /// The settings this provider runs with.
    pub fn settings(&self) -> &SlackSettings {
        &self.settings
    }

    /// The team id requests must come from, if configured.
    pub fn workspace_id(&self) -> Option<&str> {
        self.workspace_id.as_deref()
    }
}

impl std::fmt::Debug for SlackProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackProvider")
            .field("id", &self.id)
            .field("credentials", &self.credentials)
            .field("settings", &self.settings)
            .field("workspace_id", &self.workspace_id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ChannelProvider for SlackProvider {
    fn id(&self) -> &ProviderId {
        &self.id
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Slack
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn parse_inbound(&self, request: &InboundRequest) -> Result<Verified, InboundError> {
        let secrets = &self.credentials.signing_secrets;
        let replay_key = verify::SCHEME.verify(secrets, &request.headers, &request.body, request.received_at_ms)?;
        let context = inbound::Context { settings: &self.settings, workspace_id: self.workspace_id.as_deref() };
        // Slack re-signs its retries, so a second request with the same signature is a replay:
        // a 2xx no-op when its events are already stored, refused when it carries none.
        let verified = inbound::parse(&request.body, &context)?;
        Ok(Verified { replay_key: Some(replay_key), ..verified })
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<SentMessage, ProviderError> {
        outbound::deliver(&self.api, &self.progress, &self.uploads, delivery).await
    }

    /// `auth.test`: the bot token is valid, and for the configured team.
    async fn check_credentials(&self) -> Option<Result<String, String>> {
        let answer = match self.api.call("auth.test", &serde_json::json!({})).await {
            Ok(answer) => answer,
            Err(error) => return Some(Err(format!("auth.test: {}", error.message))),
        };
        let team = answer.get("team_id").and_then(serde_json::Value::as_str).unwrap_or_default();
        let user = answer.get("user_id").and_then(serde_json::Value::as_str).unwrap_or_default();
        Some(match self.workspace_id.as_deref() {
            Some(expected) if expected != team => {
                Err(format!("auth.test: the token belongs to team {team}, not externalWorkspaceId {expected}"))
            }
            _ => Ok(format!("auth.test: bot user {user} in team {team}")),
        })
    }
}

#[cfg(test)]
mod inbound_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upload_tests;
