//! The session-backend trait: everything the gateway asks of the cloud.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{CommandId, IdentityId, NewCommand, SessionEvent, SessionId};

/// Binds a channel thread to its session (created on first use).
#[derive(Clone, Debug, PartialEq)]
pub struct BindThread {
    /// The channel binding the thread belongs to.
    pub channel_binding_id: String,
    /// The chat (channel, DM, mailbox) id on the platform.
    pub chat_id: String,
    /// The thread inside the chat; the chat id when the platform has no threads.
    pub thread_id: String,
    /// The agent that serves the session.
    pub agent: String,
    /// A title for a new session (the first words of the first message).
    pub title: String,
}

/// Session commands that are due and wait for a worker: how many, and for how long the oldest has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandBacklog {
    /// Commands due now that no worker runs (including runs whose lease expired).
    pub runnable: u64,
    /// How long the oldest of them has been due, in milliseconds (`None` when there is none).
    pub oldest_runnable_age_ms: Option<u64>,
    /// The age past which the backend reports its commands as stalled, in milliseconds.
    pub stall_threshold_ms: u64,
}

impl CommandBacklog {
    /// Whether the oldest due command has waited longer than the threshold.
    pub fn stalled(&self) -> bool {
        self.oldest_runnable_age_ms.is_some_and(|age| age > self.stall_threshold_ms)
    }
}

/// Errors of the session backend, classified for the caller's retry decision.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend could not be reached or its store failed; retry later.
    #[error("session backend unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The referenced binding, session or command does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request can never succeed (for example a reused idempotency key with other content).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Refused by policy for now (a quota, a rate limit, the plan): tell the sender, do not
    /// retry the same request on a loop.
    #[error("refused: {0}")]
    Refused(String),
}

impl BackendError {
    /// Whether trying the same request again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// What the gateway needs from the cloud, in-process or over HTTP.
#[async_trait]
pub trait SessionBackend: Send + Sync + 'static {
    /// Resolves (creating on first sight) the identity of a sender on a channel binding.
    async fn resolve_identity(
        &self,
        channel_binding_id: &str,
        external_user_id: &str,
    ) -> Result<IdentityId, BackendError>;

    /// Returns the session bound to a channel thread, creating session and binding if needed.
    async fn bind_thread(&self, request: BindThread) -> Result<SessionId, BackendError>;

    /// Queues a command; the same idempotency key always yields the same command.
    async fn submit(&self, session: &SessionId, command: NewCommand) -> Result<CommandId, BackendError>;

    /// Events with a sequence greater than `after`, oldest first, at most `limit`.
    async fn events_after(
        &self,
        session: &SessionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SessionEvent>, BackendError>;

    /// A wake-up feed: the id of each session that got new events. Lagging receivers must
    /// re-read their sessions' logs; the log, not this feed, is the source of truth.
    fn subscribe(&self) -> broadcast::Receiver<SessionId>;

    /// The commands waiting for a worker, for health reporting; `None` from a backend that
    /// reports this elsewhere (a cloud serving its own metrics).
    async fn command_backlog(&self) -> Result<Option<CommandBacklog>, BackendError> {
        Ok(None)
    }

    /// Whether a backend in another process is reachable and accepts our credentials (`Err`
    /// says why not); `None` for an in-process backend, which is as healthy as its database.
    async fn remote_health(&self) -> Option<Result<(), String>> {
        None
    }

    /// The cloud's delivery queue for this gateway's bindings (`GET /api/channels/deliveries`
    /// with `query`); `None` for an in-process backend, which has no such queue.
    async fn channel_deliveries(&self, query: &str) -> Option<Result<serde_json::Value, BackendError>> {
        let _ = query;
        None
    }

    /// Retries or dead-letters one of the cloud's deliveries (`action` is `retry` or
    /// `dead-letter`); `None` for an in-process backend.
    async fn operate_channel_delivery(
        &self,
        delivery_id: &str,
        action: DeliveryAction,
        body: &serde_json::Value,
    ) -> Option<Result<serde_json::Value, BackendError>> {
        let _ = (delivery_id, action, body);
        None
    }
}

/// An operator action on one of the cloud's deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryAction {
    /// Queue it again now.
    Retry,
    /// Give it up.
    DeadLetter,
}

impl DeliveryAction {
    /// The route's last segment.
    pub fn path(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::DeadLetter => "dead-letter",
        }
    }
}
