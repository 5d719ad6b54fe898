//! The cloud session contract the gateway depends on: ids, session events, commands, and the
//! [`SessionBackend`] trait. In standalone mode the cloud implements it in-process; in split mode
//! [`http::HttpBackend`] implements it over the cloud's HTTP API and event streams.
//!
//! Event and command names follow the Open Cowork cloud wire vocabulary (`assistant.message`,
//! `permission.requested`, `question.asked`, ...) so both sides stay compatible.

mod backend;
pub mod backoff;
mod command;
mod event;
pub mod http;
mod ids;
pub mod timestamp;
pub mod trace;

pub use backend::{BackendError, BindThread, CommandBacklog, DeliveryAction, SessionBackend};
pub use command::{CommandBody, NewCommand};
pub use event::{EventBody, QuestionOption, QuestionSpec, SessionEvent, ToolStatus};
pub use ids::{CommandId, IdentityId, SessionId};
pub use trace::{TRACEPARENT_HEADER, TraceParent};

/// Internal parsers re-exported for the fuzz targets in `fuzz/`; not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    /// One event of that stream.
    pub use crate::http::follow::Frame;
    /// The event-stream parser that follows a session's events.
    pub use crate::http::follow::SseParser;
}
