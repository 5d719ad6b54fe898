//! HTTP plumbing both binaries share: the server loop with its connection limits and graceful
//! shutdown, the request id and logging layer, and the readiness count of background workers.

mod readiness;
pub mod request_log;
mod serve;
mod signal;

pub use readiness::{Readiness, drain_workers};
pub use serve::{ServerLimits, request_timeout, serve};
pub use signal::shutdown_signal;
