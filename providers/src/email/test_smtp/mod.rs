//! A small in-process SMTP server for tests (this crate's and, with the `testing` feature, the
//! gateway's end-to-end tests): EHLO/HELO, STARTTLS and implicit TLS (rustls, a fresh rcgen CA
//! per server), AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT. It records every
//! command (AUTH payloads redacted) and every accepted message, counts connections (to see pool
//! reuse), and answers an injected reply (or none at all) at a chosen stage to exercise error
//! handling and timeouts.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use cowork_providers::email::test_smtp::{SmtpServerOptions, SmtpStage, TestSmtpServer};
//! let server = TestSmtpServer::start(SmtpServerOptions::default()).await?;
//! // settings: {"smtpHost": "127.0.0.1", "smtpPort": server.port(),
//! //            "smtpRootCertificates": server.ca_certificate_pem()}
//! server.fail_next(SmtpStage::RcptTo, 451, "4.3.0 try again later");
//! let mails = server.wait_for_messages(1, std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

mod certs;
mod session;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct SmtpServerOptions {
    /// Offer STARTTLS on plain connections (default true).
    pub starttls: bool,
    /// Speak TLS from the first byte, as on port 465 (default false).
    pub implicit_tls: bool,
    /// Require AUTH with this user and password before MAIL (default none: AUTH not offered).
    pub credentials: Option<(String, String)>,
    /// Offer AUTH on a connection without TLS too (default false, as real servers do).
    pub auth_without_tls: bool,
}

impl Default for SmtpServerOptions {
    fn default() -> Self {
        Self { starttls: true, implicit_tls: false, credentials: None, auth_without_tls: false }
    }
}

/// Where an injected reply is given instead of the normal one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SmtpStage {
    /// The greeting on connect.
    Greeting,
    /// The answer to EHLO or HELO.
    Ehlo,
    /// The answer to AUTH (after the credentials, whether right or not).
    Auth,
    /// The answer to MAIL FROM.
    MailFrom,
    /// The answer to RCPT TO.
    RcptTo,
    /// The answer to DATA (before the content).
    Data,
    /// The answer after the content's final dot (the message is then not recorded).
    Message,
}

/// One message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The MAIL FROM path.
    pub mail_from: String,
    /// The RCPT TO paths.
    pub rcpt_to: Vec<String>,
    /// The content as sent, dot-stuffing undone, CRLF line ends.
    pub data: Vec<u8>,
    /// Whether the connection was encrypted.
    pub tls: bool,
    /// The user that authenticated on the connection, if any.
    pub authenticated_as: Option<String>,
}

impl ReceivedMail {
    /// The content as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// What the server does instead of its normal reply.
#[derive(Clone, Debug)]
enum Injection {
    /// Answer this code and text.
    Reply(u16, String),
    /// Never answer (the connection stays open).
    Stall,
}

/// An injection at a stage.
#[derive(Clone, Debug)]
struct Injected {
    stage: SmtpStage,
    injection: Injection,
    persistent: bool,
}

/// What the server saw, shared with its connections.
#[derive(Debug, Default)]
struct Recorded {
    messages: Vec<ReceivedMail>,
    commands: Vec<String>,
    connections: usize,
    failures: VecDeque<Injected>,
}

/// State shared by the accept loop, the connections and the handle.
#[derive(Debug)]
struct Shared {
    options: SmtpServerOptions,
    recorded: Mutex<Recorded>,
    changed: Notify,
}

impl Shared {
    fn recorded(&self) -> MutexGuard<'_, Recorded> {
        // A panicking test thread must not hide what the server saw from the others.
        self.recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The injection for `stage`, consumed unless persistent.
    fn injected(&self, stage: SmtpStage) -> Option<Injection> {
        let mut recorded = self.recorded();
        let index = recorded.failures.iter().position(|failure| failure.stage == stage)?;
        let failure = recorded.failures[index].clone();
        if !failure.persistent {
            recorded.failures.remove(index);
        }
        Some(failure.injection)
    }

    fn record_command(&self, line: String) {
        self.recorded().commands.push(line);
    }

    fn record_message(&self, mail: ReceivedMail) {
        self.recorded().messages.push(mail);
        self.changed.notify_waiters();
    }
}

/// A running test SMTP server on 127.0.0.1; stops when dropped.
pub struct TestSmtpServer {
    addr: SocketAddr,
    ca_pem: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl TestSmtpServer {
    /// Starts a server on an ephemeral port of 127.0.0.1.
    pub async fn start(options: SmtpServerOptions) -> std::io::Result<Self> {
        let tls = certs::generate().map_err(std::io::Error::other)?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { options, recorded: Mutex::default(), changed: Notify::new() });
        let task = tokio::spawn(session::accept_loop(listener, tls.acceptor, Arc::clone(&shared)));
        Ok(Self { addr, ca_pem: tls.ca_pem, shared, task })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The PEM of the CA that signed the server certificate (for `smtpRootCertificates`).
    pub fn ca_certificate_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The messages accepted so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.recorded().messages.clone()
    }

    /// Every command line received so far, in order (AUTH payloads shown as `***`).
    pub fn commands(&self) -> Vec<String> {
        self.shared.recorded().commands.clone()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.shared.recorded().connections
    }

    /// Answers `code text` once at `stage` instead of the normal reply.
    pub fn fail_next(&self, stage: SmtpStage, code: u16, text: &str) {
        self.inject(stage, Injection::Reply(code, text.replace(['\r', '\n'], " ")), false);
    }

    /// Answers `code text` at `stage` every time, until [`Self::clear_failures`].
    pub fn fail_always(&self, stage: SmtpStage, code: u16, text: &str) {
        self.inject(stage, Injection::Reply(code, text.replace(['\r', '\n'], " ")), true);
    }

    /// Stops answering once at `stage`, keeping the connection open (to exercise timeouts).
    pub fn stall_next(&self, stage: SmtpStage) {
        self.inject(stage, Injection::Stall, false);
    }

    /// Removes every injected reply.
    pub fn clear_failures(&self) {
        self.shared.recorded().failures.clear();
    }

    /// Waits until at least `count` messages were accepted or `timeout` passed; returns them.
    pub async fn wait_for_messages(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before looking, so a message arriving in between still wakes us.
            let changed = self.shared.changed.notified();
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.messages();
            }
        }
    }

    fn inject(&self, stage: SmtpStage, injection: Injection, persistent: bool) {
        self.shared.recorded().failures.push_back(Injected { stage, injection, persistent });
    }
}

impl Drop for TestSmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for TestSmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSmtpServer").field("addr", &self.addr).finish_non_exhaustive()
    }
}
