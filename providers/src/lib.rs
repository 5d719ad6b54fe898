//! The channel contract and the channel providers.
//!
//! A provider translates between one platform and the normalized types here, and nothing else:
//! it never sees storage, sessions or HTTP routing.
//!
//! - Inbound: [`ChannelProvider::parse_inbound`] gets the raw request ([`InboundRequest`]),
//!   authenticates it against the provider's **own configured** secret (never a value taken from
//!   the request) and returns normalized [`InboundEvent`]s, or an [`InboundError`] that the
//!   gateway maps to one HTTP status.
//! - Outbound: [`ChannelProvider::deliver`] performs one [`Delivery`] (send or edit) and returns
//!   the platform's message id, or a [`ProviderError`] that says whether to retry and when.
//!   A delivery id is stable across retries so platforms that support idempotency keys can
//!   drop duplicates.
//! - Approvals and questions travel as short handles (at most [`MAX_HANDLE_BYTES`]); the text
//!   commands `/approve <handle>`, `/deny <handle>` and `/answer <handle> <text>` work on every
//!   provider ([`commands`]).

mod capabilities;
pub mod commands;
pub mod egress;
pub mod email;
mod error;
pub mod fake;
mod ids;
mod inbound;
mod outbound;
mod settings;
pub mod signature;
pub mod slack;
pub mod webhook;

use async_trait::async_trait;

pub use capabilities::Capabilities;
pub use error::{InboundError, ProviderError, ProviderErrorKind};
pub use ids::{BindingId, ProviderId, ProviderKind};
pub use inbound::{
    ChatRef, InboundBody, InboundEvent, InboundRequest, InteractionInput, InteractionVerb, Sender, Verified,
};
pub use outbound::{Button, ButtonStyle, Delivery, OutboundFile, OutboundOp, SentMessage};

/// The largest interaction handle (the whole button payload), in bytes; fits every platform.
pub const MAX_HANDLE_BYTES: usize = 32;

/// One configured channel provider instance.
#[async_trait]
pub trait ChannelProvider: Send + Sync + 'static {
    /// The instance id (the `{providerId}` of `/webhooks/{providerId}`).
    fn id(&self) -> &ProviderId;

    /// The provider kind.
    fn kind(&self) -> ProviderKind;

    /// What the platform supports.
    fn capabilities(&self) -> &Capabilities;

    /// Authenticates and parses one inbound request into normalized events.
    fn parse_inbound(&self, request: &InboundRequest) -> Result<Verified, InboundError>;

    /// Performs one outbound operation.
    async fn deliver(&self, delivery: &Delivery) -> Result<SentMessage, ProviderError>;

    /// Tries the credentials against the platform where it offers a harmless way (`doctor`):
    /// `None` when it offers none, else what the platform said.
    async fn check_credentials(&self) -> Option<Result<String, String>> {
        None
    }
}

/// Internal parsers re-exported for the fuzz targets in `fuzz/`; not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    /// A display name cleaned of control characters and bounded.
    pub use crate::email::address::clean_name;
    /// A bare mail address (`local@domain`), lowercased.
    pub use crate::email::address::parse_address;
    /// `Name <local@domain>` and the other mailbox forms.
    pub use crate::email::address::parse_mailbox;
    /// HTML-only mail to plain text.
    pub use crate::email::html::html_to_text;
    /// One inbound mail as both body formats reduce it.
    pub use crate::email::mail::ParsedMail;
    /// A reply's Markdown as the HTML alternative of a mail.
    pub use crate::email::markdown::to_html_document;
    /// Raw RFC 5322 mail (the email provider's `message/rfc822` bodies) to a [`ParsedMail`].
    pub use crate::email::mime::parse as parse_mime_mail;
    /// The email relay's JSON body to a [`ParsedMail`].
    pub use crate::email::relay_json::parse as parse_relay_json;
    /// The reply context stored per email thread (read back with `from_json`).
    pub use crate::email::threading::ReplyContext;
    /// A References chain capped to its root and latest ids.
    pub use crate::email::threading::cap_chain;
    /// A message id without angle brackets, or `None`.
    pub use crate::email::threading::normalize_id;
    /// The ids of a References or In-Reply-To value.
    pub use crate::email::threading::parse_id_list;
    /// `Re: <subject>` without stacking prefixes.
    pub use crate::email::threading::reply_subject;
    /// Slack's `Retry-After` (whole seconds).
    pub use crate::slack::api::retry_after as slack_retry_after;
    /// The generic webhook receiver's `Retry-After` (delay-seconds or IMF-fixdate).
    pub use crate::webhook::outbound::retry_after as webhook_retry_after;
}
