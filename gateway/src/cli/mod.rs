//! The operator commands besides running the service: `check` (the configuration, offline),
//! `doctor` (the configuration and everything it points at) and `smoke` (a running
//! deployment, over HTTP). Each prints a [`Report`](cowork_cloud::report::Report), redacted.

pub mod check;
pub mod doctor;
pub mod smoke;
