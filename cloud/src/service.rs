//! The cloud service: the in-process implementation of the session-backend contract, tying the
//! store, the agent runtime, the event feed and the worker wake-up together.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use std::time::Duration;

use cowork_cloud_client::{
    BackendError, BindThread, CommandBacklog, CommandId, IdentityId, NewCommand, SessionBackend, SessionEvent,
    SessionId,
};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::abort::RunningTurns;
use crate::clock::{Clock, SystemClock, duration_ms};
use crate::database::Database;
use crate::error::StoreError;
use crate::runtime::{AgentRuntime, DemoRuntime};
use crate::settings::CloudSettings;
use crate::store::{CloudStore, Submitted};
use crate::worker::CommandWorker;

/// How many wake-ups the event feed buffers before a slow receiver lags.
const EVENT_FEED_CAPACITY: usize = 1024;

/// State shared by the service and its workers.
pub(crate) struct Shared {
    pub(crate) store: CloudStore,
    pub(crate) events: broadcast::Sender<SessionId>,
    pub(crate) wake: Notify,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: CloudSettings,
    pub(crate) running: Arc<RunningTurns>,
}

/// The cloud in-process: implements [`SessionBackend`]; cheap to clone.
#[derive(Clone)]
pub struct CloudService {
    shared: Arc<Shared>,
    /// The agents commands run on; `None` in a process that only queues them (the web role).
    runtime: Option<Arc<dyn AgentRuntime>>,
}

