//! What the SQLite writer commits: transactions and row changes per table, counted by SQLite's
//! own commit and update hooks on the one writer connection, so the figures are what reached
//! the file, not what the code meant to write. (Postgres keeps its own per-table statistics in
//! `pg_stat_user_tables`.)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::sqlite::SqliteConnection;

/// Counters shared by the writer connection's hooks.
#[derive(Debug, Default)]
pub struct WriteStats {
    commits: AtomicU64,
    rows: Mutex<Rows>,
}

/// Row changes of the open transaction, and of the committed ones.
#[derive(Debug, Default)]
struct Rows {
    open: BTreeMap<String, u64>,
    committed: BTreeMap<String, u64>,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteCounts {
    /// Write transactions committed (each one a WAL sync under `synchronous=FULL`).
    pub commits: u64,
    /// Rows inserted, updated or deleted by committed transactions, per table.
    pub rows: BTreeMap<String, u64>,
}

impl WriteStats {
    /// The counters now.
    pub fn snapshot(&self) -> WriteCounts {
        let rows = self.rows.lock().map(|rows| rows.committed.clone()).unwrap_or_default();
        WriteCounts { commits: self.commits.load(Ordering::Relaxed), rows }
    }

    /// Installs the hooks on `connection` (the writer, once per connection).
    pub(super) async fn install(self: &Arc<Self>, connection: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        let mut handle = connection.lock_handle().await?;
        let stats = self.clone();
        handle.set_commit_hook(move || {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut rows) = stats.rows.lock() {
                let Rows { open, committed } = &mut *rows;
                for (table, count) in std::mem::take(open) {
                    *committed.entry(table).or_default() += count;
                }
            }
            true // lets the commit proceed (false would turn it into a rollback)
        });
        let stats = self.clone();
        handle.set_rollback_hook(move || {
            if let Ok(mut rows) = stats.rows.lock() {
                rows.open.clear();
            }
        });
        let stats = self.clone();
        handle.set_update_hook(move |change| {
            if let Ok(mut rows) = stats.rows.lock() {
                match rows.open.get_mut(change.table) {
                    Some(count) => *count += 1,
                    None => {
                        rows.open.insert(change.table.to_owned(), 1);
                    }
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::database::{Database, PoolSettings};

    #[tokio::test]
    async fn the_writer_counts_committed_transactions_and_rows_per_table() {
        let dir = tempfile::tempdir().expect("dir");
        let db = Database::open_data_dir(dir.path(), "stats.db", &PoolSettings::default()).await.expect("open");
        let before = db.write_counts().expect("sqlite counts writes");
        let Database::Sqlite { write, .. } = &db else { panic!("sqlite") };
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").execute(write).await.expect("create");
        let mut tx = write.begin().await.expect("begin");
        for v in ["a", "b", "c"] {
            sqlx::query("INSERT INTO t (v) VALUES (?)").bind(v).execute(&mut *tx).await.expect("insert");
        }
        tx.commit().await.expect("commit");
        sqlx::query("UPDATE t SET v = 'z' WHERE id = 1").execute(write).await.expect("update");
        let mut rolled_back = write.begin().await.expect("begin");
        sqlx::query("DELETE FROM t").execute(&mut *rolled_back).await.expect("delete");
        rolled_back.rollback().await.expect("rollback");
        let after = db.write_counts().expect("sqlite counts writes");
        // CREATE, the three-row transaction and the update; the rolled-back delete is no commit.
        assert_eq!(after.commits - before.commits, 3);
        assert_eq!(after.rows.get("t").copied(), Some(4), "3 inserts and 1 update; the delete was rolled back");
        assert!(db.clone().write_counts().is_some());
    }
}
