//! The one database both the gateway and the cloud store their state in: SQLite (embedded, the
//! default) or Postgres. Store code is written once and compiled for each backend through the
//! [`with_writer!`](crate::with_writer) and [`with_reader!`](crate::with_reader) macros, which
//! hand the body a concrete `SqlitePool` or `PgPool`; SQL that differs between the two is chosen
//! with [`Database::backend`].

mod connect;
mod group_commit;
mod inspect;
#[cfg(feature = "testing")]
pub mod testing;
mod write_stats;

pub use connect::{DatabaseError, PoolSettings};
pub use group_commit::{GroupCommit, MAX_BATCH, all_or_none, fail_all, interrupted};
pub use inspect::{SchemaStatus, schema_status};
pub use write_stats::{WriteCounts, WriteStats};

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::{PgPool, SqlitePool};

use crate::config::Secret;

/// Where a service keeps its state.
#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    /// A SQLite file inside this directory (`gateway.db` for the gateway, `cloud.db` for the cloud).
    DataDir(PathBuf),
    /// A `sqlite:` or `postgres://` URL.
    Url(Secret),
}

impl Storage {
    /// Opens the database (creating and migrating it); `sqlite_file` names the file in a data dir.
    pub async fn open(&self, sqlite_file: &str, settings: &PoolSettings) -> anyhow::Result<Database> {
        use anyhow::Context;
        match self {
            Self::DataDir(dir) => Database::open_data_dir(dir, sqlite_file, settings)
                .await
                .with_context(|| format!("opening SQLite database in {}", dir.display())),
            Self::Url(url) => Database::open_url(url.expose(), settings).await.context("opening the database URL"),
        }
    }

    /// How banners name it, without the URL (which may hold a password).
    pub fn describe(&self, sqlite_file: &str) -> String {
        match self {
            Self::DataDir(dir) => format!("SQLite at {}", dir.join(sqlite_file).display()),
            Self::Url(url) if url.expose().starts_with("sqlite:") => "SQLite (database URL)".to_owned(),
            Self::Url(_) => "Postgres (database URL)".to_owned(),
        }
    }
}

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
        /// What the writer committed.
        writes: Arc<WriteStats>,
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

    /// The transactions and row changes this process committed (SQLite; Postgres keeps them in
    /// `pg_stat_database` and `pg_stat_user_tables`).
    pub fn write_counts(&self) -> Option<WriteCounts> {
        match self {
            Self::Sqlite { writes, .. } => Some(writes.snapshot()),
            Self::Postgres(_) => None,
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
            Self::Sqlite { write, read, .. } => {
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
