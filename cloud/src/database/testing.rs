//! Test databases: a temporary SQLite file, or a fresh Postgres schema reached through
//! `search_path`, migrated and dropped afterwards. `OPEN_COWORK_TEST_DATABASE_URL` names the
//! Postgres server (default `postgres://postgres@127.0.0.1:5432/test`). Without a reachable
//! Postgres the Postgres variants are skipped loudly, unless `CI=true`, where they fail.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::PoolSettings;
use super::{Backend, Database};

/// The default Postgres used by tests.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database owned by one test; dropping it removes the file or the schema.
pub struct TestDatabase {
    /// The migrated database.
    pub db: Database,
    /// A URL that reaches the same database (for starting a real process on it).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    schema: Option<String>,
}

fn postgres_url() -> String {
    std::env::var("OPEN_COWORK_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_owned())
}

fn small_pool() -> PoolSettings {
    PoolSettings { max_connections: 4, acquire_timeout: Duration::from_secs(20) }
}

impl TestDatabase {
    /// A fresh database on `backend`, or `None` when Postgres is unreachable outside CI.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite().await),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A migrated SQLite file in a temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let path = dir.path().join("gateway.db");
        let url = format!("sqlite://{}", path.display());
        let db = Database::open_url(&url, &small_pool()).await.unwrap_or_else(|e| panic!("open sqlite: {e:?}"));
        Self { db, url, _dir: Some(dir), schema: None }
    }

    /// A migrated Postgres schema of its own, or `None` (with a loud message) when the server
    /// is unreachable and `CI` is not `true`.
    pub async fn postgres() -> Option<Self> {
        Self::postgres_with(&[]).await
    }

    /// [`TestDatabase::postgres`] with extra session settings on every connection (such as
    /// `plan_cache_mode`, to hold the planner to one choice).
    pub async fn postgres_with(settings: &[(&str, &str)]) -> Option<Self> {
        let base = postgres_url();
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = match PgConnection::connect(&base).await {
            Ok(conn) => conn,
            Err(error) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("Postgres at {base} is required in CI: {error}");
                }
                eprintln!("SKIPPED: Postgres test (no database at {base}: {error}); set OPEN_COWORK_TEST_DATABASE_URL");
                return None;
            }
        };
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("create schema: {e}"));
        let _ = admin.close().await;
        let options = PgConnectOptions::from_str(&base)
            .unwrap_or_else(|e| panic!("test database URL: {e}"))
            .options([("search_path", schema.as_str())])
            .options(settings.iter().copied());
        let db =
            Database::open_postgres(options, &small_pool()).await.unwrap_or_else(|e| panic!("open postgres: {e:?}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        Some(Self { db, url, _dir: None, schema: Some(schema) })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else { return };
        let base = postgres_url();
        // Drop runs inside the test's runtime; a separate thread with its own runtime can block.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Declares `sqlite_<name>` and `postgres_<name>` tokio tests for each `async fn name(db: Database)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test_db = $crate::database::testing::TestDatabase::sqlite().await;
                    super::$name(test_db.db.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(test_db) = $crate::database::testing::TestDatabase::postgres().await else { return };
                    super::$name(test_db.db.clone()).await;
                }
            )*
        }
    };
}
