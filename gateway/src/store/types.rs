//! Rows and commands of the gateway store, in domain terms.

use cowork_cloud_client::{SessionId, TraceParent};
use cowork_providers::{BindingId, Button, ChatRef, InboundEvent, OutboundFile, ProviderId};
use serde::{Deserialize, Serialize};

/// Unix milliseconds.
pub type Millis = i64;

/// An inbox row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InboxId(pub i64);

/// An outbox row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutboxId(pub i64);

/// The owner of a lease (one per worker loop and process).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkerId(pub String);

/// Queue row states, as stored and as shown on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueState {
    /// Waiting for its first attempt.
    Pending,
    /// Leased by a worker until `lease_expires_at`.
    Claimed,
    /// Finished (outbox: `sent`; inbox: `done`).
    Finished,
    /// Failed, will retry at `next_attempt_at`.
    Failed,
    /// Given up, with a reason.
    Dead,
}

/// The ordering key of a queue row: rows of one lane are processed strictly in id order.
pub fn lane_key(binding: &BindingId, chat: &ChatRef) -> String {
    // Ids cannot hold control characters (providers reject them), so U+001F cannot collide.
    format!("{}\u{1f}{}\u{1f}{}", binding, chat.chat_id, chat.thread_key())
}

/// An inbound event to accept into the inbox.
#[derive(Clone, Debug, PartialEq)]
pub struct NewInbound {
    /// The binding of the provider that received it.
    pub binding_id: BindingId,
    /// The provider that received it.
    pub provider_id: ProviderId,
    /// The normalized event.
    pub event: InboundEvent,
    /// The trace its processing continues (the ingress span's).
    pub trace: Option<TraceParent>,
}

/// The events of one inbound request, with the request's replay key if it was signed.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRequest {
    /// The events.
    pub events: Vec<NewInbound>,
    /// The replay key to take.
    pub replay: Option<ReplayKey>,
}

/// A signed request's identity, refused a second time until it expires.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayKey {
    /// The provider that verified it.
    pub provider_id: ProviderId,
    /// The key (for example `timestamp:signature`).
    pub key: String,
    /// When the signature window has passed.
    pub expires_at: Millis,
}

/// What became of one request.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestOutcome {
    /// Stored (or all duplicates), one result per event.
    Accepted(Vec<Accepted>),
    /// A replay of a request already accepted: nothing stored.
    Replayed,
}

/// The result of accepting one inbound event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The inbox row (the existing one for a duplicate).
    pub id: InboxId,
    /// True when the (binding, provider event id) pair was already in the inbox.
    pub duplicate: bool,
}

/// A claimed inbox row.
#[derive(Clone, Debug, PartialEq)]
pub struct InboxItem {
    /// The row id.
    pub id: InboxId,
    /// The binding.
    pub binding_id: BindingId,
    /// The provider.
    pub provider_id: ProviderId,
    /// The event.
    pub event: InboundEvent,
    /// Attempts made before this claim.
    pub attempts: u32,
    /// The trace its processing continues.
    pub trace: Option<TraceParent>,
}

/// What became of an inbox row.
#[derive(Clone, Debug, PartialEq)]
pub enum InboxOutcome {
    /// Processed.
    Done,
    /// Try again at the given time.
    Retry {
        /// When.
        at: Millis,
        /// Why it failed (secret-free).
        error: String,
    },
    /// Give up.
    Dead {
        /// Why.
        reason: String,
    },
}

impl DeliveryOutcome {
    /// The outcome's name: `sent`, `retry`, `deferred` or `dead`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sent { .. } => "sent",
            Self::Retry { .. } => "retry",
            Self::Defer { .. } => "deferred",
            Self::Dead { .. } => "dead",
        }
    }
}

/// Where a session's output is rendered and how far it got.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderCursor {
    /// The session followed.
    pub session_id: SessionId,
    /// The binding it renders into.
    pub binding_id: BindingId,
    /// The provider it renders through.
    pub provider_id: ProviderId,
    /// The chat and thread.
    pub chat: ChatRef,
    /// The last event sequence rendered (0 before the first).
    pub last_sequence: i64,
}

/// An outbound operation as planned by the renderer, before platform message ids are known.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PlannedOp {
    /// Send a new message; with a message key, its platform id is remembered for edits.
    Send {
        /// The text.
        text: String,
        /// Button rows.
        #[serde(default)]
        buttons: Vec<Vec<Button>>,
    },
    /// Edit the message remembered under the row's message key.
    Edit {
        /// The new full text.
        text: String,
        /// The new button rows (empty removes them).
        #[serde(default)]
        buttons: Vec<Vec<Button>>,
    },
    /// Upload a file.
    File(OutboundFile),
}

