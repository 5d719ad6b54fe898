//! The gateway store.

mod types;
pub use types::*;
