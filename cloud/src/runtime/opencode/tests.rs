//! The OpenCode runtime against a real `opencode serve` (started by the runtime itself) whose
//! model is the local OpenAI-compatible mock. Without the binary the tests say so and skip;
//! with `CI=true` a missing binary fails them.

use std::sync::Arc;
use std::time::Duration;

use cowork_cloud_client::{
    CommandBody, CommandId, EventBody, IdentityId, NewCommand, SessionBackend, SessionEvent, SessionId, ToolStatus,
};
use serde_json::json;

use super::{ManagedServer, OpenCodeRuntime, OpenCodeSettings};
use crate::abort::STOPPED_NOTICE;
use crate::database::testing::TestDatabase;
use crate::runtime::openai::tests::mock::{self, MockModel, Reply};
use crate::tests::Harness;
use crate::tests::wait_until;
use crate::{CloudService, CloudSettings, CommandWorker, ManualClock};

struct Setup {
    service: CloudService,
    worker: CommandWorker,
    actor: IdentityId,
    session: SessionId,
    model: MockModel,
    runtime: OpenCodeRuntime,
    _dir: tempfile::TempDir,
    _db: TestDatabase,
}

impl Setup {
    /// A cloud on SQLite whose runtime starts OpenCode with the mock (answering `replies`) as its model.
    async fn start(replies: Vec<Reply>) -> Option<Self> {
        let binary = super::opencode_test_binary()?;
        let model = MockModel::start(replies).await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let config = json!({
            "$schema": "https://opencode.ai/config.json",
            "provider": { "cowork": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Cowork test model",
                "options": { "baseURL": model.base_url(), "apiKey": "none" },
                "models": { "mock-model": { "name": "mock-model", "tool_call": true } },
            } },
            "model": "cowork/mock-model",
            "autoupdate": false,
            "share": "disabled",
        });
        let config_path = dir.path().join("opencode.json");
        std::fs::write(&config_path, config.to_string()).unwrap_or_else(|e| panic!("config: {e}"));
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("work dir: {e}"));
        let settings = OpenCodeSettings {
            server: Some(ManagedServer {
                binary,
                directory: work,
                config_path: Some(config_path),
                state_dir: Some(dir.path().join("state")),
                start_timeout: Duration::from_secs(60),
            }),
            model: Some("cowork/mock-model".into()),
            ..OpenCodeSettings::default()
        };
        let runtime = OpenCodeRuntime::start(settings).await.unwrap_or_else(|e| panic!("opencode: {e}"));
        let db = TestDatabase::sqlite().await;
        let cloud = CloudSettings { poll_interval: Duration::from_secs(3600), ..CloudSettings::default() };
        let h =
            Harness::with_runtime(db.db.clone(), Arc::new(runtime.clone()), ManualClock::at(1_000_000), cloud).await;
        let session = h.session("T1").await;
        let Harness { service, worker, actor, .. } = h;
        Some(Self { service, worker, actor, session, model, runtime, _dir: dir, _db: db })
    }

    async fn submit(&self, key: &str, body: CommandBody) -> CommandId {
        let command = NewCommand { idempotency_key: key.into(), actor: self.actor.clone(), body, trace: None };
        self.service.submit(&self.session, command).await.unwrap_or_else(|e| panic!("submit: {e}"))
    }

    /// Submits `body` and runs the worker until nothing is runnable.
    async fn run(&self, key: &str, body: CommandBody) -> CommandId {
        let id = self.submit(key, body).await;
        self.worker.run_until_idle().await.unwrap_or_else(|e| panic!("run: {e}"));
        id
    }

    async fn events(&self) -> Vec<SessionEvent> {
        self.service.events_after(&self.session, 0, 1000).await.unwrap_or_else(|e| panic!("events: {e}"))
    }

    async fn state(&self, command: &CommandId) -> Option<String> {
        self.service.store().command_status(command).await.ok().flatten().map(|status| status.state)
    }
}

fn prompt(text: &str) -> CommandBody {
    CommandBody::Prompt { text: text.into(), agent: "build".into() }
}

