//! The one database both the gateway and the cloud store their state in: SQLite (embedded, the
//! default) or Postgres. Store code is written once and compiled for each backend through the
//! [`with_writer!`](crate::with_writer) and [`with_reader!`](crate::with_reader) macros, which
//! hand the body a concrete `SqlitePool` or `PgPool`; SQL that differs between the two is chosen
//! with [`Database::backend`].

mod connect;
#[cfg(feature = "testing")]
pub mod testing;

pub use connect::{DatabaseError, PoolSettings};

use sqlx::{PgPool, SqlitePool};

/// Which engine a [`Database`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (WAL, `synchronous=FULL`), one writer connection.
    Sqlite,
    /// Postgres (`synchronous_commit=on`), `FOR UPDATE SKIP LOCKED` claims.
    Postgres,
}

impl Backend {
    /// The lower-case name used in logs and readiness output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A connected, migrated database.
#[derive(Clone, Debug)]
pub enum Database {
    /// SQLite: all writes go through one connection (SQLite serializes writers anyway, and one
    /// in-process writer never sees `SQLITE_BUSY`); reads use a small read-only pool (WAL lets
    /// them run beside the writer).
    Sqlite {
        /// The single-connection writer pool.
        write: SqlitePool,
        /// Read-only connections.
        read: SqlitePool,
    },
    /// Postgres: one pool for everything.
    Postgres(PgPool),
}

impl Database {
    /// The engine behind this handle.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite { .. } => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_reader!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every connection (waits for checked-out ones to return).
    pub async fn close(&self) {
        match self {
            Self::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// Runs `$body` with `$pool` bound to the pool that may write (`&SqlitePool` or `&PgPool`).
#[macro_export]
macro_rules! with_writer {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::database::Database::Sqlite { write: $pool, .. } => $body,
            $crate::database::Database::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$pool` bound to a pool for reads (`&SqlitePool` or `&PgPool`).
#[macro_export]
macro_rules! with_reader {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::database::Database::Sqlite { read: $pool, .. } => $body,
            $crate::database::Database::Postgres($pool) => $body,
        }
    };
}

pub(crate) use with_reader;
