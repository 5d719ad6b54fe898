//! The OpenAI-compatible runtime: streaming chat completions (OpenAI, Ollama, vLLM, llama.cpp).
//!
//! A `prompt` appends `prompt.submitted`, rebuilds the conversation from the session's event log
//! (see `history`), streams the answer as `assistant.message` snapshots of the message
//! `<command id>:assistant` (event ids `<command id>:<attempt>:delta:<n>`, so a re-run after a
//! crash streams afresh and edits the same message), records `usage.recorded` and ends with
//! `session.idle`. Requests answered 429 or 5xx (or not answered) are retried, honouring
//! `Retry-After`, only while nothing of the stream was appended; other failures become one
//! short `runtime.error`.
//!
//! Tools: the built-in `fetch_url` (when enabled) and the tools declared in config (see
//! `declared`). Before any call runs the runtime asks the channel (`permission.requested` with id
//! `<command id>:tool:<call id>` and description `Fetch <url>` or `Call <tool> with <arguments>`)
//! and ends the turn. The `permission.respond` command resolves it, runs the call when allowed
//! (`tool.call` running, then complete or error), and calls the model again with the result (or
//! the refusal) as the tool message. Everything it needs is read back from the event log.
//!
//! An abort drops the HTTP stream (or the pending request, retry pause or fetch): the text
//! streamed so far becomes the message's last, complete snapshot, tool calls are not made, and
//! the turn ends with `session.idle`. An abort while an approval is pending resolves it as
//! denied, so a later click is told it is no longer pending.

mod calls;
mod client;
mod config;
mod declared;
mod history;
mod snapshots;
mod tools;

#[cfg(test)]
pub(crate) mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cowork_cloud_client::{CommandBody, EventBody, SessionEvent, ToolStatus};
use cowork_providers::egress::{Egress, EgressRules, Resolver, SystemResolver};
use serde_json::{Value, json};

pub use config::{DEFAULT_OPENAI_BASE_URL, OpenAiSettings};
pub use declared::{DeclaredTool, ToolDeclarationError, check_all as check_declared_tools};

use super::{AbortOutcome, AgentRuntime, CommandContext, EventSink, RuntimeError};
use calls::ToolCall;
use client::{ChatClient, ChatStream, Turn};
use declared::ToolCaller;
use history::ToolExchange;
use snapshots::{Snapshots, StreamFailure};
use tools::{FETCH_URL, Fetcher};

/// The message shown when the model service cannot be reached or keeps failing.
pub const UNAVAILABLE_MESSAGE: &str = "The model service is unavailable; please try again.";
/// The message shown when the model service refuses the request (bad key, unknown model).
pub const REFUSED_MESSAGE: &str = "The model service refused the request; please check the agent's settings.";
/// The message shown when the answer broke off mid-stream.
pub const INTERRUPTED_MESSAGE: &str = "The model's answer was interrupted; please try again.";

/// The default bound on one `fetch_url` call (DNS included).
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// A runtime driving an OpenAI-compatible chat completions endpoint.
#[derive(Clone)]
pub struct OpenAiRuntime {
    settings: Arc<OpenAiSettings>,
    client: ChatClient,
    fetcher: Fetcher,
    caller: ToolCaller,
}

