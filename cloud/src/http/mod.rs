//! HTTP plumbing both binaries share: the server loop with its connection limits and graceful
//! shutdown, and the request id and logging layer.

pub mod request_log;
mod serve;

pub use serve::{ServerLimits, request_timeout, serve};
