#![doc = include_str!("../README.md")]

pub mod app;
pub mod cli;
pub use cowork_cloud::clock;
pub mod banner;
pub mod bench;
pub mod cloud_deliveries;
pub mod config;
pub mod dispatcher;
pub mod inbox;
pub mod ingress;
pub mod interactions;
pub use cowork_cloud::logging;
pub mod metrics;
pub mod operator;
pub mod outbox;
pub mod ownership;
pub mod redact;
pub mod registry;
pub mod renderer;
pub mod retention;
pub mod router;
pub mod services;
pub mod single_process;
pub mod standalone;
pub mod store;
mod worker_loop;
