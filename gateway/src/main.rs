//! The `open-cowork-gateway` binary: parses flags, loads the configuration, installs logging,
//! runs the gateway until SIGTERM or Ctrl-C, and exits 0 after draining.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cowork_cloud::config::references::resolve_secret_variables;
use cowork_gateway::app::{self, RunOptions};
use cowork_gateway::banner;
use cowork_gateway::config::production;
use cowork_gateway::config::remote::RemoteCloud;
use cowork_gateway::config::{ConfigError, Flags, GatewayConfig};
use cowork_gateway::redact;

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
    /// Run the gateway against an open-cowork-cloud reached over HTTP
    /// (OPEN_COWORK_CLOUD_BASE_URL and OPEN_COWORK_GATEWAY_SERVICE_TOKEN).
    Serve(StandaloneArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Health check for containers and service managers: GET the local /health (or --url),
    /// exit 0 on a 2xx answer.
    Probe(ProbeArgs),
    /// Check the configuration, offline: does it load, and keep its deployment tier's rules.
    Check(InspectArgs),
    /// Check the configuration and what it points at: database and schema, TLS, each
    /// provider's credentials where the platform allows, the cloud in split mode.
    Doctor(InspectArgs),
    /// Check a running deployment from outside: health, readiness, operator auth, a fake
    /// round trip, the delivery controls.
    Smoke(SmokeArgs),
    /// Talk to an agent from the terminal through a gateway's fake provider.
    Chat(ChatArgs),
}

#[derive(clap::Args)]
struct ChatArgs {
    /// The gateway (default http://127.0.0.1:$OPEN_COWORK_GATEWAY_PORT, port 8790).
    #[arg(long, conflicts_with = "standalone")]
    url: Option<String>,
    /// Start a standalone gateway in this process (its settings as `standalone` reads them,
    /// listening on a free loopback port) and talk to it.
    #[arg(long)]
    standalone: bool,
    /// The fake provider's id.
    #[arg(long, default_value = "fake")]
    provider: String,
    /// The chat to talk in (default: a new one).
    #[arg(long)]
    chat: Option<String>,
    #[command(flatten)]
    settings: StandaloneArgs,
}

#[derive(clap::Args)]
struct InspectArgs {
    #[command(flatten)]
    settings: StandaloneArgs,
    /// Check `serve` (split mode) settings; the default when OPEN_COWORK_CLOUD_BASE_URL is set.
    #[arg(long)]
    serve: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct SmokeArgs {
    /// The deployment's base URL, e.g. https://gateway.example.com.
    #[arg(long)]
    url: String,
    /// The operator token.
    #[arg(long, env = "OPEN_COWORK_GATEWAY_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// The URL to GET (default http://127.0.0.1:$OPEN_COWORK_GATEWAY_PORT/health, port 8790).
    #[arg(long)]
    url: Option<String>,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Send signed webhook requests to a running gateway and report throughput and latency.
    Ingress(IngressArgs),
    /// Run whole conversations through a running gateway (demo runtime, `webhook` provider
    /// delivering to this command's receiver) and report conversations completed per second.
    Conversations(ConversationsArgs),
}

#[derive(clap::Args)]
struct ConversationsArgs {
    /// The webhook URL, e.g. http://127.0.0.1:8790/webhooks/webhook.
    #[arg(long)]
    url: String,
    /// The provider's shared secret.
    #[arg(long, env = "OPEN_COWORK_BENCH_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Conversations, each a new chat.
    #[arg(long, default_value_t = 3_000)]
    conversations: usize,
    /// Concurrent clients sending the webhooks.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Rotate X-Forwarded-For over this many addresses (0: off).
    #[arg(long, default_value_t = 0)]
    forwarded_pool: usize,
    /// Where the receiver listens; point the provider's deliveryUrl at it.
    #[arg(long, value_name = "ADDR:PORT")]
    receiver: SocketAddr,
    /// The gateway's /metrics URL, read before and after for the store's write counters (SQLite).
    #[arg(long)]
    metrics_url: Option<String>,
    /// The gateway's admin token, for --metrics-url.
    #[arg(long, env = "OPEN_COWORK_GATEWAY_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Seconds to wait for every conversation to complete.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

#[derive(clap::Args)]
struct IngressArgs {
    /// The webhook URL, e.g. http://127.0.0.1:8790/webhooks/webhook.
    #[arg(long)]
    url: String,
    /// The provider's shared secret (omit for the fake provider).
    #[arg(long, env = "OPEN_COWORK_BENCH_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Requests in total.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent clients, one keep-alive connection each.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Rotate X-Forwarded-For over this many addresses (0: off).
    #[arg(long, default_value_t = 0)]
    forwarded_pool: usize,
    /// Distinct chats the requests spread over.
    #[arg(long, default_value_t = 1000)]
    chats: usize,
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
    let (args, split) = match cli.command {
        Command::Standalone(args) => (args, false),
        Command::Serve(args) => (args, true),
        Command::Bench(BenchCommand::Ingress(args)) => return bench_ingress(args),
        Command::Bench(BenchCommand::Conversations(args)) => return bench_conversations(args),
        Command::Probe(args) => return probe(args),
        Command::Check(args) => return inspect(args, false),
        Command::Doctor(args) => return inspect(args, true),
        Command::Smoke(args) => return smoke(args),
        Command::Chat(args) => return chat(args),
    };
    let loaded = load(args, split).and_then(|config| production::check(&config).map(|()| config));
    let config = match loaded {
        Ok(config) => config,
        Err(error) => {
            eprintln!("open-cowork-gateway: {error}");
            return ExitCode::from(2);
        }
    };
    // JSON logs on stderr; every line passes through the redactor, which knows the configured secrets.
    cowork_gateway::logging::install(&config.log_level, redact::for_config(&config));
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
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

/// The async runtime every subcommand runs on, or the exit code after saying why there is none.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|error| {
        eprintln!("open-cowork-gateway: cannot start the async runtime: {error}");
        ExitCode::FAILURE
    })
}

