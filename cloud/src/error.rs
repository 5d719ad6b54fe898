//! Typed errors of the cloud store and their mapping onto the session-backend contract.

use cowork_cloud_client::BackendError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached; retrying later may succeed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The referenced binding, session or command does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request can never succeed (an idempotency key reused with other content).
    #[error("rejected: {0}")]
    Rejected(String),
    /// The command's lease is no longer held by the caller: another attempt owns it now.
    #[error("lease lost for command {0}")]
    LeaseLost(String),
    /// A stored value could not be encoded or decoded.
    #[error("invalid stored data: {0}")]
    Invalid(String),
}

impl From<StoreError> for BackendError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => BackendError::NotFound(what),
            StoreError::Rejected(why) => BackendError::Rejected(why),
            // A lost lease or unreadable row is not the caller's fault; report it as a store
            // failure so the caller retries rather than dropping the request.
            other @ (StoreError::Database(_) | StoreError::LeaseLost(_) | StoreError::Invalid(_)) => {
                BackendError::Unavailable(Box::new(other))
            }
        }
    }
}
