//! The email provider (`kind: "email"`): mail a relay posts to `POST /webhooks/{id}` becomes
//! prompts in threaded sessions; replies go out over SMTP in the same thread. Wire-compatible
//! with Open Cowork's relay (`reference/opencowork-gateway.md` §3.2), without its defects
//! (§12.1 items 1 and 12): the expected secret is only ever the configured one, replies carry
//! `Re:` and the full References chain, HTML alternatives, attachments both ways, STARTTLS is
//! required, and loops, bounces and spoofed senders never reach the agent.
//!
//! # Settings
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `from` | required | the From of replies, `address` or `Name <address>`; its domain names our Message-IDs; mail from it is ignored |
//! | `smtpHost` | required | the SMTP server (operator-configured: loopback allowed, cloud metadata never) |
//! | `smtpPort` | by security | 587 (`starttls`), 465 (`tls`), 25 (`none`) |
//! | `smtpSecurity` | `starttls` | `starttls` (STARTTLS required: nothing is sent, credentials included, if the server does not offer it), `tls` (implicit TLS), `none` (plaintext: only to a loopback host, never with `smtpUsername`) |
//! | `smtpSecure` | — | Open Cowork's flag: `true` means `tls` |
//! | `smtpUsername` | none | SMTP AUTH (PLAIN, else LOGIN) with `credentials.smtpPassword`; without it no AUTH |
//! | `smtpRootCertificates` | none | PEM certificates trusted besides the Mozilla roots (a relay with a private CA; tests) |
//! | `allowedSenders` | everyone | addresses and `@domain` entries (exact domain, case-insensitive); mail from anyone else is recorded, not prompted |
//! | `maxAttachmentBytes` | 1 MiB | the largest attachment inbound (413 over it) and outbound (at most 15 MiB) |
//! | `requireAuthenticationResults` | `false` | `true`: the relay's DMARC verdict must pass (or, without one, an aligned DKIM or SPF pass); a list of `spf`, `dkim`, `dmarc`: each must pass (`verdicts.rs`) |
//! | `authServId` | none | count only `Authentication-Results` of this authserv-id (your relay's); unset: only the topmost header |
//! | `subject` | `Open Cowork update` | the subject of a mail that starts a thread |
//! | `inboundAddress` | none | the address the relay receives for; mail from it is ignored too |
//!
//! Credentials: `inboundSecret` (required; several values for rotation) and `smtpPassword`.
//!
//! `From:` is trivially forged. `allowedSenders` narrows who may prompt, but only
//! `requireAuthenticationResults` with a relay that checks DMARC makes the address trustworthy;
//! an allowlist without it is a convenience, not a control.
//!
//! # Inbound
//!
//! - Authentication (`auth.rs`): `x-open-cowork-gateway-email-secret: <secret>` or
//!   `Authorization: Bearer <secret>` (constant time, any configured secret), or the generic
//!   webhook's `v1` HMAC signature headers keyed by the secret (binds body and time; replay key
//!   `"{ts}:{sig}"`). Nothing else authenticates; failures are 401.
//! - Body by Content-Type: `message/rfc822` (raw mail, `mime.rs`) or `application/json` (the
//!   relay shape, `relay_json.rs`); anything else, unparsable mail or no Message-ID is 400; an
//!   attachment over `maxAttachmentBytes` and text over the limits are 413; more than 20
//!   attachments or over-long ids and subjects are 400.
//! - Mapping (`inbound.rs`): event id = Message-ID (the gateway dedupes it durably); chat = the
//!   lowercased sender address; thread = the thread root (`threading.rs`); the prompt is the reply
//!   without quoted history and signature (`quotes.rs`), the subject first when the mail starts a
//!   thread, attachments listed as `[attachment: name (type, N bytes)]` lines (the prompt carries
//!   text only). Nothing left is `Ignored { reason: "empty" }`.
//! - Answers by mail: `/approve <handle>`, `/deny <handle>`, `/answer <handle> <text>`, a bare
//!   button handle, or the bare number of a choice in the mail being answered (its handles ride in
//!   our Message-ID, `message_id.rs`, with the thread root, so a client that keeps In-Reply-To
//!   but drops References stays in its thread); an out-of-range number is an ordinary message.
//! - Recorded but never prompted (`loops.rs`), as `Ignored { reason }`: `own_address`,
//!   `mailer_daemon`, `auto_submitted`, `precedence_bulk`, `mailing_list`,
//!   `authentication_failed`, `sender_not_allowed` (and `empty` above).
//!
//! # Outbound
//!
//! One mail per delivery (`compose.rs`): `Re:` subject, In-Reply-To and References from the
//! thread's reply context, a Message-ID deterministic per delivery on the From domain,
//! `multipart/alternative` plain text and HTML from the Markdown, buttons as numbered choices,
//! edits as a new mail in the thread (mail cannot be edited), files as attachments. Sent over
//! lettre's pooled SMTP transport (`smtp.rs`); the SMTP timeout bounds the whole exchange of
//! one mail; 4xx, connection, TLS and timeout failures retry, 5xx are permanent, and refused
//! credentials or a server without STARTTLS or a usable AUTH mechanism are `Unauthorized`, which
//! holds the provider's deliveries until an operator acts.
//!
//! Left out: DKIM signing (the relay or the SMTP server signs), SMTPUTF8 addresses, form-encoded
//! relay bodies, passing inbound attachments' bytes to the agent, and IMAP polling.

