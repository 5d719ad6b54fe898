//! Opening the database: URL parsing, durability settings, pools and migrations.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Database, WriteStats};

pub(super) static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
pub(super) static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The URL is neither `sqlite:` nor `postgres://`/`postgresql://`.
    #[error("unsupported database URL scheme (expected sqlite: or postgres://)")]
    UnsupportedUrl,
    /// The URL could not be parsed.
    #[error("invalid database URL")]
    InvalidUrl(#[source] sqlx::Error),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Pool sizes and timeouts.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Postgres connections, or SQLite read-only connections.
    pub max_connections: u32,
    /// How long to wait for a free connection.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 8, acquire_timeout: Duration::from_secs(5) }
    }
}

/// How long the server lets a connection sit in an open transaction without a statement before it
/// ends the session. A process paused inside a transaction (SIGSTOP, a frozen VM) would otherwise
/// keep its row locks until it wakes, stalling the replicas that took its bindings over; every
/// transaction here runs its statements back to back, far inside this.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

impl Database {
    /// Opens (creating if needed) the SQLite file `file` in `data_dir`, migrated.
    pub async fn open_data_dir(data_dir: &Path, file: &str, settings: &PoolSettings) -> Result<Self, DatabaseError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| DatabaseError::DataDir { path: data_dir.display().to_string(), source })?;
        let options = SqliteConnectOptions::new().filename(data_dir.join(file));
        Self::open_sqlite(options, settings).await
    }

    /// Opens a `sqlite:` or `postgres://` URL, migrated.
    pub async fn open_url(url: &str, settings: &PoolSettings) -> Result<Self, DatabaseError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url).map_err(DatabaseError::InvalidUrl)?;
            Self::open_sqlite(options, settings).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(DatabaseError::InvalidUrl)?;
            Self::open_postgres(options, settings).await
        } else {
            Err(DatabaseError::UnsupportedUrl)
        }
    }

    /// Opens SQLite with the durability settings: WAL and `synchronous=FULL`, so a commit is
    /// on disk before it returns.
    pub async fn open_sqlite(options: SqliteConnectOptions, settings: &PoolSettings) -> Result<Self, DatabaseError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Checkpoint less often: index pages are rewritten by nearly every commit, and a
            // checkpoint copies each page once however many versions the WAL holds.
            .pragma("wal_autocheckpoint", "8000")
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let stats = Arc::new(WriteStats::default());
        let hooks = stats.clone();
        // No ping before handing out a connection: it cannot go stale (a local file, not a
        // server), and each ping is a round trip to the connection's thread.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .after_connect(move |connection, _| {
                let hooks = hooks.clone();
                Box::pin(async move { hooks.install(connection).await })
            })
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.clone())
            .await
            .map_err(DatabaseError::Connect)?;
        SQLITE_MIGRATIONS.run(&write).await.map_err(DatabaseError::Migrate)?;
        let read = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .test_before_acquire(false)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.read_only(true))
            .await
            .map_err(DatabaseError::Connect)?;
        Ok(Self::Sqlite { write, read, writes: stats })
    }

    /// Opens Postgres with `synchronous_commit=on`, so a commit is durable before it returns, and
    /// [`IDLE_IN_TRANSACTION_TIMEOUT`].
    pub async fn open_postgres(options: PgConnectOptions, settings: &PoolSettings) -> Result<Self, DatabaseError> {
        let idle = IDLE_IN_TRANSACTION_TIMEOUT.as_millis().to_string();
        let options =
            options.options([("synchronous_commit", "on"), ("idle_in_transaction_session_timeout", idle.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(DatabaseError::Connect)?;
        POSTGRES_MIGRATIONS.run(&pool).await.map_err(DatabaseError::Migrate)?;
        Ok(Self::Postgres(pool))
    }
}
