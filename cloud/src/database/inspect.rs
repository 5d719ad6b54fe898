//! What `doctor` learns about a database without changing it: whether it answers, which engine
//! it is, and whether its migrations are the ones this build carries.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::connect::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use super::{Backend, DatabaseError, Storage};

/// How long `doctor` waits for the database.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a database's schema stands against this build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The engine.
    pub backend: Backend,
    /// Whether the database exists yet (a SQLite file is created on the first start).
    pub exists: bool,
    /// Migrations this build has that the database has not applied (the next start applies them).
    pub pending: Vec<i64>,
    /// Migrations the database has applied that this build does not know (a newer build ran).
    pub unknown: Vec<i64>,
}

/// Connects to `storage` (read only; nothing is created or migrated) and compares its applied
/// migrations with this build's; `sqlite_file` names the file in a data dir.
pub async fn schema_status(storage: &Storage, sqlite_file: &str) -> Result<SchemaStatus, DatabaseError> {
    let sqlite = |options: SqliteConnectOptions| async move {
        let path = options.get_filename().to_path_buf();
        if !path.exists() {
            return Ok(status(Backend::Sqlite, false, BTreeSet::new()));
        }
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, SqliteConnection::connect_with(&options.read_only(true)))
            .await
            .map_err(|_| DatabaseError::Connect(sqlx::Error::PoolTimedOut))?
            .map_err(DatabaseError::Connect)?;
        let applied = applied_sqlite(&mut conn).await.map_err(DatabaseError::Connect)?;
        Ok(status(Backend::Sqlite, true, applied))
    };
    match storage {
        Storage::DataDir(dir) => sqlite(SqliteConnectOptions::new().filename(dir.join(sqlite_file))).await,
        Storage::Url(url) if url.expose().starts_with("sqlite:") => {
            sqlite(SqliteConnectOptions::from_str(url.expose()).map_err(DatabaseError::InvalidUrl)?).await
        }
        Storage::Url(url) if url.expose().starts_with("postgres://") || url.expose().starts_with("postgresql://") => {
            let options = PgConnectOptions::from_str(url.expose()).map_err(DatabaseError::InvalidUrl)?;
            let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
                .await
                .map_err(|_| DatabaseError::Connect(sqlx::Error::PoolTimedOut))?
                .map_err(DatabaseError::Connect)?;
            let table: Option<String> = sqlx::query_scalar("SELECT CAST(to_regclass('_sqlx_migrations') AS TEXT)")
                .fetch_one(&mut conn)
                .await
                .map_err(DatabaseError::Connect)?;
            let applied = match table {
                Some(_) => sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(&mut conn)
                    .await
                    .map_err(DatabaseError::Connect)?
                    .into_iter()
                    .collect(),
                None => BTreeSet::new(),
            };
            Ok(status(Backend::Postgres, true, applied))
        }
        Storage::Url(_) => Err(DatabaseError::UnsupportedUrl),
    }
}

async fn applied_sqlite(conn: &mut SqliteConnection) -> Result<BTreeSet<i64>, sqlx::Error> {
    let table: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(&mut *conn)
            .await?;
    if table.is_none() {
        return Ok(BTreeSet::new());
    }
    let versions = sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(&mut *conn)
        .await?;
    Ok(versions.into_iter().collect())
}

fn status(backend: Backend, exists: bool, applied: BTreeSet<i64>) -> SchemaStatus {
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    let known: BTreeSet<i64> = migrator.iter().map(|m| m.version).collect();
    SchemaStatus {
        backend,
        exists,
        pending: known.difference(&applied).copied().collect(),
        unknown: applied.difference(&known).copied().collect(),
    }
}