/// An outbox row to insert; a known dedupe key is ignored.
#[derive(Clone, Debug, PartialEq)]
pub struct NewOutbound {
    /// Unique key making the insert idempotent.
    pub dedupe_key: String,
    /// The binding.
    pub binding_id: BindingId,
    /// The provider.
    pub provider_id: ProviderId,
    /// Where.
    pub chat: ChatRef,
    /// The message this operation creates (send) or changes (edit).
    pub message_key: Option<String>,
    /// What.
    pub op: PlannedOp,
    /// The trace its delivery attempts continue.
    pub trace: Option<TraceParent>,
}

/// A claimed outbox row.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxItem {
    /// The row id.
    pub id: OutboxId,
    /// The dedupe key.
    pub dedupe_key: String,
    /// The binding.
    pub binding_id: BindingId,
    /// The provider.
    pub provider_id: ProviderId,
    /// Where.
    pub chat: ChatRef,
    /// The message key, if any.
    pub message_key: Option<String>,
    /// What.
    pub op: PlannedOp,
    /// Attempts made before this claim.
    pub attempts: u32,
    /// The trace its delivery attempts continue.
    pub trace: Option<TraceParent>,
}

/// What became of one delivery attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryOutcome {
    /// Delivered; the platform's message id.
    Sent {
        /// The platform's message id.
        provider_message_id: String,
    },
    /// Failed; try again at the given time (the attempt counts).
    Retry {
        /// When.
        at: Millis,
        /// Why (secret-free).
        error: String,
    },
    /// Not attempted (for example the destination's circuit is open): try again at the given
    /// time without spending an attempt.
    Defer {
        /// When.
        at: Millis,
    },
    /// Give up.
    Dead {
        /// Why.
        reason: String,
    },
}

/// The kinds of interaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InteractionKind {
    /// An approval (choices `y` and `n`).
    Permission,
    /// A question (choices are option indexes).
    Question,
}

/// An interaction to remember when its buttons are rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct NewInteraction {
    /// The short code every handle of this interaction starts with.
    pub code: String,
    /// The binding.
    pub binding_id: BindingId,
    /// The provider.
    pub provider_id: ProviderId,
    /// The session to answer.
    pub session_id: SessionId,
    /// Where the buttons are.
    pub chat: ChatRef,
    /// Approval or question.
    pub kind: InteractionKind,
    /// The permission id or question request id.
    pub target_id: String,
    /// The text shown with the buttons (reused when the message is updated after a decision).
    pub prompt_text: String,
    /// Question option labels (empty for approvals).
    pub options: Vec<String>,
    /// The message key of the buttons message.
    pub message_key: String,
    /// When it stops accepting answers.
    pub expires_at: Millis,
}

impl NewInteraction {
    /// Whether the buttons were shown in this binding's chat (handles only work there).
    pub fn shown_in(&self, binding: &BindingId, chat: &ChatRef) -> bool {
        &self.binding_id == binding && self.chat.chat_id == chat.chat_id
    }
}

/// A stored interaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Interaction {
    /// What was stored.
    pub spec: NewInteraction,
    /// The decision, once made.
    pub decision: Option<Decision>,
}

/// Who decided an interaction, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The deciding user (display name or platform id).
    pub by: String,
    /// The choice (`y`, `n`, an option index, or `text:<answer>`).
    pub choice: String,
    /// The inbound event that decided (so a retried event finds it won).
    pub event_key: String,
    /// When.
    pub at: Millis,
}

/// The result of trying to decide an interaction.
#[derive(Clone, Debug, PartialEq)]
pub enum DecideOutcome {
    /// This decision won (also when `event_key` already won before: retries are idempotent).
    Won(Interaction),
    /// Someone else decided first.
    AlreadyDecided(Interaction),
    /// Past its expiry.
    Expired,
    /// No such code.
    Unknown,
}

/// One rendering step, committed atomically: the cursor moves from `expected_sequence` to
/// `new_sequence` together with the outbox rows, message refs and interactions it produced.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderCommit {
    /// The session whose cursor moves.
    pub session_id: SessionId,
    /// The cursor's `last_sequence` this step was rendered from (compare-and-set).
    pub expected_sequence: i64,
    /// The cursor's `last_sequence` after this step.
    pub new_sequence: i64,
    /// Outbox rows to insert (known dedupe keys are ignored).
    pub outbound: Vec<NewOutbound>,
    /// Message keys to register (platform id unknown until sent); existing ones are kept.
    pub message_refs: Vec<(BindingId, String)>,
    /// Interactions whose buttons this step renders; an existing (session, target) is kept.
    pub interactions: Vec<NewInteraction>,
    /// The epoch of the session's binding the step was rendered under: a fenced store commits
    /// it only while the binding is still at that epoch (a late commit after a pause is refused).
    pub epoch: Option<i64>,
}
