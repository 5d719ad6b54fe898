//! The cloud session contract the gateway depends on: ids, session events, commands, and the
//! [`SessionBackend`] trait. In standalone mode the cloud implements it in-process; in split mode
//! an HTTP + SSE client will implement it over the network.
//!
//! Event and command names follow the Open Cowork cloud wire vocabulary (`assistant.message`,
//! `permission.requested`, `question.asked`, ...) so both sides stay compatible.

mod backend;
mod command;
mod event;
mod ids;

pub use backend::{BackendError, BindThread, CommandBacklog, SessionBackend};
pub use command::{CommandBody, NewCommand};
pub use event::{EventBody, QuestionOption, QuestionSpec, SessionEvent, ToolStatus};
pub use ids::{CommandId, IdentityId, SessionId};