/// The configuration from the environment, the files and `args`, for `standalone` or `serve`.
fn load(args: StandaloneArgs, split: bool) -> Result<GatewayConfig, ConfigError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let flags = Flags {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        config_path: args.config,
    };
    let env = resolve_secret_variables(&env)?;
    let mut config = GatewayConfig::load(&cwd, &env, &flags)?;
    if split {
        config.remote_cloud = Some(RemoteCloud::from_env(&env)?);
    }
    Ok(config)
}

/// `check` and `doctor`.
fn inspect(args: InspectArgs, doctor: bool) -> ExitCode {
    let split = args.serve
        || ["OPEN_COWORK_CLOUD_BASE_URL", "OPEN_COWORK_GATEWAY_CLOUD_URL"]
            .iter()
            .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
    let loaded = load(args.settings, split);
    let redactor = loaded.as_ref().map(redact::for_config).unwrap_or_else(|_| cowork_cloud::redact::Redactor::new([]));
    let report = if doctor {
        match runtime() {
            Ok(runtime) => runtime.block_on(cowork_gateway::cli::doctor::report(&loaded)),
            Err(code) => return code,
        }
    } else {
        cowork_gateway::cli::check::report(&loaded)
    };
    report.print(args.json, &redactor)
}

/// `smoke`.
fn smoke(args: SmokeArgs) -> ExitCode {
    let secret = cowork_cloud::config::Secret::new(args.admin_token.clone());
    let redactor = cowork_cloud::redact::Redactor::new([&secret]);
    let smoke = cowork_gateway::cli::smoke::Smoke { url: args.url, admin_token: args.admin_token };
    match runtime() {
        Ok(runtime) => runtime.block_on(smoke.report()).print(args.json, &redactor),
        Err(code) => code,
    }
}

/// `chat`.
fn chat(args: ChatArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let chat_id =
        args.chat.clone().unwrap_or_else(|| format!("terminal-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let outcome = runtime.block_on(async move {
        // In-process: the gateway's own logs stay off the terminal the chat uses.
        let local = if args.standalone {
            let mut config = load(args.settings, false)?;
            config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            let options = RunOptions { run_workers: !config.pause_workers, ..RunOptions::default() };
            Some(app::start(config, listener, options).await?)
        } else {
            None
        };
        let url = match (&local, args.url) {
            (Some(gateway), _) => format!("http://{}", gateway.local_addr),
            (None, Some(url)) => url.trim_end_matches('/').to_owned(),
            (None, None) => cowork_cloud::http::local_url("OPEN_COWORK_GATEWAY_PORT", 8790, ""),
        };
        let chat = cowork_gateway::cli::chat::Chat { url, provider: args.provider, chat_id };
        let prompt = std::io::IsTerminal::is_terminal(&std::io::stdin());
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        let result = chat.run(stdin, &mut std::io::stdout(), prompt).await;
        if let Some(gateway) = local {
            gateway.shutdown();
            gateway.wait().await?;
        }
        result
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("open-cowork-gateway chat: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn probe(args: ProbeArgs) -> ExitCode {
    let url = args.url.unwrap_or_else(|| cowork_cloud::http::local_url("OPEN_COWORK_GATEWAY_PORT", 8790, "/health"));
    cowork_cloud::http::probe_command("open-cowork-gateway", &url)
}

fn bench_ingress(args: IngressArgs) -> ExitCode {
    let bench = cowork_gateway::bench::IngressBench {
        url: args.url,
        secret: args.secret,
        requests: args.requests,
        concurrency: args.concurrency,
        forwarded_pool: args.forwarded_pool,
        chats: args.chats,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(cowork_gateway::bench::run(bench)) {
        Ok(report) => {
            println!("{report}");
            if report.failures() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("open-cowork-gateway bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench_conversations(args: ConversationsArgs) -> ExitCode {
    let bench = cowork_gateway::bench::ConversationBench {
        ingress: cowork_gateway::bench::IngressBench {
            url: args.url,
            secret: args.secret,
            requests: args.conversations,
            concurrency: args.concurrency,
            forwarded_pool: args.forwarded_pool,
            chats: args.conversations,
        },
        receiver: args.receiver,
        metrics_url: args.metrics_url,
        admin_token: args.admin_token,
        timeout: std::time::Duration::from_secs(args.timeout),
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(cowork_gateway::bench::conversations::run(bench)) {
        Ok(report) => {
            println!("{report}");
            if report.succeeded() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("open-cowork-gateway bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: GatewayConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let banner_text = banner::render(&config, listener.local_addr()?);
    let options = RunOptions { run_workers: !config.pause_workers, ..RunOptions::default() };
    let gateway = app::start(config, listener, options).await?;
    println!("{banner_text}");
    tracing::info!(addr = %gateway.local_addr, "gateway ready");
    cowork_cloud::http::shutdown_signal().await;
    tracing::info!("shutting down: no new requests, draining in-flight work");
    gateway.shutdown();
    gateway.wait().await?;
    tracing::info!("stopped");
    Ok(())
}
