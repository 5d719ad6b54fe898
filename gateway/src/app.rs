//! Assembles and runs the gateway: database, embedded cloud, providers, inbox writer, workers and
//! the HTTP server; stops them in order on shutdown (stop accepting, finish requests, let workers
//! finish what they hold within the drain timeout, close the database).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use cowork_cloud::database::{Database, PoolSettings};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::cloud_deliveries::{CloudDeliveries, RelaySettings};
use crate::config::{GatewayConfig, Storage};
use crate::dispatcher::Dispatcher;
use crate::dispatcher::circuit::Circuits;
use crate::dispatcher::pacing::Pacer;
use crate::inbox::{Inbox, InboxWorker};
use crate::ingress::{self, AppState, Protection, Readiness};
use crate::metrics::{Metrics, ProviderState};
use crate::operator;
use crate::ownership::Ownership;
use crate::redact;
use crate::registry::{ProviderRegistry, ProviderWrapper};
use crate::renderer::Renderer;
use crate::retention::RetentionJob;
use crate::services::{Services, Wakers};
use crate::single_process;
use crate::standalone;
use crate::store::GatewayStore;

/// The `service.name` of the gateway's spans (`OTEL_SERVICE_NAME` overrides it).
const SERVICE_NAME: &str = "open-cowork-gateway";
/// How to run, beyond the configuration.
pub struct RunOptions {
    /// The clock (tests pass a manual one).
    pub clock: Arc<dyn Clock>,
    /// Start the background workers (tests of ingress alone turn them off).
    pub run_workers: bool,
    /// Wraps every provider instance (tests inject platform faults); `None` in production.
    pub wrap_providers: Option<ProviderWrapper>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { clock: Arc::new(SystemClock), run_workers: true, wrap_providers: None }
    }
}

/// A running gateway.
pub struct RunningGateway {
    /// The bound HTTP address.
    pub local_addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningGateway {
    /// Starts shutting down.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the gateway has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("gateway task panicked")?
    }
}

/// Where the sessions are: in this process, or in a cloud reached over HTTP.
enum Cloud {
    Embedded(standalone::EmbeddedCloud),
    Remote(Arc<cowork_cloud_client::http::HttpBackend>),
}

impl Cloud {
    fn backend(&self) -> Arc<dyn cowork_cloud_client::SessionBackend> {
        match self {
            Self::Embedded(embedded) => embedded.backend(),
            Self::Remote(remote) => remote.clone(),
        }
    }
}

