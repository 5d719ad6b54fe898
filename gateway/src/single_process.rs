//! SQLite serves one gateway process: a second one on the same file is refused at startup (an
//! exclusive lock on `<file>.lock`, released when the process ends, however it ends). Several
//! replicas share Postgres instead.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use sqlx::sqlite::SqliteConnectOptions;

use crate::config::Storage;

/// The SQLite file `storage` names, if it is a file.
fn sqlite_file(storage: &Storage, data_dir_file: &str) -> anyhow::Result<Option<PathBuf>> {
    match storage {
        Storage::DataDir(dir) => Ok(Some(dir.join(data_dir_file))),
        Storage::Url(url) if url.expose().starts_with("sqlite:") => {
            let url = url.expose();
            // An in-memory database is this process's alone.
            if url.contains(":memory:") || url.contains("mode=memory") {
                return Ok(None);
            }
            let options = SqliteConnectOptions::from_str(url).context("parsing the SQLite URL")?;
            Ok(Some(options.get_filename().to_path_buf()))
        }
        Storage::Url(_) => Ok(None),
    }
}

/// Takes the lock of the SQLite file `storage` names (nothing for Postgres); hold it while the
/// gateway runs.
pub fn lock(storage: &Storage, data_dir_file: &str) -> anyhow::Result<Option<File>> {
    let Some(path) = sqlite_file(storage, data_dir_file)? else { return Ok(None) };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut lock_path = path.clone().into_os_string();
    lock_path.push(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", PathBuf::from(&lock_path).display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "another gateway process is using the SQLite database {}; SQLite serves one process \
             (run several replicas on Postgres)",
            path.display()
        ),
        Err(TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("locking {}", PathBuf::from(&lock_path).display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_file_is_refused_and_postgres_takes_none() {
        let dir = tempfile::tempdir().expect("dir");
        let storage = Storage::DataDir(dir.path().to_path_buf());
        let held = lock(&storage, "gateway.db").expect("first").expect("a file");
        let refused = lock(&storage, "gateway.db").expect_err("second");
        assert!(refused.to_string().contains("another gateway process"), "{refused}");
        drop(held);
        assert!(lock(&storage, "gateway.db").expect("after release").is_some());
        let postgres = Storage::Url(crate::config::Secret::new("postgres://localhost/test".into()));
        assert!(lock(&postgres, "gateway.db").expect("postgres").is_none());
        let memory = Storage::Url(crate::config::Secret::new("sqlite::memory:".into()));
        assert!(lock(&memory, "gateway.db").expect("memory").is_none());
    }
}