pub(crate) mod address;
mod auth;
mod compose;
mod config;
pub(crate) mod html;
mod inbound;
mod loops;
pub(crate) mod mail;
pub(crate) mod markdown;
pub use markdown::escape_html;
mod message_id;
pub(crate) mod mime;
mod quotes;
pub(crate) mod relay_json;
mod smtp;
#[cfg(any(test, feature = "testing"))]
pub mod test_smtp;
pub(crate) mod threading;
mod verdicts;

use std::time::Duration;

use async_trait::async_trait;

pub use auth::SECRET_HEADER;
pub use config::{
    AuthMethod, DEFAULT_MAX_ATTACHMENT_BYTES, DEFAULT_SMTP_TIMEOUT_MS, DEFAULT_SUBJECT, EmailCredentials,
    EmailSettings, MAX_ATTACHMENT_BYTES_LIMIT, SenderPattern, SmtpSecurity, VerdictRequirement,
};

use crate::{
    Capabilities, ChannelProvider, Delivery, InboundError, InboundRequest, ProviderError, ProviderId, ProviderKind,
    SentMessage, Verified,
};

/// The most buttons one mail offers as numbered choices.
pub const MAX_BUTTONS: usize = 10;
/// The longest reply text, in characters (as Open Cowork's email provider).
pub const MAX_TEXT_LENGTH: usize = 20_000;

/// One configured email provider.
pub struct EmailProvider {
    id: ProviderId,
    secrets: auth::InboundSecrets,
    settings: EmailSettings,
    smtp: smtp::Smtp,
    capabilities: Capabilities,
}

impl EmailProvider {
    /// Creates the provider from its credentials, settings and the SMTP timeout (connect, TLS
    /// and each command); nothing connects until the first delivery. Errors name the field.
    pub fn new(
        id: ProviderId,
        credentials: EmailCredentials,
        settings: EmailSettings,
        smtp_timeout: Duration,
    ) -> Result<Self, String> {
        let secrets = auth::InboundSecrets::new(credentials.inbound_secrets)?;
        settings.validate()?;
        let password = credentials.smtp_password.filter(|password| !password.is_empty());
        let smtp = smtp::Smtp::new(&settings, password.as_deref(), smtp_timeout)?;
        let capabilities = Capabilities {
            message_editing: false,
            inline_buttons: true,
            max_buttons_per_message: MAX_BUTTONS,
            max_text_length: MAX_TEXT_LENGTH,
            file_uploads: true,
            max_file_bytes: settings.max_attachment_bytes,
            min_interval_ms: 0,
            needs_reply_context: true,
        };
        Ok(Self { id, secrets, settings, smtp, capabilities })
    }

    /// The settings this provider runs with.
    pub fn settings(&self) -> &EmailSettings {
        &self.settings
    }
}

impl std::fmt::Debug for EmailProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailProvider")
            .field("id", &self.id)
            .field("secrets", &self.secrets)
            .field("settings", &self.settings)
            .field("smtp", &self.smtp)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ChannelProvider for EmailProvider {
    fn id(&self) -> &ProviderId {
        &self.id
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Email
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Connects to the SMTP server (EHLO, STARTTLS or TLS as configured, AUTH when a username
    /// is set) and says NOOP; nothing is sent.
    async fn check_credentials(&self) -> Option<Result<String, String>> {
        Some(self.smtp.check().await.map(|()| format!("SMTP {} answers", self.settings.smtp_host)))
    }

    fn parse_inbound(&self, request: &InboundRequest) -> Result<Verified, InboundError> {
        let replay_key = self.secrets.authenticate(request)?;
        let event = inbound::parse(request, &self.settings)?;
        Ok(Verified { events: vec![event], replay_key, immediate_reply: None })
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<SentMessage, ProviderError> {
        let composed = compose::compose(delivery, self.id.as_str(), &self.settings)?;
        self.smtp.send(composed.message).await?;
        Ok(SentMessage { message_id: composed.message_id })
    }
}

#[cfg(test)]
mod inbound_tests;
#[cfg(test)]
mod tests;
