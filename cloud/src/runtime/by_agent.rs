//! Runtime choice per agent: each command goes to the runtime configured for its session's agent,
//! or to the default runtime when the agent has none of its own.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{AbortOutcome, AgentRuntime, CommandContext, EventSink, RuntimeError};

/// Dispatches each command to the runtime of its agent ([`CommandContext::agent`]).
#[derive(Clone)]
pub struct AgentRuntimes {
    default: Arc<dyn AgentRuntime>,
    by_agent: HashMap<String, Arc<dyn AgentRuntime>>,
}

impl AgentRuntimes {
    /// Runs every agent on `default` until others are added with [`Self::with_agent`].
    pub fn new(default: Arc<dyn AgentRuntime>) -> Self {
        Self { default, by_agent: HashMap::new() }
    }

    /// Runs the sessions of `agent` on `runtime` (the last runtime given for an agent wins).
    pub fn with_agent(mut self, agent: impl Into<String>, runtime: Arc<dyn AgentRuntime>) -> Self {
        self.by_agent.insert(agent.into(), runtime);
        self
    }

    /// The runtime that runs `agent`'s sessions.
    pub fn runtime_of(&self, agent: &str) -> &Arc<dyn AgentRuntime> {
        self.by_agent.get(agent).unwrap_or(&self.default)
    }
}

impl std::fmt::Debug for AgentRuntimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut agents: Vec<&str> = self.by_agent.keys().map(String::as_str).collect();
        agents.sort_unstable();
        f.debug_struct("AgentRuntimes").field("agents", &agents).finish_non_exhaustive()
    }
}

#[async_trait]
impl AgentRuntime for AgentRuntimes {
    async fn run(&self, command: &CommandContext, sink: &EventSink) -> Result<(), RuntimeError> {
        self.runtime_of(&command.agent).run(command, sink).await
    }

