//! Agent sessions for Open Cowork: per-session append-only event logs, commands run one at a time
//! per session under a lease, agent runtimes behind a trait (the demo runtime ships here), and the
//! channel bindings and thread-to-session map. In standalone mode the gateway embeds it and talks
//! to it through [`cowork_cloud_client::SessionBackend`]:
//! [`CloudService::new`] (or `start` on the system clock) gives the service and a [`CommandWorker`] to spawn.

mod abort;
pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod banner;
pub mod billing;
pub mod channels;
pub mod clock;
pub mod config;
pub mod database;
pub mod doctor;
mod error;
pub mod http;
pub mod ids;
pub mod logging;
pub mod redact;
pub mod report;
pub mod runtime;
mod service;
mod settings;
pub mod store;
pub mod telemetry;
mod worker;

#[cfg(test)]
mod tests;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use runtime::{AbortOutcome, AgentRuntime, CommandContext, DemoRuntime, EventSink, RuntimeError};
pub use service::CloudService;
pub use settings::CloudSettings;
pub use store::CloudStore;
pub use worker::CommandWorker;