impl fmt::Debug for CloudService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudService")
            .field("backend", &self.shared.store.database().backend())
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl CloudService {
    /// A service over a migrated database, taking time from `clock` (tests move a manual one),
    /// and the worker that runs its commands on `runtime`; spawn [`CommandWorker::run`] to start
    /// processing.
    pub fn new(
        db: Database,
        settings: CloudSettings,
        runtime: Arc<dyn AgentRuntime>,
        clock: Arc<dyn Clock>,
    ) -> (Self, CommandWorker) {
        let service = Self { shared: Self::shared(db, settings, clock), runtime: Some(runtime.clone()) };
        let worker = CommandWorker::new(service.shared.clone(), runtime);
        (service, worker)
    }

    /// A service that queues commands for workers in other processes and runs none itself.
    pub fn without_workers(db: Database, settings: CloudSettings, clock: Arc<dyn Clock>) -> Self {
        Self { shared: Self::shared(db, settings, clock), runtime: None }
    }

    fn shared(db: Database, settings: CloudSettings, clock: Arc<dyn Clock>) -> Arc<Shared> {
        let (events, _) = broadcast::channel(EVENT_FEED_CAPACITY);
        Arc::new(Shared {
            store: CloudStore::new(db),
            events,
            wake: Notify::new(),
            clock,
            settings,
            running: Arc::default(),
        })
    }

    /// [`CloudService::new`] on the system clock.
    pub fn start(db: Database, settings: CloudSettings, runtime: Arc<dyn AgentRuntime>) -> (Self, CommandWorker) {
        Self::new(db, settings, runtime, Arc::new(SystemClock))
    }

    /// [`CloudService::start`] with the demo runtime paced by `settings.demo_delta_interval`.
    pub fn start_demo(db: Database, settings: CloudSettings) -> (Self, CommandWorker) {
        let runtime = Arc::new(DemoRuntime::new(settings.demo_delta_interval));
        Self::start(db, settings, runtime)
    }

    /// Another worker on the same service (it gets its own lease owner name); `None` for a
    /// service built [`without_workers`](Self::without_workers).
    pub fn worker(&self) -> Option<CommandWorker> {
        self.runtime.clone().map(|runtime| CommandWorker::new(self.shared.clone(), runtime))
    }

    /// The store behind the service.
    pub fn store(&self) -> &CloudStore {
        &self.shared.store
    }

    /// The settings the service was started with.
    pub fn settings(&self) -> &CloudSettings {
        &self.shared.settings
    }

    /// The commands waiting for a worker now.
    pub async fn backlog(&self) -> Result<CommandBacklog, StoreError> {
        let now = self.shared.clock.now_ms();
        let (runnable, oldest_due_at) = self.shared.store.runnable_commands(now).await?;
        Ok(CommandBacklog {
            runnable,
            oldest_runnable_age_ms: oldest_due_at.map(|due| u64::try_from(now.saturating_sub(due)).unwrap_or(0)),
            stall_threshold_ms: u64::try_from(duration_ms(self.shared.settings.stall_threshold)).unwrap_or(u64::MAX),
        })
    }

    /// Until `shutdown`, every `interval`: wakes this process's event subscribers for sessions
    /// that changed since the last look, so events appended by workers in other processes reach
    /// this process's streams without each stream polling the database. The look-back overlaps
    /// by a few seconds (process clocks differ); a session is woken only when its log grew.
    pub async fn watch_other_processes(self, interval: Duration, shutdown: CancellationToken) {
        const OVERLAP_MS: i64 = 5_000;
        let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since = self.shared.clock.now_ms();
        // The next sequence last seen per session, and when, for the overlap window.
        let mut seen: std::collections::HashMap<String, (i64, i64)> = std::collections::HashMap::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            // No stream open: nothing to wake.
            if self.shared.events.receiver_count() == 0 {
                since = self.shared.clock.now_ms();
                continue;
            }
            let now = self.shared.clock.now_ms();
            match self.shared.store.sessions_changed_since(since - OVERLAP_MS).await {
                Ok(sessions) => {
                    since = now;
                    for (session, next_sequence) in sessions {
                        let grew = seen.get(&session).is_none_or(|(known, _)| *known != next_sequence);
                        if grew {
                            let _ = self.shared.events.send(SessionId::new(&session));
                        }
                        seen.insert(session, (next_sequence, now));
                    }
                    seen.retain(|_, (_, at)| now - *at < 2 * OVERLAP_MS);
                }
                Err(error) => tracing::warn!(%error, "could not read which sessions changed"),
            }
        }
    }

    /// Watches the backlog until `shutdown`: while the oldest due command has waited longer
    /// than the stall threshold, logs a `warn` line once per threshold, and an `info` line
    /// when it drains. Runs beside the workers, so a worker that stopped claiming is reported.
    pub async fn watch_backlog(self, shutdown: CancellationToken) {
        let threshold = self.shared.settings.stall_threshold.max(Duration::from_secs(1));
        let mut checks = tokio::time::interval(threshold / 4);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_warning: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = checks.tick() => {}
            }
            match self.backlog().await {
                Ok(backlog) if backlog.stalled() => {
                    if last_warning.is_none_or(|at| at.elapsed() >= threshold) {
                        last_warning = Some(tokio::time::Instant::now());
                        tracing::warn!(
                            runnable = backlog.runnable,
                            oldest_runnable_age_ms = backlog.oldest_runnable_age_ms,
                            threshold_ms = backlog.stall_threshold_ms,
                            "session commands are due but not being run"
                        );
                    }
                }
                Ok(_) => {
                    if last_warning.take().is_some() {
                        tracing::info!("session commands are being run again");
                    }
                }
                Err(error) => tracing::warn!(%error, "could not read the command backlog"),
            }
        }
    }

    /// Queues a command (with `audit` in the same transaction, when it is new) and wakes a
    /// worker of this process; says whether it was new.
    pub async fn submit_command(
        &self,
        session: &SessionId,
        command: &NewCommand,
        audit: Option<&crate::store::AuditEvent>,
    ) -> Result<Submitted, StoreError> {
        let now = self.shared.clock.now_ms();
        let submitted = self.shared.store.submit(session, command, audit, now).await?;
        if submitted.created {
            self.shared.wake.notify_one();
        }
        Ok(submitted)
    }

    /// Queues the command resolving an interaction, marking the interaction used in the same
    /// transaction, and wakes a worker of this process.
    pub async fn submit_resolving(
        &self,
        session: &SessionId,
        command: &NewCommand,
        audit: &crate::store::AuditEvent,
        resolved: crate::store::InteractionUse<'_>,
    ) -> Result<Submitted, StoreError> {
        let now = self.shared.clock.now_ms();
        let submitted = self.shared.store.submit_resolving(session, command, audit, resolved, now).await?;
        self.shared.wake.notify_one();
        Ok(submitted)
    }

    /// The wake-up feed of sessions that got events (as [`SessionBackend::subscribe`]).
    pub fn subscribe_events(&self) -> broadcast::Receiver<SessionId> {
        self.shared.events.subscribe()
    }

    /// Now, on the service's clock, in unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// Creates or updates a channel binding; the gateway calls it at start for each provider.
    pub async fn provision_binding(
        &self,
        binding_id: &str,
        provider_id: &str,
        agent: &str,
    ) -> Result<(), BackendError> {
        let now = self.shared.clock.now_ms();
        self.shared.store.provision_binding(binding_id, provider_id, agent, now).await.map_err(BackendError::from)
    }
}

#[async_trait]
impl SessionBackend for CloudService {
    async fn resolve_identity(
        &self,
        channel_binding_id: &str,
        external_user_id: &str,
    ) -> Result<IdentityId, BackendError> {
        let now = self.shared.clock.now_ms();
        Ok(self.shared.store.resolve_identity(channel_binding_id, external_user_id, now).await?)
    }

    async fn bind_thread(&self, request: BindThread) -> Result<SessionId, BackendError> {
        let now = self.shared.clock.now_ms();
        Ok(self.shared.store.bind_thread(&request, now).await?)
    }

    async fn submit(&self, session: &SessionId, command: NewCommand) -> Result<CommandId, BackendError> {
        Ok(self.submit_command(session, &command, None).await?.command_id)
    }

    async fn events_after(
        &self,
        session: &SessionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SessionEvent>, BackendError> {
        Ok(self.shared.store.events_after(session, after, limit).await?)
    }

    fn subscribe(&self) -> broadcast::Receiver<SessionId> {
        self.shared.events.subscribe()
    }

    async fn command_backlog(&self) -> Result<Option<CommandBacklog>, BackendError> {
        Ok(Some(self.backlog().await?))
    }
}
