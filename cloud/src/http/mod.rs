//! HTTP plumbing both binaries share: the server loop with its connection limits and graceful
//! shutdown, the request id and logging layer, the readiness count of background workers, and
//! the abuse limits (rate limits, authentication back-off).

pub mod limits;
mod readiness;
pub mod request_log;
mod serve;
mod signal;

pub use readiness::{Readiness, drain_workers};
pub use serve::{ServerLimits, request_timeout, serve};
pub use signal::shutdown_signal;
