//! The OpenCode runtime: each session is an OpenCode session (created on its first prompt and
//! recorded in the log as `runtime.session`), driven over OpenCode's HTTP API and followed on its
//! event stream.
//!
//! A `prompt` opens the event stream, queues the prompt (`prompt_async`), appends
//! `prompt.submitted` and follows the session (see `mapping`) until it is idle (`session.idle`)
//! or waits for the channel: OpenCode's permission requests become `permission.requested` and
//! its questions `question.asked`, with OpenCode's request ids. The `permission.respond`,
//! `question.reply` and `question.reject` commands send the answer to OpenCode and follow the
//! session again. An abort calls OpenCode's abort endpoint (during a turn, and for a session
//! still working between commands); the text streamed so far is kept, marked complete.

mod client;
mod config;
mod events;
mod mapping;
mod server;
#[cfg(any(test, feature = "testing"))]
mod test_binary;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cowork_cloud_client::{CommandBody, EventBody, SessionEvent};
use tokio::time::Instant;

pub use config::{DEFAULT_ASK_PERMISSIONS, DEFAULT_OPENCODE_URL, ManagedServer, OpenCodeSettings};
#[cfg(any(test, feature = "testing"))]
pub use test_binary::opencode_test_binary;

use super::{AbortOutcome, AgentRuntime, CommandContext, EventSink, RuntimeError};
use client::{ApiError, OpenCodeClient, PromptRequest};
use events::EventStream;
use mapping::{Step, TurnWriter};
use server::ServerProcess;

/// The runtime name recorded in `runtime.session` events.
const RUNTIME: &str = "opencode";
/// The message shown when OpenCode cannot be reached or keeps failing.
pub const OPENCODE_UNAVAILABLE_MESSAGE: &str = "The OpenCode agent is unavailable; please try again.";
/// The message shown when OpenCode reports an error.
pub const OPENCODE_FAILED_MESSAGE: &str = "The OpenCode agent failed; please try again.";
/// The message shown when an answer refers to a request OpenCode no longer waits for.
const NOT_PENDING_MESSAGE: &str = "That request is no longer pending.";
/// At most one streamed snapshot per part per this long.
const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(100);

/// A runtime driving an OpenCode server.
#[derive(Clone, Debug)]
pub struct OpenCodeRuntime {
    settings: Arc<OpenCodeSettings>,
    client: OpenCodeClient,
    base_url: String,
    _server: Option<Arc<ServerProcess>>,
}

