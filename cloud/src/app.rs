//! Assembles and runs `open-cowork-cloud serve`: the database, the session service, this role's
//! loops (command workers, the backlog watch) and the HTTP server; on shutdown it stops accepting,
//! ends open streams, lets running commands finish within the drain timeout and closes the
//! database. A command still running at the deadline keeps its lease until it expires, and a
//! worker anywhere runs it again.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::CloudService;
use crate::admin::Admin;
use crate::api::{self, ApiState};
use crate::auth::HumanAuth;
use crate::clock::Clock;
use crate::config::server::{SQLITE_FILE, ServeConfig};
use crate::database::PoolSettings;
use crate::http::{self, Readiness, ServerLimits};

/// How often an open stream re-reads its log with no wake-up at all: a backstop, since the
/// watch on other processes wakes streams.
const STREAM_BACKSTOP: std::time::Duration = std::time::Duration::from_secs(30);

/// A running cloud.
pub struct RunningCloud {
    /// The bound HTTP address.
    pub local_addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningCloud {
    /// Starts shutting down.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the cloud has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("cloud task panicked")?
    }
}

/// Opens the database, starts this role's loops and serves on `listener`.
pub async fn start(config: ServeConfig, listener: TcpListener, clock: Arc<dyn Clock>) -> anyhow::Result<RunningCloud> {
    let local_addr = listener.local_addr().context("reading the listen address")?;
    let db = config.storage.open(SQLITE_FILE, &PoolSettings::default()).await?;
    let settings = config.service_settings();
    let role = config.role;
    let (service, worker) = if role.runs_commands() {
        let runtime = crate::runtime::assemble(&config.cloud).await?;
        let (service, worker) = CloudService::new(db.clone(), settings, runtime, clock.clone());
        (service, Some(worker))
    } else {
        (CloudService::without_workers(db.clone(), settings, clock.clone()), None)
    };
    let shutdown = CancellationToken::new();
    // Every role watches the backlog: a web process is the one to notice that no worker runs.
    let readiness = Arc::new(Readiness::new(1 + usize::from(worker.is_some()) + usize::from(role.serves_api())));
    let mut loops = JoinSet::new();
    loops.spawn(readiness.track("backlog", service.clone().watch_backlog(shutdown.clone())));
    if role.serves_api() {
        // Streams here must see events that workers in other processes append.
        let watch = service.clone().watch_other_processes(config.sse_poll, shutdown.clone());
        loops.spawn(readiness.track("stream-watch", watch));
    }
    if let Some(worker) = worker {
        loops.spawn(readiness.track("commands", worker.run(shutdown.clone())));
    }
    let auth = Arc::new(HumanAuth::new(&config.auth, clock.clone()).context("setting up authentication")?);
    let admin =
        Admin::open(service.store().clone(), clock, config.token_hash_key.as_ref()).await?.with_billing(config.billing);
    let state = ApiState {
        channels: crate::channels::Channels::new(service.clone(), config.quotas, admin.hasher().clone())
            .with_billing(config.billing)
            .with_policy(config.channel_policy),
        guard: Arc::new(api::guard::Guard::new(config.request_limits)),
        sse_poll: STREAM_BACKSTOP,
        delivery_poll: config.sse_poll,
        service,
        admin,
        auth,
        max_body_bytes: config.max_request_body_bytes,
        role,
        readiness,
        shutdown: shutdown.clone(),
    };
    let limits = ServerLimits::default();
    let mut app = api::health_router(state.clone());
    if role.serves_api() {
        app = app.merge(api::api_router(state, limits.request_timeout));
    }
    let app = http::request_log::layer(app.layer(tower_http::catch_panic::CatchPanicLayer::new()));
    let server_shutdown = shutdown.clone();
    let drain = config.shutdown_drain;
    let task = tokio::spawn(async move {
        http::serve(listener, app, limits, server_shutdown).await;
        http::drain_workers(loops, drain).await;
        db.close().await;
        Ok(())
    });
    Ok(RunningCloud { local_addr, shutdown, task })
}