impl std::fmt::Debug for OpenAiRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiRuntime").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl OpenAiRuntime {
    /// A runtime for `settings`; refuses a base URL that is not an allowed operator endpoint and
    /// declared tools that cannot be used. Tools resolve names through the system resolver, and
    /// `fetch_url` follows the default (public hosts only) egress rules.
    pub fn new(settings: OpenAiSettings) -> Result<Self, String> {
        let endpoint = settings.endpoint()?;
        let client = ChatClient::new(endpoint, settings.api_key.clone(), settings.request_timeout)?;
        let resolver: Arc<dyn Resolver> = Arc::new(SystemResolver);
        let fetcher = Fetcher::new(Egress::new(resolver.clone(), FETCH_TIMEOUT), EgressRules::default());
        let declared: Vec<&str> = settings.declared_tools.iter().map(|tool| tool.name.as_str()).collect();
        tracing::info!(base_url = %settings.base_url, model = %settings.model, tools = settings.tools_enabled,
            declared_tools = ?declared, "OpenAI-compatible runtime configured");
        Ok(Self { settings: Arc::new(settings), client, fetcher, caller: ToolCaller::new(resolver) })
    }

    /// The same runtime resolving tool endpoints through `resolver`, with `fetch_url` judged
    /// under `fetch_rules` (declared tools are pinned to their own host).
    pub fn with_egress(mut self, resolver: Arc<dyn Resolver>, fetch_rules: EgressRules) -> Self {
        self.fetcher = Fetcher::new(Egress::new(resolver.clone(), FETCH_TIMEOUT), fetch_rules);
        self.caller = ToolCaller::new(resolver);
        self
    }

    /// The settings in use.
    pub fn settings(&self) -> &OpenAiSettings {
        &self.settings
    }

    async fn prompt(&self, command: &CommandContext, sink: &EventSink, text: &str) -> Result<(), RuntimeError> {
        let submitted = EventBody::PromptSubmitted {
            command_id: command.command_id.to_string(),
            message_id: format!("{}:user", command.command_id),
            text: text.to_owned(),
        };
        sink.append(&format!("{}:prompt", command.command_id), &submitted).await?;
        let events = sink.history().await?;
        if turn_ended(&events, command) {
            return Ok(());
        }
        let messages = history::conversation(&events, self.system_prompt(), &message_id(command), None);
        self.answer(command, sink, messages).await
    }

    async fn respond(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        permission_id: &str,
        allowed: bool,
    ) -> Result<(), RuntimeError> {
        let resolved = EventBody::PermissionResolved { permission_id: permission_id.to_owned(), allowed };
        sink.append(&format!("{}:resolved", command.command_id), &resolved).await?;
        let events = sink.history().await?;
        if turn_ended(&events, command) {
            return Ok(());
        }
        let call = calls::pending(&events, command, permission_id)?;
        let result = if allowed {
            self.run_tool(command, sink, permission_id, &call).await?
        } else {
            "The user declined this call; do not retry it unless they ask.".to_owned()
        };
        let exchange = ToolExchange {
            permission_id: permission_id.to_owned(),
            call_id: call.call_id,
            name: call.tool,
            arguments: call.arguments,
            result,
        };
        let messages = history::conversation(&events, self.system_prompt(), &message_id(command), Some(&exchange));
        self.answer(command, sink, messages).await
    }

    /// Runs an approved call with its `tool.call` status events (id `status_id`); answers the
    /// tool message for the model.
    async fn run_tool(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        status_id: &str,
        call: &ToolCall,
    ) -> Result<String, RuntimeError> {
        let status = |status: ToolStatus, error: Option<String>| EventBody::ToolCall {
            id: status_id.to_owned(),
            name: call.tool.clone(),
            status,
            error,
        };
        let id = |suffix: &str| format!("{}:tool:{suffix}", command.command_id);
        sink.append(&id("running"), &status(ToolStatus::Running, None)).await?;
        let run = async {
            if call.tool == FETCH_URL {
                let url = tools::url_argument(&call.arguments).unwrap_or_default();
                return self.fetcher.fetch(&url).await.map_err(|error| (error.message, error.detail));
            }
            let Some(tool) = self.settings.declared_tools.iter().find(|tool| tool.name == call.tool) else {
                let detail = format!("the tool `{}` is no longer declared", call.tool);
                return Err(("The tool is no longer available.".to_owned(), detail));
            };
            self.caller.call(tool, &call.arguments).await.map_err(|error| (error.message, error.detail))
        };
        let outcome = tokio::select! {
            outcome = run => outcome,
            () = command.cancel.cancelled() => {
                sink.append(&id("error"), &status(ToolStatus::Error, Some("Stopped.".to_owned()))).await?;
                return Ok("The user stopped this call.".to_owned());
            }
        };
        match outcome {
            Ok(text) => {
                sink.append(&id("complete"), &status(ToolStatus::Complete, None)).await?;
                Ok(text)
            }
            Err((message, detail)) => {
                tracing::info!(command = %command.command_id, tool = %call.tool, %detail, "tool call failed");
                sink.append(&id("error"), &status(ToolStatus::Error, Some(message.clone()))).await?;
                Ok(format!("The call failed: {message}"))
            }
        }
    }

    /// One model call: streams the answer, records usage, then ends the turn (idle) or asks to
    /// run the tool the model called.
    async fn answer(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        messages: Vec<Value>,
    ) -> Result<(), RuntimeError> {
        let mut request = json!({
            "model": self.settings.model,
            "messages": messages,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        let tools = calls::declarations(&self.settings);
        if !tools.is_empty() {
            request["tools"] = Value::Array(tools);
            request["parallel_tool_calls"] = json!(false);
        }
        let turn = self.call(command, sink, &request).await?;
        if let Some(usage) = turn.usage {
            tracing::info!(command = %command.command_id, model = %self.settings.model,
                prompt_tokens = usage.prompt_tokens, completion_tokens = usage.completion_tokens, "model usage");
            let body =
                EventBody::Usage { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens };
            sink.append(&format!("{}:{}:usage", command.command_id, command.attempt), &body).await?;
        }
        let call = turn.tool_calls.into_iter().find(|call| !call.name.is_empty()).filter(|_| !turn.stopped);
        let Some(call) = call else {
            sink.append(&format!("{}:idle", command.command_id), &EventBody::SessionIdle {}).await?;
            return Ok(());
        };
        let Some(matched) = calls::matched(&call, &self.settings) else {
            return Err(RuntimeError::Failed {
                message: "The model asked for a tool that is not available.".to_owned(),
                detail: format!("unusable tool call `{}` (id `{}`)", call.name, call.id),
            });
        };
        let requested = EventBody::PermissionRequested {
            permission_id: format!("{}:tool:{}", command.command_id, matched.call_id),
            tool: matched.tool,
            description: matched.description,
        };
        sink.append(&format!("{}:{}:permission", command.command_id, command.attempt), &requested).await?;
        Ok(())
    }

    /// Sends `request` (retrying while nothing was appended) and streams the answer.
    async fn call(&self, command: &CommandContext, sink: &EventSink, request: &Value) -> Result<Turn, RuntimeError> {
        let mut retry = 0;
        let stopped = || Turn { stopped: true, ..Turn::default() };
        loop {
            let sent = tokio::select! {
                sent = self.client.send(request) => sent,
                () = command.cancel.cancelled() => return Ok(stopped()),
            };
            let (retry_after, detail) = match sent {
                Ok(response) => {
                    let mut snapshots = Snapshots::new(command, &self.settings);
                    match self.stream(command, sink, response, &mut snapshots).await {
                        Ok(turn) => return Ok(turn),
                        Err(StreamFailure::Sink(error)) => return Err(error),
                        Err(StreamFailure::Broken(detail)) if snapshots.appended > 0 => {
                            return Err(failed(INTERRUPTED_MESSAGE, detail));
                        }
                        Err(StreamFailure::Broken(detail)) => (None, detail),
                    }
                }
                Err(error) if error.is_retryable() => {
                    let retry_after = match &error {
                        client::SendError::Status { retry_after, .. } => *retry_after,
                        client::SendError::Transport(_) => None,
                    };
                    (retry_after, error.detail())
                }
                Err(error) => return Err(failed(REFUSED_MESSAGE, error.detail())),
            };
            retry += 1;
            if retry > self.settings.max_retries {
                return Err(failed(UNAVAILABLE_MESSAGE, format!("{detail} (after {} retries)", retry - 1)));
            }
            let delay = self.settings.retry_delay(retry, retry_after);
            tracing::warn!(command = %command.command_id, retry, delay_ms = delay.as_millis() as u64, %detail,
                "model call failed; retrying");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = command.cancel.cancelled() => return Ok(stopped()),
            }
        }
    }

    /// Reads the stream, appending coalesced snapshots and the final one. An abort drops the
    /// stream (closing the connection) and keeps what arrived.
    async fn stream(
        &self,
        command: &CommandContext,
        sink: &EventSink,
        response: reqwest::Response,
        snapshots: &mut Snapshots,
    ) -> Result<Turn, StreamFailure> {
        let mut stream = ChatStream::new(&self.client, response);
        let mut turn = Turn::default();
        loop {
            let next = tokio::select! {
                next = stream.next_data() => next.map_err(StreamFailure::Broken)?,
                () = command.cancel.cancelled() => {
                    turn.stopped = true;
                    break;
                }
            };
            let Some(data) = next else { break };
            let added = turn.apply(&data).map_err(|detail| StreamFailure::Broken(self.client.redact(&detail)))?;
            if snapshots.due(added.chars().count()) {
                snapshots.append(sink, &turn.content, false).await?;
            }
            if turn.done {
                break;
            }
        }
        drop(stream);
        if !turn.finished() {
            return Err(StreamFailure::Broken("the stream ended without a finish reason or [DONE]".to_owned()));
        }
        if turn.stopped && turn.content.is_empty() {
            return Ok(turn);
        }
        if !turn.content.is_empty() || turn.tool_calls.is_empty() {
            snapshots.append(sink, &turn.content, true).await?;
        }
        Ok(turn)
    }

    fn system_prompt(&self) -> Option<&str> {
        self.settings.system_prompt.as_deref()
    }
}

