//! The one retry schedule, shared with the cloud client.

pub use cowork_cloud_client::backoff::RetryPolicy;
