//! Open Cowork Gateway.

pub mod store;