/// The assistant message id of a command's answer.
fn message_id(command: &CommandContext) -> String {
    format!("{}:assistant", command.command_id)
}

fn failed(message: &str, detail: String) -> RuntimeError {
    RuntimeError::Failed { message: message.to_owned(), detail }
}

/// Whether an earlier attempt of this command already ended its turn (idle, or waiting for an
/// approval it asked for).
fn turn_ended(events: &[SessionEvent], command: &CommandContext) -> bool {
    let own = format!("{}:", command.command_id);
    events.iter().filter(|event| event.event_id.starts_with(&own)).any(|event| {
        matches!(&event.body, EventBody::SessionIdle {})
            || matches!(&event.body, EventBody::PermissionRequested { permission_id, .. }
                if permission_id.starts_with(&own))
    })
}

#[async_trait]
impl AgentRuntime for OpenAiRuntime {
    async fn run(&self, command: &CommandContext, sink: &EventSink) -> Result<(), RuntimeError> {
        match &command.body {
            CommandBody::Prompt { text, .. } => self.prompt(command, sink, text).await,
            CommandBody::PermissionRespond { permission_id, allowed } => {
                self.respond(command, sink, permission_id, *allowed).await
            }
            CommandBody::QuestionReply { .. } | CommandBody::QuestionReject { .. } => {
                Err(failed("This agent did not ask a question.", "the OpenAI runtime never asks questions".to_owned()))
            }
            CommandBody::Abort => Err(super::abort_is_not_a_turn()),
        }
    }

    async fn abort(&self, command: &CommandContext, sink: &EventSink) -> Result<AbortOutcome, RuntimeError> {
        let events = sink.history().await?;
        let Some(permission_id) = pending_permission(&events) else {
            return Ok(AbortOutcome::NothingRunning);
        };
        let resolved = EventBody::PermissionResolved { permission_id, allowed: false };
        sink.append(&format!("{}:resolved", command.command_id), &resolved).await?;
        Ok(AbortOutcome::Stopped)
    }
}

/// The tool approval the session waits for, if any (requested, not yet resolved).
fn pending_permission(events: &[SessionEvent]) -> Option<String> {
    let requested = events.iter().rev().find_map(|event| match &event.body {
        EventBody::PermissionRequested { permission_id, .. } if permission_id.contains(":tool:") => {
            Some(permission_id.clone())
        }
        _ => None,
    })?;
    let resolved = events.iter().any(
        |event| matches!(&event.body, EventBody::PermissionResolved { permission_id, .. } if *permission_id == requested),
    );
    (!resolved).then_some(requested)
}
