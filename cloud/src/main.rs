//! The `open-cowork-cloud` binary: `serve` runs the cloud (API, command workers, or both) until
//! SIGTERM or Ctrl-C and exits 0 after draining; `tokens` and `bindings` set it up, working on
//! the database directly.

mod cli;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use cowork_cloud::config::server::{Role, ServeConfig, ServeFlags};
use cowork_cloud::database::Storage;
use cowork_cloud::redact::Redactor;
use cowork_cloud::{SystemClock, app, banner, logging, telemetry};

/// Open Cowork Cloud: agent sessions for channel gateways, over HTTP and SSE.
#[derive(Parser)]
#[command(name = "open-cowork-cloud", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the cloud: the API, the command workers, or both (the default).
    Serve(ServeArgs),
    /// Mint, list and revoke API tokens.
    Tokens {
        #[command(flatten)]
        store: cli::StoreArgs,
        #[command(subcommand)]
        command: cli::TokensCommand,
    },
    /// Load generators against a running cloud.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Create and list channel bindings.
    Bindings {
        #[command(flatten)]
        store: cli::StoreArgs,
        #[command(subcommand)]
        command: cli::BindingsCommand,
    },
    /// Check the configuration, offline: does it load, and keep its deployment tier's rules.
    Check(InspectArgs),
    /// Check the configuration, the database and its schema, and the TLS posture.
    Doctor(InspectArgs),
    /// Health check for containers and service managers: GET the local /livez (or --url), exit
    /// 0 on a 2xx answer.
    Probe {
        /// The URL to GET (default http://127.0.0.1:$OPEN_COWORK_CLOUD_PORT/livez, port 8787).
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Open many session streams, report idle memory and prompt-to-first-event latency.
    Streams(cli::bench::StreamsBench),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// What this process runs: all, web (the API) or worker (the commands).
    #[arg(long, value_parser = parse_role)]
    role: Option<Role>,
    /// Listen address, e.g. 127.0.0.1:8787 (default from OPEN_COWORK_CLOUD_HOST/_PORT).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Directory of the SQLite database (default ./.open-cowork-cloud).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A postgres:// or sqlite: URL; beats --data-dir and OPEN_COWORK_CLOUD_DATABASE_URL.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The open-cowork.config.json to read.
    #[arg(long, env = "OPEN_COWORK_CONFIG_PATH", value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
struct InspectArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_role(value: &str) -> Result<Role, String> {
    value.parse().map_err(|_| "must be one of all, web, worker".to_owned())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: HashMap<String, String> = std::env::vars().collect();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match cli.command {
        Command::Serve(args) => serve(&cwd, &env, args),
        Command::Tokens { store, command } => cli::run(&cwd, &env, &store, |admin, json| command.run(admin, json)),
        Command::Bench(BenchCommand::Streams(bench)) => bench_streams(bench),
        Command::Bindings { store, command } => cli::run(&cwd, &env, &store, |admin, json| command.run(admin, json)),
        Command::Check(args) => inspect(&cwd, &env, args, false),
        Command::Doctor(args) => inspect(&cwd, &env, args, true),
        Command::Probe { url } => {
            let url = url.unwrap_or_else(|| cowork_cloud::http::local_url("OPEN_COWORK_CLOUD_PORT", 8787, "/livez"));
            cowork_cloud::http::probe_command("open-cowork-cloud", &url)
        }
    }
}

fn flags(args: ServeArgs) -> ServeFlags {
    ServeFlags {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        config_path: args.config,
        role: args.role,
    }
}

/// `check` and `doctor`.
fn inspect(cwd: &std::path::Path, env: &HashMap<String, String>, args: InspectArgs, doctor: bool) -> ExitCode {
    let loaded = ServeConfig::load(cwd, env, &flags(args.serve));
    let redactor = loaded.as_ref().map(redactor).unwrap_or_else(|_| Redactor::new([]));
    let report = if doctor {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(cowork_cloud::doctor::doctor(&loaded)),
            Err(error) => {
                eprintln!("open-cowork-cloud: cannot start the async runtime: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        cowork_cloud::doctor::check(&loaded)
    };
    report.print(args.json, &redactor)
}

fn serve(cwd: &std::path::Path, env: &HashMap<String, String>, args: ServeArgs) -> ExitCode {
    let flags = flags(args);
    // The tier's rules are for the service; the setup commands run under any tier.
    let loaded = ServeConfig::load(cwd, env, &flags)
        .and_then(|config| cowork_cloud::config::production::check(&config).map(|()| config));
    let config = match loaded {
        Ok(config) => config,
        Err(error) => {
            eprintln!("open-cowork-cloud: {error}");
            return ExitCode::from(2);
        }
    };
    logging::install(&config.log_level, redactor(&config));
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    block_on(run(config))
}

/// Every secret the configuration holds, for the log redactor.
fn redactor(config: &ServeConfig) -> Redactor {
    let redactor = Redactor::new(config.cloud.openai.api_key.iter().chain(&config.token_hash_key));
    match &config.storage {
        Storage::Url(url) => redactor.with_database_url(url),
        Storage::DataDir(_) => redactor,
    }
}

fn bench_streams(bench: cli::bench::StreamsBench) -> ExitCode {
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| cli::Failure { message: e.to_string(), code: 1 })
        .and_then(|runtime| runtime.block_on(bench.run()));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("open-cowork-cloud bench: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn block_on(work: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("open-cowork-cloud: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "cloud stopped with an error");
            eprintln!("open-cowork-cloud: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let banner_text = banner::render(&config, listener.local_addr()?);
    let telemetry = telemetry::install(&config.trace_export, "open-cowork-cloud", telemetry::log_drops());
    let cloud = app::start(config, listener, Arc::new(SystemClock)).await?;
    println!("{banner_text}");
    tracing::info!(addr = %cloud.local_addr, "cloud ready");
    cowork_cloud::http::shutdown_signal().await;
    tracing::info!("shutting down: no new requests, draining running commands");
    cloud.shutdown();
    cloud.wait().await?;
    if let Some(telemetry) = telemetry {
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    }
    tracing::info!("stopped");
    Ok(())
}
