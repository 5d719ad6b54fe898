//! HTTP plumbing both binaries share: the server loop with its connection limits and graceful
//! shutdown, the request id and logging layer, the readiness count of background workers, and
//! the abuse limits (rate limits, authentication back-off), and the health probe subcommand.

pub mod limits;
mod probe;
mod readiness;
pub mod request_log;
mod serve;
mod signal;

pub use probe::{local_url, probe, probe_command};
pub use readiness::{Readiness, drain_workers};
pub use serve::{ServerLimits, request_timeout, serve};
pub use signal::shutdown_signal;