/// The HTTP backend of split mode: each provider's binding, named by the provider id the cloud
/// knows it by.
pub fn remote_backend(
    remote: &crate::config::remote::RemoteCloud,
    config: &GatewayConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<cowork_cloud_client::http::HttpBackend> {
    let client = remote.client().context("building the cloud client")?;
    let providers =
        config.providers.iter().map(|p| (p.binding_id.as_str().to_owned(), p.id.as_str().to_owned())).collect();
    Ok(cowork_cloud_client::http::HttpBackend::new(client, providers, shutdown))
}

/// The SQLite file the gateway keeps in its data dir.
pub const SQLITE_FILE: &str = "gateway.db";

/// Opens the configured database (creating and migrating it).
pub async fn open_database(storage: &Storage) -> anyhow::Result<Database> {
    storage.open(SQLITE_FILE, &PoolSettings::default()).await
}

/// Starts the gateway on `listener` with its database opened from the config.
pub async fn start(
    config: GatewayConfig,
    listener: TcpListener,
    options: RunOptions,
) -> anyhow::Result<RunningGateway> {
    let sqlite_lock = single_process::lock(&config.storage, SQLITE_FILE)?;
    let db = open_database(&config.storage).await?;
    launch(config, db, listener, options, sqlite_lock).await
}

/// Starts the gateway on an already opened database (whose caller answers for it being this
/// process's alone on SQLite).
pub async fn start_with_database(
    config: GatewayConfig,
    db: Database,
    listener: TcpListener,
    options: RunOptions,
) -> anyhow::Result<RunningGateway> {
    launch(config, db, listener, options, None).await
}

/// Starts the gateway, holding `sqlite_lock` (if any) until it has stopped.
async fn launch(
    config: GatewayConfig,
    db: Database,
    listener: TcpListener,
    options: RunOptions,
    sqlite_lock: Option<std::fs::File>,
) -> anyhow::Result<RunningGateway> {
    let local_addr = listener.local_addr().context("reading the listen address")?;
    let store = GatewayStore::new(db.clone());
    let shutdown = CancellationToken::new();
    let bindings = config.providers.iter().map(|p| p.binding_id.as_str().to_owned()).collect();
    // Trust in a held binding runs on real monotonic time, whatever clock the workers use.
    let ownership = Ownership::new(store.clone(), Arc::new(SystemClock), config.ownership.clone(), bindings);
    ownership.register().await.context("registering this replica")?;
    // A replica alone holds its bindings before its workers start.
    ownership.round().await.context("taking channel bindings")?;
    let ownership_stop = CancellationToken::new();
    let ownership_task = tokio::spawn(ownership.clone().run(ownership_stop.clone()));
    let cloud = match &config.remote_cloud {
        Some(remote) => Cloud::Remote(Arc::new(remote_backend(remote, &config, shutdown.clone())?)),
        None => Cloud::Embedded(standalone::EmbeddedCloud::start(&db, &config, options.clock.clone()).await?),
    };
    let mut providers = ProviderRegistry::build(&config.providers, &store, config.smtp_timeout)?;
    if let Some(wrap) = &options.wrap_providers {
        providers = providers.wrapped(wrap);
    }
    let metrics = Arc::new(Metrics::new(&config.providers));
    let dropped = metrics.spans_dropped();
    let telemetry = cowork_cloud::telemetry::install(
        &config.trace_export,
        SERVICE_NAME,
        Arc::new(move |n| {
            dropped.inc_by(n);
        }),
    );
    for provider in providers.all() {
        metrics.set_provider_state(&provider.config.id, provider.config.kind(), ProviderState::Healthy);
    }
    let services = Arc::new(Services {
        // Workers act only on the bindings this replica holds; ingress takes every binding.
        store: store.with_fences(ownership.clone()),
        providers,
        backend: cloud.backend(),
        clock: options.clock.clone(),
        settings: config.workers.clone(),
        wake: Wakers::default(),
        circuits: Circuits::new(config.workers.circuit),
        pacer: Pacer::default(),
        metrics,
        redactor: Arc::new(redact::for_config(&config)),
        cloud_delivery_stream: config.remote_cloud.as_ref().map(|_| Arc::new(AtomicBool::new(false))),
        ownership: ownership.clone(),
    });
    let (inbox, writer) = Inbox::new(store.clone(), options.clock.clone(), services.wake.inbox.clone());
    let mut workers = JoinSet::new();
    let embedded = match &cloud {
        Cloud::Embedded(embedded) => Some(embedded),
        Cloud::Remote(_) => None,
    };
    let relay = match (&cloud, &config.remote_cloud, &services.cloud_delivery_stream) {
        (Cloud::Remote(remote), Some(settings), Some(connected)) if options.run_workers => Some(CloudDeliveries::open(
            services.clone(),
            remote.client().clone(),
            RelaySettings {
                channel_binding_ids: config.providers.iter().map(|p| p.binding_id.as_str().to_owned()).collect(),
                claim_ttl: settings.delivery_claim_ttl,
                max_open_claims: settings.max_delivery_claims,
            },
            connected.clone(),
            shutdown.clone(),
        )),
        _ => None,
    };
    let expected =
        if options.run_workers { 4 + usize::from(embedded.is_some()) + usize::from(relay.is_some()) } else { 0 };
    let readiness = Arc::new(Readiness::new(expected));
    if options.run_workers {
        let token = shutdown.clone();
        let spawn = |workers: &mut JoinSet<()>, name: &'static str, fut: futures::future::BoxFuture<'static, ()>| {
            workers.spawn(readiness.track(name, fut));
        };
        spawn(&mut workers, "inbox", Box::pin(InboxWorker::new(services.clone()).run(token.clone())));
        spawn(&mut workers, "renderer", Box::pin(Renderer::new(services.clone()).run(token.clone())));
        spawn(&mut workers, "dispatcher", Box::pin(Dispatcher::new(services.clone()).run(token.clone())));
        spawn(&mut workers, "retention", Box::pin(RetentionJob::new(services.clone()).run(token.clone())));
        if let Some(embedded) = embedded {
            spawn(&mut workers, "sessions", embedded.worker_future(token.clone()));
        }
        if let Some(relay) = relay {
            spawn(&mut workers, "cloud-deliveries", Box::pin(relay.run(token.clone())));
        }
    }
    let writer_task = tokio::spawn(writer.run());
    let state = AppState {
        services: services.clone(),
        inbox,
        readiness,
        max_body_bytes: config.max_request_body_bytes,
        protection: Arc::new(Protection::new(config.ingress.clone())),
    };
    let app = ingress::router(state)
        .merge(operator::router(services.clone(), &config))
        .layer(tower_http::catch_panic::CatchPanicLayer::new());
    let app = cowork_cloud::http::request_log::layer(ingress::request_timeout(app, config.server.request_timeout));
    let server_shutdown = shutdown.clone();
    let drain = config.shutdown_drain;
    let server_limits = config.server;
    let task = tokio::spawn(async move {
        ingress::serve(listener, app, server_limits, server_shutdown).await;
        // The server is done, so no request holds an inbox handle any more: the writer drains.
        let _ = writer_task.await;
        // Keep the bindings while the work in flight finishes, then hand them to the peers.
        ownership.drain().await;
        cowork_cloud::http::drain_workers(workers, drain).await;
        ownership.leave().await;
        ownership_stop.cancel();
        let _ = ownership_task.await;
        db.close().await;
        drop(sqlite_lock);
        // The last spans go out (bounded by the exporter's timeout) off the async threads.
        if let Some(telemetry) = telemetry {
            let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
        }
        Ok(())
    });
    Ok(RunningGateway { local_addr, shutdown, task })
}
