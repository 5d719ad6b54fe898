//! Agent runtimes: the trait a runtime implements to run one command, the context it gets, and
//! the fenced event sink it writes its output through.

mod assemble;
mod by_agent;
mod demo;
pub(crate) mod openai;
mod opencode;
mod sse;

pub use assemble::assemble;
pub use by_agent::AgentRuntimes;
pub use demo::{DEMO_FAILURE_MESSAGE, DemoRuntime};
pub use openai::{
    DEFAULT_OPENAI_BASE_URL, DeclaredTool, INTERRUPTED_MESSAGE, OpenAiRuntime, OpenAiSettings, REFUSED_MESSAGE,
    ToolDeclarationError, UNAVAILABLE_MESSAGE, check_declared_tools,
};
#[cfg(any(test, feature = "testing"))]
pub use opencode::opencode_test_binary;
pub use opencode::{
    DEFAULT_ASK_PERMISSIONS, DEFAULT_OPENCODE_URL, ManagedServer, OPENCODE_FAILED_MESSAGE,
    OPENCODE_UNAVAILABLE_MESSAGE, OpenCodeRuntime, OpenCodeSettings,
};

use std::sync::Arc;

use async_trait::async_trait;
use cowork_cloud_client::{CommandBody, CommandId, EventBody, IdentityId, SessionEvent, SessionId};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::error::StoreError;
use crate::store::{Appended, ClaimedCommand, CloudStore, CommandFence};

/// Runs agent turns: one call runs one command of a session to the end of its turn.
#[async_trait]
pub trait AgentRuntime: Send + Sync {
    /// Runs `command`, appending its output through `sink`. A command may run again after a
    /// crash (a higher `attempt`): runtimes use stable event ids so a re-run appends only what
    /// is missing. Stop at the first [`RuntimeError::LeaseLost`].
    ///
    /// When [`CommandContext::cancel`] trips (an `abort` arrived), end the turn promptly: keep
    /// the text streamed so far as the message's last, complete snapshot, append `session.idle`
    /// and return `Ok`. `abort` commands never reach `run`; the worker calls
    /// [`AgentRuntime::abort`] for them.
    async fn run(&self, command: &CommandContext, sink: &EventSink) -> Result<(), RuntimeError>;

    /// Stops what the runtime keeps going for the session outside a running command (a turn
    /// waiting for an approval, a remote agent still working); the worker has already tripped
    /// the cancellation of the command that runs. Runtimes that keep nothing between commands
    /// have nothing to stop.
    async fn abort(&self, _command: &CommandContext, _sink: &EventSink) -> Result<AbortOutcome, RuntimeError> {
        Ok(AbortOutcome::NothingRunning)
    }
}

/// What [`AgentRuntime::abort`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortOutcome {
    /// Something was stopped.
    Stopped,
    /// Nothing was going on.
    NothingRunning,
}

/// The error of a `run` given an `abort` command, which the worker never does.
pub(crate) fn abort_is_not_a_turn() -> RuntimeError {
    RuntimeError::Failed {
        message: "The request could not be run.".to_owned(),
        detail: "an abort command was handed to run(); aborts go to abort()".to_owned(),
    }
}

/// What a runtime knows about the command it runs.
#[derive(Clone, Debug)]
pub struct CommandContext {
    /// The session.
    pub session_id: SessionId,
    /// The agent serving the session.
    pub agent: String,
    /// The command.
    pub command_id: CommandId,
    /// What to do.
    pub body: CommandBody,
    /// Who asked.
    pub actor: IdentityId,
    /// Which run of the command this is (1 for the first).
    pub attempt: i64,
    /// Trips when an `abort` stops this run.
    pub cancel: CancellationToken,
}

impl CommandContext {
    /// The context of a claimed command, with a fresh cancellation token.
    pub fn from_claim(claim: &ClaimedCommand) -> Self {
        Self {
            session_id: claim.fence.session_id.clone(),
            agent: claim.agent.clone(),
            command_id: claim.fence.command_id.clone(),
            body: claim.body.clone(),
            actor: claim.actor.clone(),
            attempt: claim.fence.attempt,
            cancel: CancellationToken::new(),
        }
    }
}

/// How a run ended other than successfully.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The lease is gone (another attempt took over): stop without touching the command.
    #[error("the command's lease was lost")]
    LeaseLost,
    /// The command can never succeed; the session shows `message`, and it is not retried.
    #[error("runtime failed: {detail}")]
    Failed {
        /// A short, user-safe message for the session.
        message: String,
        /// The operator-facing cause.
        detail: String,
    },
    /// A transient failure; the command is retried while attempts remain.
    #[error("transient runtime failure: {0}")]
    Transient(String),
    /// The store failed while appending; treated as transient.
    #[error("store failure while running")]
    Store(#[source] StoreError),
}

impl From<StoreError> for RuntimeError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::LeaseLost(_) => Self::LeaseLost,
            other => Self::Store(other),
        }
    }
}

/// Appends a running command's events under its lease and wakes the session's followers.
#[derive(Clone)]
pub struct EventSink {
    store: CloudStore,
    fence: CommandFence,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<SessionId>,
}

impl EventSink {
    /// A sink for the command identified by `fence`.
    pub fn new(
        store: CloudStore,
        fence: CommandFence,
        clock: Arc<dyn Clock>,
        events: broadcast::Sender<SessionId>,
    ) -> Self {
        Self { store, fence, clock, events }
    }

    /// Appends an event with a caller-chosen stable id. An id already stored appends nothing
    /// (`created` is false); a lost lease answers [`RuntimeError::LeaseLost`].
    pub async fn append(&self, event_id: &str, body: &EventBody) -> Result<Appended, RuntimeError> {
        let now = self.clock.now_ms();
        let appended = self.store.append_event(event_id, body, &self.fence, now).await?;
        if appended.created {
            // Nobody listening is fine: followers re-read the log when they subscribe.
            let _ = self.events.send(self.fence.session_id.clone());
        }
        Ok(appended)
    }

    /// The session's whole event log so far, oldest first (runtimes rebuild conversations from it).
    pub async fn history(&self) -> Result<Vec<SessionEvent>, RuntimeError> {
        const PAGE: u32 = 1000;
        let mut events: Vec<SessionEvent> = Vec::new();
        loop {
            let after = events.last().map_or(0, |event| event.sequence);
            let page = self.store.events_after(&self.fence.session_id, after, PAGE).await?;
            let full = page.len() == PAGE as usize;
            events.extend(page);
            if !full {
                return Ok(events);
            }
        }
    }

    /// The lease this sink writes under.
    pub fn fence(&self) -> &CommandFence {
        &self.fence
    }
}