/// The last snapshot of each assistant message of `command`, in order: (content, complete).
fn answers(events: &[SessionEvent], command: &CommandId) -> Vec<(String, bool)> {
    let prefix = format!("{command}:");
    let mut order: Vec<String> = Vec::new();
    let mut last: std::collections::HashMap<String, (String, bool)> = Default::default();
    for event in events {
        if let EventBody::AssistantMessage { message_id, content, complete } = &event.body
            && message_id.starts_with(&prefix)
            && !message_id.ends_with(":notice")
        {
            if !order.contains(message_id) {
                order.push(message_id.clone());
            }
            last.insert(message_id.clone(), (content.clone(), *complete));
        }
    }
    order.iter().filter_map(|id| last.get(id).cloned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opencode_streams_prompts_into_one_session_and_goes_idle() {
    let replies = vec![mock::text(&["Hello ", "from ", "the model."]), mock::text(&["Second ", "answer."])];
    let Some(s) = Setup::start(replies).await else { return };
    let first = s.run("k1", prompt("Say hello")).await;
    let events = s.events().await;
    assert_eq!(s.state(&first).await.as_deref(), Some("done"));
    assert_eq!(answers(&events, &first), [("Hello from the model.".to_owned(), true)]);
    assert_eq!(events.last().map(|e| &e.body), Some(&EventBody::SessionIdle {}));
    let bound: Vec<&EventBody> =
        events.iter().map(|e| &e.body).filter(|b| b.type_name() == "runtime.session").collect();
    assert_eq!(bound.len(), 1, "{bound:?}");
    let requests = s.model.requests();
    let last_user = requests[0].body["messages"].as_array().and_then(|m| m.last().cloned()).unwrap_or_default();
    assert!(last_user.to_string().contains("Say hello"), "{last_user}");

    let second = s.run("k2", prompt("Again")).await;
    let events = s.events().await;
    assert_eq!(answers(&events, &second), [("Second answer.".to_owned(), true)]);
    assert_eq!(events.iter().filter(|e| e.body.type_name() == "runtime.session").count(), 1, "one OpenCode session");
    let requests = s.model.requests();
    assert_eq!(requests.len(), 2);
    let history = requests[1].body["messages"].to_string();
    assert!(history.contains("Say hello") && history.contains("Hello from the model."), "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opencode_permissions_become_channel_approvals() {
    let bash = json!({ "command": "echo cowork-approved", "description": "Print a word" }).to_string();
    let replies = vec![
        mock::tool_call("call_1", "bash", &bash),
        mock::text(&["The command ", "printed it."]),
        mock::tool_call("call_2", "bash", &bash),
        mock::text(&["Understood, ", "not run."]),
    ];
    let Some(s) = Setup::start(replies).await else { return };
    let asked = s.run("k1", prompt("Run the command")).await;
    let events = s.events().await;
    let Some(EventBody::PermissionRequested { permission_id, tool, description }) =
        events.last().map(|e| e.body.clone())
    else {
        panic!("expected an approval request: {events:#?}");
    };
    assert_eq!(tool, "bash");
    assert!(description.contains("echo cowork-approved"), "{description}");
    assert!(!events.iter().any(|e| e.body == EventBody::SessionIdle {}), "the turn waits for the channel");
    assert_eq!(s.state(&asked).await.as_deref(), Some("done"));

    let approve = CommandBody::PermissionRespond { permission_id: permission_id.clone(), allowed: true };
    let approved = s.run("k2", approve).await;
    let events = s.events().await;
    let statuses: Vec<ToolStatus> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ToolCall { id, name, status, .. } if id == "call_1" && name == "bash" => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses.last(), Some(&ToolStatus::Complete), "{statuses:?}");
    assert_eq!(answers(&events, &approved).last().map(|a| a.0.as_str()), Some("The command printed it."));
    let tool_result = s.model.requests()[1].body["messages"].to_string();
    assert!(tool_result.contains("cowork-approved"), "the command ran and its output reached the model");

    let denied_prompt = s.run("k3", prompt("Run it again")).await;
    let events = s.events().await;
    let Some(EventBody::PermissionRequested { permission_id, .. }) = events.last().map(|e| e.body.clone()) else {
        panic!("expected a second approval request after {denied_prompt}: {events:#?}");
    };
    s.run("k4", CommandBody::PermissionRespond { permission_id, allowed: false }).await;
    let events = s.events().await;
    assert_eq!(events.last().map(|e| &e.body), Some(&EventBody::SessionIdle {}));
    let denied = events
        .iter()
        .any(|e| matches!(&e.body, EventBody::ToolCall { id, status: ToolStatus::Error, .. } if id == "call_2"));
    assert!(denied, "the denied call shows as failed: {events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opencode_questions_are_asked_in_the_channel_and_answered() {
    let question = json!({ "questions": [{
        "question": "Which colour?", "header": "Colour",
        "options": [{ "label": "Red", "description": "warm" }, { "label": "Blue", "description": "cool" }],
    }] });
    let replies = vec![mock::tool_call("call_q", "question", &question.to_string()), mock::text(&["Blue it is."])];
    let Some(s) = Setup::start(replies).await else { return };
    s.run("k1", prompt("Pick a colour with me")).await;
    let events = s.events().await;
    let Some(EventBody::QuestionAsked { request_id, questions }) = events.last().map(|e| e.body.clone()) else {
        panic!("expected a question: {events:#?}");
    };
    assert_eq!((questions[0].header.as_str(), questions[0].question.as_str()), ("Colour", "Which colour?"));
    let labels: Vec<&str> = questions[0].options.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels, ["Red", "Blue"]);

    let replied = s.run("k2", CommandBody::QuestionReply { request_id, answers: vec!["Blue".into()] }).await;
    let events = s.events().await;
    assert_eq!(answers(&events, &replied).last().map(|a| a.0.as_str()), Some("Blue it is."));
    assert_eq!(events.last().map(|e| &e.body), Some(&EventBody::SessionIdle {}));
    let tool_result = s.model.requests()[1].body["messages"].to_string();
    assert!(tool_result.contains("Blue"), "the answer reached the model: {tool_result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opencode_abort_stops_a_streaming_turn() {
    let Some(s) = Setup::start(vec![mock::hold(&["Partial ", "answer"])]).await else { return };
    let turn_prompt = s.submit("k1", prompt("Write a long essay")).await;
    let worker = s.service.worker().unwrap();
    let turn = tokio::spawn(async move { worker.run_until_idle().await });
    wait_until("the streamed text", || async {
        answers(&s.events().await, &turn_prompt).last().is_some_and(|(content, _)| content == "Partial answer")
    })
    .await;

    let abort = s.run("k2", CommandBody::Abort).await;
    let ended = tokio::time::timeout(Duration::from_secs(20), turn).await;
    assert!(matches!(ended, Ok(Ok(Ok(1)))), "the turn did not end after the abort: {ended:?}");
    wait_until("OpenCode to drop the model's stream", || async { s.model.hangups() == 1 }).await;

    let events = s.events().await;
    assert_eq!(answers(&events, &turn_prompt), [("Partial answer".to_owned(), true)]);
    let notice = EventBody::AssistantMessage {
        message_id: format!("{abort}:notice"),
        content: STOPPED_NOTICE.into(),
        complete: true,
    };
    assert_eq!(events.iter().filter(|e| e.body == notice).count(), 1);
    assert_eq!(s.state(&turn_prompt).await.as_deref(), Some("done"));
    assert!(!events.iter().any(|e| e.body.type_name() == "runtime.error"), "{events:#?}");
    assert!(!s.runtime.base_url().is_empty());
}

#[tokio::test]
async fn another_model_shares_the_server_and_is_checked() {
    // Nothing listens on the discard port: an unmanaged server may come up later, so this starts.
    let settings = OpenCodeSettings { base_url: "http://127.0.0.1:9".into(), ..OpenCodeSettings::default() };
    let runtime = OpenCodeRuntime::start(settings).await.unwrap_or_else(|e| panic!("start: {e}"));
    let coder = runtime.with_model(Some("ollama/qwen2.5-coder".into())).unwrap_or_else(|e| panic!("model: {e}"));
    assert_eq!(coder.base_url(), runtime.base_url());
    assert_eq!(coder.settings.model.as_deref(), Some("ollama/qwen2.5-coder"));
    assert_eq!(runtime.settings.model, None, "the original keeps its model");
    assert!(runtime.with_model(Some("qwen2.5".into())).is_err(), "not provider/model");
}
