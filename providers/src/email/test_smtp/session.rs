//! The test server's accept loop and one SMTP conversation (RFC 5321 subset: EHLO/HELO,
//! STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::{Injection, ReceivedMail, Shared, SmtpStage};

/// The longest command line accepted, in bytes.
const MAX_LINE: usize = 4096;
/// The largest message accepted, in bytes.
const MAX_MESSAGE: usize = 32 * 1024 * 1024;

/// Accepts connections until the task is aborted (the server handle was dropped); the
/// conversations live in a [`JoinSet`], so they end with it.
pub(super) async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let mut conversations = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        shared.recorded().connections += 1;
        conversations.spawn(serve(stream, acceptor.clone(), Arc::clone(&shared)));
        while conversations.try_join_next().is_some() {}
    }
}

/// One connection: plain (possibly upgraded with STARTTLS) or implicit TLS.
async fn serve(stream: TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    if shared.options.implicit_tls {
        if let Ok(tls) = acceptor.accept(stream).await {
            let _ = Conversation::new(&shared, true).run(BufReader::new(tls), true).await;
        }
        return;
    }
    let Ok(Flow::StartTls(reader)) = Conversation::new(&shared, false).run(BufReader::new(stream), true).await else {
        return;
    };
    // The client waits for our 220 before starting TLS, so nothing is left in the buffer.
    if let Ok(tls) = acceptor.accept(reader.into_inner()).await {
        let _ = Conversation::new(&shared, true).run(BufReader::new(tls), false).await;
    }
}

/// How a conversation ended.
enum Flow<S> {
    /// QUIT, or the client went away.
    Closed,
    /// STARTTLS was accepted: the stream must be upgraded.
    StartTls(BufReader<S>),
}

/// The state of one conversation on one (plain or encrypted) stream.
struct Conversation<'a> {
    shared: &'a Shared,
    tls: bool,
    greeted: bool,
    authenticated_as: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl<'a> Conversation<'a> {
    fn new(shared: &'a Shared, tls: bool) -> Self {
        Self { shared, tls, greeted: false, authenticated_as: None, mail_from: None, rcpt_to: Vec::new() }
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        mut self,
        mut io: BufReader<S>,
        greet: bool,
    ) -> std::io::Result<Flow<S>> {
        if greet {
            if let Some(injected) = self.shared.injected(SmtpStage::Greeting) {
                respond(&mut io, injected).await?;
                return Ok(Flow::Closed);
            }
            reply(&mut io, 220, "test.smtp ESMTP ready").await?;
        }
        loop {
            let Some(line) = read_line(&mut io).await? else { return Ok(Flow::Closed) };
            let (verb, args) = line.split_once(' ').unwrap_or((&line, ""));
            let verb = verb.to_ascii_uppercase();
            let shown = if verb == "AUTH" {
                format!("AUTH {} ***", args.split(' ').next().unwrap_or_default())
            } else {
                line.clone()
            };
            self.shared.record_command(shown);
            match verb.as_str() {
                "EHLO" | "HELO" => self.hello(&mut io, verb == "EHLO").await?,
                "STARTTLS" if self.offers_starttls() => {
                    reply(&mut io, 220, "2.0.0 ready to start TLS").await?;
                    return Ok(Flow::StartTls(io));
                }
                "AUTH" if self.offers_auth() => self.auth(&mut io, args).await?,
                "MAIL" => self.mail(&mut io, args).await?,
                "RCPT" => self.rcpt(&mut io, args).await?,
                "DATA" => self.data(&mut io).await?,
                "RSET" => {
                    self.mail_from = None;
                    self.rcpt_to.clear();
                    reply(&mut io, 250, "2.0.0 reset").await?;
                }
                "NOOP" => reply(&mut io, 250, "2.0.0 ok").await?,
                "QUIT" => {
                    reply(&mut io, 221, "2.0.0 bye").await?;
                    return Ok(Flow::Closed);
                }
                _ => reply(&mut io, 502, "5.5.1 command not implemented").await?,
            }
        }
    }

    fn offers_starttls(&self) -> bool {
        self.shared.options.starttls && !self.tls
    }

    fn offers_auth(&self) -> bool {
        self.shared.options.credentials.is_some() && (self.tls || self.shared.options.auth_without_tls)
    }

    async fn hello<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
        extended: bool,
    ) -> std::io::Result<()> {
        if let Some(injected) = self.shared.injected(SmtpStage::Ehlo) {
            return respond(io, injected).await;
        }
        self.greeted = true;
        let mut lines = vec!["test.smtp".to_owned()];
        if extended {
            lines.extend(["8BITMIME".to_owned(), "PIPELINING".to_owned(), format!("SIZE {MAX_MESSAGE}")]);
            if self.offers_starttls() {
                lines.push("STARTTLS".into());
            }
            if self.offers_auth() {
                lines.push("AUTH PLAIN LOGIN".into());
            }
        }
        reply_lines(io, 250, &lines).await
    }

    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
        args: &str,
    ) -> std::io::Result<()> {
        let mut parts = args.split_whitespace();
        let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
        let initial = parts.next().map(str::to_owned);
        let (user, password) = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(response) => response,
                    None => challenge(io, "").await?,
                };
                let decoded = STANDARD.decode(response.trim()).unwrap_or_default();
                let mut fields = decoded.split(|b| *b == 0).skip(1).map(|f| String::from_utf8_lossy(f).into_owned());
                (fields.next().unwrap_or_default(), fields.next().unwrap_or_default())
            }
            "LOGIN" => {
                let user = match initial {
                    Some(user) => user,
                    None => challenge(io, "VXNlcm5hbWU6").await?,
                };
                let password = challenge(io, "UGFzc3dvcmQ6").await?;
                (decode_text(&user), decode_text(&password))
            }
            _ => return reply(io, 504, "5.5.4 unrecognized authentication type").await,
        };
        if let Some(injected) = self.shared.injected(SmtpStage::Auth) {
            return respond(io, injected).await;
        }
        if self.shared.options.credentials.as_ref() == Some(&(user.clone(), password)) {
            self.authenticated_as = Some(user);
            reply(io, 235, "2.7.0 authentication successful").await
        } else {
            reply(io, 535, "5.7.8 authentication credentials invalid").await
        }
    }

    async fn mail<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
        args: &str,
    ) -> std::io::Result<()> {
        if let Some(injected) = self.shared.injected(SmtpStage::MailFrom) {
            return respond(io, injected).await;
        }
        if !self.greeted {
            return reply(io, 503, "5.5.1 say EHLO first").await;
        }
        if self.shared.options.credentials.is_some() && self.authenticated_as.is_none() {
            return reply(io, 530, "5.7.0 authentication required").await;
        }
        let Some(path) = path_after(args, "FROM:") else {
            return reply(io, 501, "5.5.4 syntax: MAIL FROM:<address>").await;
        };
        self.mail_from = Some(path);
        self.rcpt_to.clear();
        reply(io, 250, "2.1.0 sender ok").await
    }

    async fn rcpt<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
        args: &str,
    ) -> std::io::Result<()> {
        if let Some(injected) = self.shared.injected(SmtpStage::RcptTo) {
            return respond(io, injected).await;
        }
        if self.mail_from.is_none() {
            return reply(io, 503, "5.5.1 need MAIL first").await;
        }
        let Some(path) = path_after(args, "TO:") else {
            return reply(io, 501, "5.5.4 syntax: RCPT TO:<address>").await;
        };
        self.rcpt_to.push(path);
        reply(io, 250, "2.1.5 recipient ok").await
    }

    async fn data<S: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut BufReader<S>) -> std::io::Result<()> {
        if let Some(injected) = self.shared.injected(SmtpStage::Data) {
            return respond(io, injected).await;
        }
        let Some(mail_from) = self.mail_from.take().filter(|_| !self.rcpt_to.is_empty()) else {
            return reply(io, 503, "5.5.1 need MAIL and RCPT first").await;
        };
        reply(io, 354, "end data with <CR><LF>.<CR><LF>").await?;
        let mut data = Vec::new();
        loop {
            let mut line = Vec::new();
            if io.read_until(b'\n', &mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            let unstuffed = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
            if data.len() + unstuffed.len() > MAX_MESSAGE {
                return reply(io, 552, "5.3.4 message too big").await;
            }
            data.extend_from_slice(unstuffed);
        }
        let rcpt_to = std::mem::take(&mut self.rcpt_to);
        if let Some(injected) = self.shared.injected(SmtpStage::Message) {
            return respond(io, injected).await;
        }
        let authenticated_as = self.authenticated_as.clone();
        self.shared.record_message(ReceivedMail { mail_from, rcpt_to, data, tls: self.tls, authenticated_as });
        reply(io, 250, "2.0.0 queued").await
    }
}