    // An abort goes to the runtime that runs the session's turns: only it knows what is going on.
    async fn abort(&self, command: &CommandContext, sink: &EventSink) -> Result<AbortOutcome, RuntimeError> {
        self.runtime_of(&command.agent).abort(command, sink).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use cowork_cloud_client::{
        BindThread, CommandBody, EventBody, IdentityId, NewCommand, SessionBackend, SessionEvent, SessionId,
    };

    use super::*;
    use crate::database::Database;
    use crate::{CloudService, CloudSettings, CommandWorker, ManualClock};

    const BINDING: &str = "test-binding";

    /// A runtime that answers with its own name and records the agents it served.
    struct Named {
        name: &'static str,
        ran: Mutex<Vec<String>>,
        aborted: Mutex<Vec<String>>,
    }

    impl Named {
        fn new(name: &'static str) -> Arc<Self> {
            Arc::new(Self { name, ran: Mutex::new(Vec::new()), aborted: Mutex::new(Vec::new()) })
        }

        fn ran(&self) -> Vec<String> {
            self.ran.lock().map(|agents| agents.clone()).unwrap_or_default()
        }

        fn aborted(&self) -> Vec<String> {
            self.aborted.lock().map(|agents| agents.clone()).unwrap_or_default()
        }
    }

    #[async_trait]
    impl AgentRuntime for Named {
        async fn run(&self, command: &CommandContext, sink: &EventSink) -> Result<(), RuntimeError> {
            if let Ok(mut ran) = self.ran.lock() {
                ran.push(command.agent.clone());
            }
            let message = EventBody::AssistantMessage {
                message_id: format!("{}:reply", command.command_id),
                content: self.name.to_owned(),
                complete: true,
            };
            sink.append(&format!("{}:reply", command.command_id), &message).await?;
            sink.append(&format!("{}:idle", command.command_id), &EventBody::SessionIdle {}).await?;
            Ok(())
        }

        async fn abort(&self, command: &CommandContext, _sink: &EventSink) -> Result<AbortOutcome, RuntimeError> {
            if let Ok(mut aborted) = self.aborted.lock() {
                aborted.push(command.agent.clone());
            }
            Ok(AbortOutcome::NothingRunning)
        }
    }

    struct Setup {
        service: CloudService,
        worker: CommandWorker,
        actor: IdentityId,
    }

    impl Setup {
        async fn new(db: Database, runtime: AgentRuntimes) -> Self {
            let settings = CloudSettings { poll_interval: Duration::from_secs(3600), ..CloudSettings::default() };
            let clock = Arc::new(ManualClock::at(1_000_000));
            let (service, worker) = CloudService::new(db, settings, Arc::new(runtime), clock);
            service.provision_binding(BINDING, "fake", "build").await.unwrap_or_else(|e| panic!("provision: {e}"));
            let actor = service.resolve_identity(BINDING, "U1").await.unwrap_or_else(|e| panic!("identity: {e}"));
            Self { service, worker, actor }
        }

        /// A session of `agent` (empty: the binding's default agent, `build`).
        async fn session(&self, thread: &str, agent: &str) -> SessionId {
            let request = BindThread {
                channel_binding_id: BINDING.into(),
                chat_id: "C1".into(),
                thread_id: thread.into(),
                agent: agent.into(),
                title: "test".into(),
            };
            self.service.bind_thread(request).await.unwrap_or_else(|e| panic!("bind: {e}"))
        }

        async fn run(&self, session: &SessionId, key: &str, body: CommandBody) {
            let command = NewCommand { idempotency_key: key.into(), actor: self.actor.clone(), body, trace: None };
            self.service.submit(session, command).await.unwrap_or_else(|e| panic!("submit: {e}"));
            self.worker.run_until_idle().await.unwrap_or_else(|e| panic!("run: {e}"));
        }

        async fn reply(&self, session: &SessionId) -> Option<String> {
            let events: Vec<SessionEvent> =
                self.service.events_after(session, 0, 1000).await.unwrap_or_else(|e| panic!("events: {e}"));
            events.iter().rev().find_map(|event| match &event.body {
                EventBody::AssistantMessage { content, .. } => Some(content.clone()),
                _ => None,
            })
        }
    }

    fn prompt(text: &str) -> CommandBody {
        CommandBody::Prompt { text: text.into(), agent: String::new() }
    }

    async fn each_session_runs_on_its_agents_runtime(db: Database) {
        let (default, writer) = (Named::new("default"), Named::new("writer"));
        let runtimes = AgentRuntimes::new(default.clone()).with_agent("writer", writer.clone());
        let s = Setup::new(db, runtimes).await;
        let (build_session, writer_session, other_session) =
            (s.session("T1", "").await, s.session("T2", "writer").await, s.session("T3", "plan").await);
        s.run(&build_session, "k1", prompt("hello")).await;
        s.run(&writer_session, "k2", prompt("hello")).await;
        s.run(&other_session, "k3", prompt("hello")).await;
        assert_eq!(s.reply(&build_session).await.as_deref(), Some("default"));
        assert_eq!(s.reply(&writer_session).await.as_deref(), Some("writer"));
        assert_eq!(s.reply(&other_session).await.as_deref(), Some("default"), "an unlisted agent runs on the default");
        assert_eq!(default.ran(), ["build", "plan"]);
        assert_eq!(writer.ran(), ["writer"]);
    }

    async fn an_abort_goes_to_the_runtime_of_the_sessions_agent(db: Database) {
        let (default, writer) = (Named::new("default"), Named::new("writer"));
        let runtimes = AgentRuntimes::new(default.clone()).with_agent("writer", writer.clone());
        let s = Setup::new(db, runtimes).await;
        let session = s.session("T1", "writer").await;
        s.run(&session, "k1", CommandBody::Abort).await;
        assert_eq!(writer.aborted(), ["writer"]);
        assert!(default.aborted().is_empty());
    }

    #[test]
    fn an_agent_without_a_runtime_of_its_own_gets_the_default() {
        let (default, writer) = (Named::new("default"), Named::new("writer"));
        let default_dyn: Arc<dyn AgentRuntime> = default;
        let writer_dyn: Arc<dyn AgentRuntime> = writer;
        let runtimes = AgentRuntimes::new(default_dyn.clone()).with_agent("writer", writer_dyn.clone());
        assert!(Arc::ptr_eq(runtimes.runtime_of("writer"), &writer_dyn));
        assert!(Arc::ptr_eq(runtimes.runtime_of("build"), &default_dyn));
        assert!(Arc::ptr_eq(runtimes.runtime_of(""), &default_dyn));
        assert_eq!(format!("{runtimes:?}"), r#"AgentRuntimes { agents: ["writer"], .. }"#);
    }

    crate::backend_tests!(each_session_runs_on_its_agents_runtime, an_abort_goes_to_the_runtime_of_the_sessions_agent);
}
