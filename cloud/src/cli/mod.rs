//! The setup commands (`tokens`, `bindings`): they open the database directly and act as its
//! owner, so a fresh install mints its first admin token without any web UI.

pub mod bench;
mod bindings;
mod tokens;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use cowork_cloud::admin::Admin;
use cowork_cloud::api::ApiError;
use cowork_cloud::config::server::{SQLITE_FILE, ServeConfig, ServeFlags};
use cowork_cloud::database::{Database, PoolSettings};
use cowork_cloud::store::CloudStore;

pub use bindings::BindingsCommand;
pub use tokens::TokensCommand;

/// Where the database is, as `serve` finds it.
#[derive(clap::Args, Clone, Debug)]
pub struct StoreArgs {
    /// Directory of the SQLite database (default ./.open-cowork-cloud).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A postgres:// or sqlite: URL; beats --data-dir and OPEN_COWORK_CLOUD_DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// The open-cowork.config.json to read.
    #[arg(long, global = true, env = "OPEN_COWORK_CONFIG_PATH", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

/// A command's failure: what to print and the exit code.
pub struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        // A refused input is a usage error (2), like a bad flag; anything else is 1.
        let code = if error.status().is_client_error() && error.status().as_u16() != 404 { 2 } else { 1 };
        Self { message: error.to_string(), code }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self { message: format!("{error:#}"), code: 1 }
    }
}

/// Runs `work` against the database the settings name, printing a failure on stderr.
pub fn run<F, Fut>(cwd: &Path, env: &HashMap<String, String>, store: &StoreArgs, work: F) -> ExitCode
where
    F: FnOnce(Admin, bool) -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    let flags = ServeFlags {
        data_dir: store.data_dir.clone(),
        database_url: store.database_url.clone(),
        config_path: store.config.clone(),
        ..ServeFlags::default()
    };
    let config = match ServeConfig::load(cwd, env, &flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("open-cowork-cloud: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("open-cowork-cloud: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let json = store.json;
    let outcome = runtime.block_on(async move {
        let db = open(&config).await?;
        let admin = Admin::open(
            CloudStore::new(db.clone()),
            Arc::new(cowork_cloud::SystemClock),
            config.token_hash_key.as_ref(),
        )
        .await
        .map_err(|error| Failure { message: error.to_string(), code: 1 })?;
        let outcome = work(admin, json).await;
        db.close().await;
        outcome
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("open-cowork-cloud: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn open(config: &ServeConfig) -> Result<Database, Failure> {
    let settings = PoolSettings { max_connections: 2, ..PoolSettings::default() };
    Ok(config.storage.open(SQLITE_FILE, &settings).await?)
}

/// Prints `value` as pretty JSON.
fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// A JSON field as text for a table (`-` when absent).
fn text(value: &serde_json::Value, field: &str) -> String {
    match &value[field] {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::Array(items) if items.is_empty() => "-".to_owned(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map_or_else(|| item.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// Prints rows under a header, columns padded to their widest cell.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}
