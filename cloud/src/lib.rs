//! Agent sessions for Open Cowork: per-session append-only event logs, commands run one at a time
//! per session under a lease, agent runtimes behind a trait (the demo runtime ships here), and the
//! channel bindings and thread-to-session map. In standalone mode the gateway embeds it and talks
//! to it through [`cowork_cloud_client::SessionBackend`].

pub mod database;
