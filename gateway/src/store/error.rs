//! The store's error type and its classification (unavailable vs. conflict vs. other).

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

/// A gateway store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed: unreachable, timed out, a constraint, a bad statement.
    #[error("gateway store database error")]
    Database(#[from] sqlx::Error),
    /// A stored row could not be decoded into its domain type.
    #[error("corrupt gateway store row: {0}")]
    Corrupt(String),
    /// A fenced write was refused: this replica no longer holds the binding.
    #[error("channel binding {0} has a new owner; the write was refused")]
    Fenced(String),
}

/// SQLite primary result codes meaning "try again later": `SQLITE_BUSY`, `SQLITE_LOCKED`.
const SQLITE_BUSY_CODES: [u32; 2] = [5, 6];

/// Postgres SQLSTATEs meaning the server cannot serve us right now: lock timeout, shutdown,
/// starting up, too many connections.
const POSTGRES_UNAVAILABLE_CODES: [&str; 5] = ["55P03", "57P01", "57P02", "57P03", "53300"];

impl StoreError {
    /// True when the database is unreachable or overloaded (pool timeout, I/O, closed pool, lock
    /// timeout): callers answer 503 with `Retry-After` or retry later, rather than fail hard.
    pub fn is_unavailable(&self) -> bool {
        let Self::Database(error) = self else { return false };
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                if let Some(sqlite) = db.try_downcast_ref::<SqliteError>() {
                    let primary = sqlite.code().and_then(|c| c.parse::<u32>().ok()).map(|c| c & 0xff);
                    primary.is_some_and(|c| SQLITE_BUSY_CODES.contains(&c))
                } else if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                    let code = pg.code();
                    POSTGRES_UNAVAILABLE_CODES.contains(&code) || code.starts_with("08")
                } else {
                    false
                }
            }
            _ => false,
        }
    }

    /// True when a write collided with a unique key it does not tolerate (for example a new
    /// interaction code that is already taken by another interaction).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
    }
}