/// Reads one command line without its line end; `None` at end of stream.
async fn read_line<S: AsyncRead + Unpin>(io: &mut BufReader<S>) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    if io.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    if line.len() > MAX_LINE {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "command line too long"));
    }
    Ok(Some(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_owned()))
}

/// Sends a `334` challenge and reads the client's answer.
async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, text: &str) -> std::io::Result<String> {
    io.get_mut().write_all(format!("334 {text}\r\n").as_bytes()).await?;
    Ok(read_line(io).await?.unwrap_or_default())
}

/// Base64 text as a string (empty when invalid).
fn decode_text(encoded: &str) -> String {
    String::from_utf8_lossy(&STANDARD.decode(encoded.trim()).unwrap_or_default()).into_owned()
}

/// The path of `FROM:<path> params` or `TO:<path>`.
fn path_after(args: &str, keyword: &str) -> Option<String> {
    let rest = args.get(..keyword.len()).filter(|k| k.eq_ignore_ascii_case(keyword)).map(|_| &args[keyword.len()..])?;
    let rest = rest.trim_start();
    let inner = rest.strip_prefix('<')?.split_once('>')?.0;
    Some(inner.to_owned())
}

/// Gives an injected reply, or never answers.
async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    injection: Injection,
) -> std::io::Result<()> {
    match injection {
        Injection::Reply(code, text) => reply(io, code, &text).await,
        Injection::Stall => std::future::pending().await,
    }
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, code: u16, text: &str) -> std::io::Result<()> {
    io.get_mut().write_all(format!("{code} {text}\r\n").as_bytes()).await?;
    io.get_mut().flush().await
}

async fn reply_lines<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    code: u16,
    lines: &[String],
) -> std::io::Result<()> {
    let mut out = String::new();
    for (index, line) in lines.iter().enumerate() {
        let separator = if index + 1 == lines.len() { ' ' } else { '-' };
        out.push_str(&format!("{code}{separator}{line}\r\n"));
    }
    io.get_mut().write_all(out.as_bytes()).await?;
    io.get_mut().flush().await
}