impl OpenCodeRuntime {
    /// A runtime for `settings`: starts `opencode serve` when configured (and waits until it is
    /// healthy), otherwise uses the configured server (which may come up later).
    pub async fn start(settings: OpenCodeSettings) -> Result<Self, String> {
        settings.check()?;
        let server = match &settings.server {
            Some(managed) => Some(Arc::new(server::start(managed).await?)),
            None => None,
        };
        let base_url = server.as_ref().map_or_else(|| settings.base_url.clone(), |server| server.base_url.clone());
        let client = OpenCodeClient::new(&base_url, settings.request_timeout)?;
        let deadline = Instant::now() + settings.server.as_ref().map_or(Duration::ZERO, |m| m.start_timeout);
        while !client.healthy().await {
            if server.is_none() {
                tracing::warn!(%base_url, "the OpenCode server does not answer yet; prompts will fail until it does");
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!("the OpenCode server at {base_url} did not become healthy"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::info!(%base_url, model = ?settings.model, managed = server.is_some(), "OpenCode runtime configured");
        Ok(Self { settings: Arc::new(settings), client, base_url, _server: server })
    }

    /// Where the OpenCode server is.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// This runtime on the same server (no second `opencode serve`) with another model for every
    /// prompt (`provider/model`; `None` leaves it to the OpenCode config).
    pub fn with_model(&self, model: Option<String>) -> Result<Self, String> {
        let settings = OpenCodeSettings { model, ..(*self.settings).clone() };
        settings.check()?;
        Ok(Self { settings: Arc::new(settings), ..self.clone() })
    }

    async fn prompt(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        text: &str,
        agent: &str,
    ) -> Result<(), RuntimeError> {
        let events = sink.history().await?;
        if turn_ended(&events, command) {
            return Ok(());
        }
        let session = match bound_session(&events) {
            Some(session) => session,
            None => self.create_session(command, sink).await?,
        };
        let stream = self.open_stream(&session).await?;
        let prompt_event = format!("{}:prompt", command.command_id);
        if events.iter().any(|event| event.event_id == prompt_event) {
            // A re-run: the prompt was queued already; follow it if OpenCode still works on it.
            if !self.client.busy(&session).await.map_err(unavailable)? {
                sink.append(&format!("{}:idle", command.command_id), &EventBody::SessionIdle {}).await?;
                return Ok(());
            }
        } else {
            let agent = Some(agent).filter(|agent| !agent.is_empty());
            let request = PromptRequest { text, agent, model: self.settings.model_ref() };
            self.client.prompt(&session, &request).await.map_err(unavailable)?;
            let submitted = EventBody::PromptSubmitted {
                command_id: command.command_id.to_string(),
                message_id: format!("{}:user", command.command_id),
                text: text.to_owned(),
            };
            sink.append(&prompt_event, &submitted).await?;
        }
        self.follow(command, sink, stream, &session).await
    }

    /// Sends an answer (`reply`) for the request `resolved` names, then follows the session.
    async fn answer<F, Fut>(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        resolved: EventBody,
        reply: F,
    ) -> Result<(), RuntimeError>
    where
        F: FnOnce(OpenCodeClient) -> Fut,
        Fut: Future<Output = Result<(), ApiError>>,
    {
        sink.append(&format!("{}:resolved", command.command_id), &resolved).await?;
        let events = sink.history().await?;
        if turn_ended(&events, command) {
            return Ok(());
        }
        let not_pending = || RuntimeError::Failed {
            message: NOT_PENDING_MESSAGE.to_owned(),
            detail: "the answered request is not pending in OpenCode".to_owned(),
        };
        let session = bound_session(&events).ok_or_else(not_pending)?;
        let stream = self.open_stream(&session).await?;
        match reply(self.client.clone()).await {
            Ok(()) => {}
            // Answered already (by an earlier attempt of this command) while OpenCode works on.
            Err(ApiError::Status { status: 404, .. }) if self.client.busy(&session).await.unwrap_or(false) => {}
            Err(ApiError::Status { status: 404, .. }) => return Err(not_pending()),
            Err(error) => return Err(unavailable(error)),
        }
        self.follow(command, sink, stream, &session).await
    }

    async fn create_session(&self, command: &CommandContext, sink: &EventSink) -> Result<String, RuntimeError> {
        let title = format!("Open Cowork {}", command.session_id);
        let session = self.client.create_session(&title, &self.settings.ask_permissions).await.map_err(unavailable)?;
        let bound = EventBody::RuntimeSession { runtime: RUNTIME.to_owned(), external_session_id: session.clone() };
        sink.append(&format!("{}:runtime-session", command.command_id), &bound).await?;
        Ok(session)
    }

    async fn open_stream(&self, session: &str) -> Result<EventStream, RuntimeError> {
        let response = self.client.events().await.map_err(unavailable)?;
        Ok(EventStream::new(response, session))
    }

    /// Follows the session until it is idle, waits for the channel, fails, or is stopped.
    async fn follow(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        mut stream: EventStream,
        session: &str,
    ) -> Result<(), RuntimeError> {
        let mut writer = TurnWriter::new(command, sink, SNAPSHOT_INTERVAL);
        let grace = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(grace);
        let mut stopping = false;
        loop {
            let flush_at = writer.next_flush();
            let event = tokio::select! {
                event = stream.next() => event,
                () = sleep_until(flush_at), if flush_at.is_some() => {
                    writer.flush().await?;
                    continue;
                }
                () = command.cancel.cancelled(), if !stopping => {
                    stopping = true;
                    grace.as_mut().reset(Instant::now() + self.settings.abort_grace);
                    if let Err(error) = self.client.abort(session).await {
                        tracing::warn!(command = %command.command_id, %error, "OpenCode did not take the abort");
                    }
                    continue;
                }
                () = &mut grace, if stopping => break,
            };
            let event = match event {
                Ok(event) => event,
                Err(_) if stopping => break,
                Err(detail) => {
                    writer.finish().await?;
                    return Err(RuntimeError::Transient(detail));
                }
            };
            match writer.apply(event).await? {
                Step::Continue => {}
                Step::Idle => break,
                Step::Asked => return Ok(()),
                // OpenCode reports the abort it was asked for as an error; the turn just ends.
                Step::Failed { .. } if stopping => {}
                Step::Failed { name, message } => {
                    writer.finish().await?;
                    return Err(RuntimeError::Failed {
                        message: OPENCODE_FAILED_MESSAGE.to_owned(),
                        detail: format!("OpenCode reported {name}: {message}"),
                    });
                }
            }
        }
        writer.finish().await?;
        sink.append(&format!("{}:idle", command.command_id), &EventBody::SessionIdle {}).await?;
        Ok(())
    }
}

/// Sleeps until `at` (forever without one).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// An API failure as a run failure: retried while it may pass, else one short message.
fn unavailable(error: ApiError) -> RuntimeError {
    if error.is_retryable() {
        RuntimeError::Transient(error.to_string())
    } else {
        RuntimeError::Failed { message: OPENCODE_UNAVAILABLE_MESSAGE.to_owned(), detail: error.to_string() }
    }
}

/// The OpenCode session recorded for this session, if any.
fn bound_session(events: &[SessionEvent]) -> Option<String> {
    events.iter().find_map(|event| match &event.body {
        EventBody::RuntimeSession { runtime, external_session_id } if runtime == RUNTIME => {
            Some(external_session_id.clone())
        }
        _ => None,
    })
}

/// Whether an earlier attempt of this command already ended its turn (idle, or waiting for the
/// channel).
fn turn_ended(events: &[SessionEvent], command: &CommandContext) -> bool {
    let own = format!("{}:", command.command_id);
    events.iter().filter(|event| event.event_id.starts_with(&own)).any(|event| {
        matches!(
            &event.body,
            EventBody::SessionIdle {} | EventBody::PermissionRequested { .. } | EventBody::QuestionAsked { .. }
        )
    })
}

#[async_trait]
impl AgentRuntime for OpenCodeRuntime {
    async fn run(&self, command: &CommandContext, sink: &EventSink) -> Result<(), RuntimeError> {
        match &command.body {
            CommandBody::Prompt { text, agent } => self.prompt(command, sink, text, agent).await,
            CommandBody::PermissionRespond { permission_id, allowed } => {
                let resolved =
                    EventBody::PermissionResolved { permission_id: permission_id.clone(), allowed: *allowed };
                let (id, allowed) = (permission_id.clone(), *allowed);
                self.answer(command, sink, resolved, move |client| async move {
                    client.reply_permission(&id, allowed).await
                })
                .await
            }
            CommandBody::QuestionReply { request_id, answers } => {
                let resolved = EventBody::QuestionResolved {
                    request_id: request_id.clone(),
                    answers: answers.clone(),
                    rejected: false,
                };
                let (id, answers) = (request_id.clone(), answers.clone());
                self.answer(
                    command,
                    sink,
                    resolved,
                    move |client| async move { client.reply_question(&id, &answers).await },
                )
                .await
            }
            CommandBody::QuestionReject { request_id } => {
                let resolved =
                    EventBody::QuestionResolved { request_id: request_id.clone(), answers: Vec::new(), rejected: true };
                let id = request_id.clone();
                self.answer(command, sink, resolved, move |client| async move { client.reject_question(&id).await })
                    .await
            }
            CommandBody::Abort => Err(super::abort_is_not_a_turn()),
        }
    }

    async fn abort(&self, _command: &CommandContext, sink: &EventSink) -> Result<AbortOutcome, RuntimeError> {
        let events = sink.history().await?;
        let Some(session) = bound_session(&events) else {
            return Ok(AbortOutcome::NothingRunning);
        };
        let busy = self.client.busy(&session).await.map_err(unavailable)?;
        if !busy {
            return Ok(AbortOutcome::NothingRunning);
        }
        self.client.abort(&session).await.map_err(unavailable)?;
        Ok(AbortOutcome::Stopped)
    }
}
