//! Tests of the cloud over both database engines, and the helpers they share.

mod aborts;
mod admin;
mod burst;
mod demo;
mod interactions;
mod recovery;
mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cowork_cloud_client::{
    BindThread, CommandBody, EventBody, IdentityId, NewCommand, SessionBackend, SessionEvent, SessionId,
};

use crate::database::Database;
use crate::{AgentRuntime, CloudService, CloudSettings, CommandWorker, DemoRuntime, ManualClock};

/// The binding every test provisions.
const BINDING: &str = "test-binding";

/// Settings for tests: a tiny demo pace and no reliance on polling.
fn test_settings() -> CloudSettings {
    CloudSettings {
        demo_delta_interval: Duration::from_millis(1),
        poll_interval: Duration::from_secs(3600),
        ..CloudSettings::default()
    }
}

/// A service with a manual clock, a provisioned binding and a sender identity.
pub(crate) struct Harness {
    pub(crate) service: CloudService,
    pub(crate) worker: CommandWorker,
    pub(crate) clock: ManualClock,
    pub(crate) actor: IdentityId,
}

impl Harness {
    async fn demo(db: Database) -> Self {
        let runtime = Arc::new(DemoRuntime::new(Duration::from_millis(1)));
        Self::with_runtime(db, runtime, ManualClock::at(1_000_000), test_settings()).await
    }

    /// A service on `db` running `runtime` (runtime tests start here too).
    pub(crate) async fn with_runtime(
        db: Database,
        runtime: Arc<dyn AgentRuntime>,
        clock: ManualClock,
        settings: CloudSettings,
    ) -> Self {
        let (service, worker) = CloudService::new(db, settings, runtime, Arc::new(clock.clone()));
        service.provision_binding(BINDING, "fake", "build").await.unwrap_or_else(|e| panic!("provision: {e}"));
        let actor = service.resolve_identity(BINDING, "U1").await.unwrap_or_else(|e| panic!("identity: {e}"));
        Self { service, worker, clock, actor }
    }

    /// The session of `thread` in chat `C1`.
    pub(crate) async fn session(&self, thread: &str) -> SessionId {
        let request = BindThread {
            channel_binding_id: BINDING.into(),
            chat_id: "C1".into(),
            thread_id: thread.into(),
            agent: String::new(),
            title: "test".into(),
        };
        self.service.bind_thread(request).await.unwrap_or_else(|e| panic!("bind: {e}"))
    }

    fn command(&self, key: &str, body: CommandBody) -> NewCommand {
        NewCommand { idempotency_key: key.into(), actor: self.actor.clone(), body, trace: None }
    }

    async fn submit(&self, session: &SessionId, key: &str, body: CommandBody) -> cowork_cloud_client::CommandId {
        self.service.submit(session, self.command(key, body)).await.unwrap_or_else(|e| panic!("submit: {e}"))
    }

    async fn run_until_idle(&self) -> usize {
        self.worker.run_until_idle().await.unwrap_or_else(|e| panic!("run: {e}"))
    }

    async fn events(&self, session: &SessionId) -> Vec<SessionEvent> {
        self.service.events_after(session, 0, 1000).await.unwrap_or_else(|e| panic!("events: {e}"))
    }
}

fn prompt(text: &str) -> CommandBody {
    CommandBody::Prompt { text: text.into(), agent: "build".into() }
}

fn kinds(events: &[SessionEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.body.type_name()).collect()
}

/// The content of the last `assistant.message` snapshot.
fn last_snapshot(events: &[SessionEvent]) -> Option<String> {
    events.iter().rev().find_map(|e| match &e.body {
        EventBody::AssistantMessage { content, .. } => Some(content.clone()),
        _ => None,
    })
}

/// Polls `check` until it holds, failing the test after ten seconds.
pub(crate) async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
