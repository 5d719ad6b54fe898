//! The `open-cowork-gateway` binary: parses flags, loads the configuration, installs logging,
//! runs the gateway until SIGTERM or Ctrl-C, and exits 0 after draining.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cowork_gateway::app::{self, RunOptions};
use cowork_gateway::banner;
use cowork_gateway::config::{Flags, GatewayConfig};

/// Open Cowork Gateway: chat with AI agents from Slack, email and webhooks.
#[derive(Parser)]
#[command(name = "open-cowork-gateway", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run gateway and cloud in one process on one database (SQLite by default).
    Standalone(StandaloneArgs),
}

#[derive(clap::Args)]
struct StandaloneArgs {
    /// Listen address, e.g. 127.0.0.1:8790 (default from OPEN_COWORK_GATEWAY_HOST/_PORT).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Directory of the SQLite database (default ./.open-cowork).
    #[arg(long, env = "OPEN_COWORK_GATEWAY_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A postgres:// or sqlite: URL; beats --data-dir.
    #[arg(long, env = "OPEN_COWORK_GATEWAY_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The open-cowork.config.json to read.
    #[arg(long, env = "OPEN_COWORK_CONFIG_PATH", value_name = "PATH")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Standalone(args) = cli.command;
    let env: HashMap<String, String> = std::env::vars().collect();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let flags = Flags {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        config_path: args.config,
    };
    let config = match GatewayConfig::load(&cwd, &env, &flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("open-cowork-gateway: {error}");
            return ExitCode::from(2);
        }
    };
    install_tracing(&config.log_level);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("open-cowork-gateway: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "gateway stopped with an error");
            eprintln!("open-cowork-gateway: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: GatewayConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let banner_text = banner::render(&config, listener.local_addr()?);
    let gateway = app::start(config, listener, RunOptions::default()).await?;
    println!("{banner_text}");
    tracing::info!(addr = %gateway.local_addr, "gateway ready");
    wait_for_signal().await;
    tracing::info!("shutting down: no new requests, draining in-flight work");
    gateway.shutdown();
    gateway.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

fn install_tracing(level: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
}
