//! The commands besides running the service: `check` (the configuration, offline), `doctor`
//! (the configuration and everything it points at) and `smoke` (a running deployment, over
//! HTTP), each printing a [`Report`](cowork_cloud::report::Report), redacted; and `chat` (talk to
//! an agent from the terminal).

pub mod chat;
pub mod check;
pub mod doctor;
pub mod smoke;
