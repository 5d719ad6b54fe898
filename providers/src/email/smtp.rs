//! Sending over SMTP with lettre's pooled async transport (rustls, ring), and the failure
//! classification the dispatcher acts on.
//!
//! - `starttls`: plain connect, STARTTLS required (lettre refuses to go on, credentials
//!   included, when the server does not offer it); `tls`: implicit TLS; `none`: plaintext, which
//!   the settings allow only to loopback and never with a username.
//! - Certificates are checked against the Mozilla roots plus `smtpRootCertificates`.
//! - AUTH (PLAIN, else LOGIN) only when a username is configured.
//! - One timeout (`OPEN_COWORK_GATEWAY_SMTP_TIMEOUT_MS`) bounds the whole exchange of one mail:
//!   connect, TLS, every command and the content (lettre's async transport bounds only the
//!   connect, so a server that stops answering would otherwise hold the delivery forever).
//! - Up to [`POOL_MAX_CONNECTIONS`] connections are kept for [`POOL_IDLE`] and reused (checked
//!   with NOOP first). The pool spawns onto the Tokio runtime, so it is built on first use. A
//!   timed-out exchange leaves its connection mid-command, where a later reply could be taken for
//!   the answer to the next command; so a timeout discards the whole pool and the next mail
//!   starts a fresh one.
//!
//! Failures: 4xx replies, connection, TLS and timeout errors are transient; 5xx replies are
//! permanent; a refused login (530, 534, 535, 538) or a server that cannot be used as
//! configured (no STARTTLS, no common AUTH mechanism) is [`ProviderErrorKind::Unauthorized`],
//! which holds the provider's deliveries until an operator fixes it instead of dead-lettering
//! every mail.
//!
//! [`ProviderErrorKind::Unauthorized`]: crate::ProviderErrorKind::Unauthorized

use std::sync::Mutex;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, Error as SmtpError, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{EmailSettings, SmtpSecurity};
use crate::{ProviderError, ProviderErrorKind};

/// The most pooled connections to the SMTP server.
pub const POOL_MAX_CONNECTIONS: u32 = 4;
/// How long an idle pooled connection is kept.
pub const POOL_IDLE: Duration = Duration::from_secs(60);
/// The longest server reply text kept in an error message.
const MAX_ERROR_TEXT: usize = 300;

/// The SMTP side of one provider.
pub struct Smtp {
    builder: AsyncSmtpTransportBuilder,
    timeout: Duration,
    pool: Mutex<Option<Pool>>,
}

/// One pooled transport and its generation (to discard exactly the one that timed out).
#[derive(Clone)]
struct Pool {
    generation: u64,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Smtp {
    /// Prepares the transport (TLS parameters, credentials, timeout); nothing connects yet.
    pub fn new(settings: &EmailSettings, password: Option<&str>, timeout: Duration) -> Result<Self, String> {
        let host = settings.smtp_host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let tls = match settings.smtp_security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters(&host, settings)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(&host, settings)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.smtp_port)
            .tls(tls)
            .timeout(Some(timeout))
            .hello_name(ClientId::Domain(settings.from_domain()))
            .pool_config(PoolConfig::new().max_size(POOL_MAX_CONNECTIONS).idle_timeout(POOL_IDLE));
        match (&settings.smtp_username, password) {
            (Some(_), _) if settings.smtp_security == SmtpSecurity::None => {
                return Err(
                    "settings.smtpUsername needs TLS: credentials are never sent with smtpSecurity \"none\"".into()
                );
            }
            (Some(user), Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(user.clone(), password.to_owned()))
                    .authentication(vec![Mechanism::Plain, Mechanism::Login]);
            }
            (Some(_), None) => {
                return Err("credentials.smtpPassword is required when settings.smtpUsername is set".into());
            }
            (None, Some(_)) => return Err("credentials.smtpPassword is set but settings.smtpUsername is not".into()),
            (None, None) => {}
        }
        Ok(Self { builder, timeout, pool: Mutex::new(None) })
    }

    /// Opens a connection as a send would (EHLO, STARTTLS or TLS, AUTH) and says NOOP, within
    /// the timeout; nothing is sent.
    pub async fn check(&self) -> Result<(), String> {
        let transport: AsyncSmtpTransport<Tokio1Executor> =
            self.builder.clone().pool_config(PoolConfig::new().max_size(1)).build();
        match tokio::time::timeout(self.timeout, transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err("the SMTP server did not accept NOOP".to_owned()),
            Ok(Err(error)) => Err(format!("SMTP: {}", classify(&error).message)),
            Err(_) => Err("SMTP: timed out".to_owned()),
        }
    }

    /// Sends one message on a pooled connection, within the timeout.
    pub async fn send(&self, message: Message) -> Result<(), ProviderError> {
        let pool = self.pool();
        match tokio::time::timeout(self.timeout, pool.transport.send(message)).await {
            Ok(result) => result.map(|_| ()).map_err(|error| classify(&error)),
            Err(_) => {
                self.discard(pool.generation);
                let millis = self.timeout.as_millis();
                Err(ProviderError::transient(format!("the SMTP server did not finish within {millis} ms"), None))
            }
        }
    }

    /// The current pool, built on first use (inside the runtime the pool spawns onto).
    fn pool(&self) -> Pool {
        let mut slot = self.pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.get_or_insert_with(|| Pool { generation: 0, transport: self.builder.clone().build() }).clone()
    }

    /// Drops pool `generation` if it is still current; the next send builds a fresh one.
    fn discard(&self, generation: u64) {
        let mut slot = self.pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.as_ref().is_some_and(|pool| pool.generation == generation) {
            let next = generation + 1;
            *slot = Some(Pool { generation: next, transport: self.builder.clone().build() });
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            // Outside a runtime (the process is ending) lettre's pool would panic in its drop,
            // which spawns a cleanup task; the connections close with the process anyway.
            let pool = self.pool.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            std::mem::forget(pool);
        }
    }
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // lettre's builder Debug prints no password, but keep ours independent of that.
        f.debug_struct("Smtp").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

/// TLS parameters for `host` with the Mozilla roots and any extra configured roots.
fn tls_parameters(host: &str, settings: &EmailSettings) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(pem) = &settings.smtp_root_certificates {
        builder = builder.add_root_certificate(
            root_certificate(pem).map_err(|reason| format!("settings.smtpRootCertificates is not usable: {reason}"))?,
        );
    }
    builder.build_rustls().map_err(|error| format!("settings.smtpHost: TLS setup failed: {error}"))
}

/// Parses PEM root certificates (at least one).
pub(super) fn root_certificate(pem: &str) -> Result<Certificate, String> {
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("no PEM certificate found".into());
    }
    Certificate::from_pem(pem.as_bytes()).map_err(|error| error.to_string())
}

/// The dispatcher's view of an SMTP failure.
fn classify(error: &SmtpError) -> ProviderError {
    let text = error.to_string();
    let message = format!("SMTP delivery failed: {}", super::mail::within_bytes(&text, MAX_ERROR_TEXT));
    match error.status().map(u16::from) {
        Some(530 | 534 | 535 | 538) => {
            ProviderError { kind: ProviderErrorKind::Unauthorized, retry_after: None, message }
        }
        Some(_) if error.is_permanent() => ProviderError::permanent(message),
        Some(_) => ProviderError::transient(message, None),
        // lettre's client errors are the server lacking what we require (STARTTLS, a common
        // AUTH mechanism): the same for every mail until someone changes the configuration.
        None if error.is_client() => {
            ProviderError { kind: ProviderErrorKind::Unauthorized, retry_after: None, message }
        }
        None => ProviderError::transient(message, None),
    }
}
