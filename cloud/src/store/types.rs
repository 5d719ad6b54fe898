//! Records and parameters of the cloud store, in domain terms.

use cowork_cloud_client::{CommandBody, CommandId, IdentityId, SessionId, TraceParent};

/// Proof that the caller runs a command: appends and state changes are refused once another
/// attempt has taken the command over (the attempt number is the fencing token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandFence {
    /// The command being run.
    pub command_id: CommandId,
    /// The session the command belongs to.
    pub session_id: SessionId,
    /// The worker that holds the lease.
    pub owner: String,
    /// The attempt this lease belongs to (1 for the first run).
    pub attempt: i64,
    /// The trace the command's events continue: the submitter's until a worker starts the run,
    /// then the run's own.
    pub trace: Option<TraceParent>,
}

/// A command claimed under a lease, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedCommand {
    /// Identifies the command and the lease; pass it to every fenced call.
    pub fence: CommandFence,
    /// The agent serving the session.
    pub agent: String,
    /// What to do.
    pub body: CommandBody,
    /// Who asked.
    pub actor: IdentityId,
    /// When the lease ends unless renewed (unix milliseconds).
    pub lease_expires_at: i64,
    /// The session's next event sequence when the command was claimed: a `session.aborted`
    /// event at or after it stops this run.
    pub since_sequence: i64,
}

/// Which commands a claim may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimScope {
    /// The oldest runnable command of any kind.
    Any,
    /// Only `abort` commands (a worker whose run slots are full still takes these).
    AbortsOnly,
}

/// What an `abort` command found when it was recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AbortRecord {
    /// Commands submitted before the abort that had not started (or whose worker died): marked
    /// done without running.
    pub cancelled: Vec<CommandId>,
    /// Commands submitted before the abort that run under a live lease: their workers stop them.
    pub running: Vec<CommandId>,
}

impl AbortRecord {
    /// Whether the abort stopped anything.
    pub fn stopped_anything(&self) -> bool {
        !self.cancelled.is_empty() || !self.running.is_empty()
    }
}

/// The result of one claim step.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// A command to run.
    Command(ClaimedCommand),
    /// A command exhausted its attempt budget (or could not be read): it was marked failed and a
    /// `runtime.error` event appended to its session.
    GaveUp {
        /// The failed command.
        command_id: CommandId,
        /// Its session, which got a new event.
        session_id: SessionId,
    },
}

/// Who claims commands, when, and how many.
#[derive(Clone, Copy, Debug)]
pub struct ClaimRequest<'a> {
    /// The lease owner.
    pub owner: &'a str,
    /// The current time (unix milliseconds).
    pub now: i64,
    /// The lease length.
    pub lease_ms: i64,
    /// Attempts a command may use before it is given up.
    pub max_attempts: u32,
    /// Which commands may be taken.
    pub scope: ClaimScope,
    /// At most this many claims.
    pub max: usize,
}

/// How a run of a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The turn finished.
    Done,
    /// The command can never succeed: mark it failed and show `message` in the session.
    Failed {
        /// The operator-facing cause, stored as `last_error`.
        error: String,
        /// The short, user-safe text of the `runtime.error` event.
        message: String,
    },
    /// A transient failure: run it again after `delay_ms`, unless the attempt budget is spent.
    Retry {
        /// The operator-facing cause, stored as `last_error`.
        error: String,
        /// How long to wait before the next attempt.
        delay_ms: i64,
    },
}

/// The result of submitting a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The command (the existing one when the idempotency key was known).
    pub command_id: CommandId,
    /// False when the idempotency key was already used with the same body.
    pub created: bool,
}

/// The result of appending an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The event's sequence in its session.
    pub sequence: i64,
    /// False when an event with the same id was already stored (nothing was appended).
    pub created: bool,
}

/// The queue state of a command, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandStatus {
    /// The session it belongs to.
    pub session_id: SessionId,
    /// `pending`, `running`, `done` or `failed`.
    pub state: String,
    /// How many times it was claimed.
    pub attempts: i64,
    /// The operator-facing cause of the last failure.
    pub last_error: Option<String>,
    /// When the current lease ends, while running.
    pub lease_expires_at: Option<i64>,
}
