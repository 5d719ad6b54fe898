//! Tests of the OpenAI-compatible runtime through the worker, against a local mock server:
//! streaming, history, retries, failures, the key, and the `fetch_url` approval round trip.

pub(crate) mod mock;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cowork_cloud_client::{
    CommandBody, CommandId, EventBody, IdentityId, NewCommand, SessionBackend, SessionEvent, SessionId, ToolStatus,
};
use cowork_providers::egress::{EgressRules, StaticResolver};
use serde_json::json;

use super::client::Turn;
use super::{DeclaredTool, INTERRUPTED_MESSAGE, OpenAiRuntime, OpenAiSettings, REFUSED_MESSAGE, UNAVAILABLE_MESSAGE};
use crate::database::Database;
use crate::runtime::sse::SseParser;
use crate::tests::Harness;
use crate::{CloudService, CloudSettings, CommandWorker, ManualClock};
use mock::{MockModel, PAGE_TEXT, Reply, TOOL_ANSWER};

const KEY: &str = "sk-test-secret-123";

/// Settings for a mock at `base_url`: tiny retry delays, a snapshot per delta.
fn settings(base_url: String) -> OpenAiSettings {
    OpenAiSettings {
        base_url,
        model: "mock-model".into(),
        api_key: Some(KEY.into()),
        system_prompt: Some("You are terse.".into()),
        request_timeout: Duration::from_secs(10),
        max_retries: 2,
        tools_enabled: false,
        retry_base_delay: Duration::from_millis(5),
        snapshot_interval: Duration::from_secs(3600),
        snapshot_chars: 1,
        ..OpenAiSettings::default()
    }
}

struct Setup {
    service: CloudService,
    worker: CommandWorker,
    actor: IdentityId,
    session: SessionId,
    model: MockModel,
}

impl Setup {
    async fn new(db: Database, replies: Vec<Reply>, tools: bool) -> Self {
        Self::with_declared(db, replies, tools, |_| Vec::new()).await
    }

    /// A setup whose runtime also offers the tools `declare` makes for the mock's address.
    async fn with_declared(
        db: Database,
        replies: Vec<Reply>,
        tools: bool,
        declare: impl FnOnce(SocketAddr) -> Vec<DeclaredTool>,
    ) -> Self {
        let model = MockModel::start(replies).await;
        let declared_tools = declare(model.addr);
        let settings = OpenAiSettings { tools_enabled: tools, declared_tools, ..settings(model.base_url()) };
        let resolver = StaticResolver::new([
            ("docs.test", vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]),
            ("tools.test", vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]),
        ]);
        let rules = EgressRules { allow_private: true, allowed_hosts: vec!["docs.test".into()] };
        let runtime = OpenAiRuntime::new(settings)
            .unwrap_or_else(|e| panic!("runtime: {e}"))
            .with_egress(Arc::new(resolver), rules);
        let cloud = CloudSettings { poll_interval: Duration::from_secs(3600), ..CloudSettings::default() };
        let h = Harness::with_runtime(db, Arc::new(runtime), ManualClock::at(1_000_000), cloud).await;
        let session = h.session("T1").await;
        let Harness { service, worker, actor, .. } = h;
        Self { service, worker, actor, session, model }
    }

    /// Submits `body` and runs the worker until nothing is runnable.
    async fn run(&self, key: &str, body: CommandBody) -> CommandId {
        let command = NewCommand { idempotency_key: key.into(), actor: self.actor.clone(), body, trace: None };
        let id = self.service.submit(&self.session, command).await.unwrap_or_else(|e| panic!("submit: {e}"));
        self.worker.run_until_idle().await.unwrap_or_else(|e| panic!("run: {e}"));
        id
    }

    async fn prompt(&self, key: &str, text: &str) -> CommandId {
        self.run(key, CommandBody::Prompt { text: text.into(), agent: "build".into() }).await
    }

    async fn events(&self) -> Vec<SessionEvent> {
        self.service.events_after(&self.session, 0, 1000).await.unwrap_or_else(|e| panic!("events: {e}"))
    }

    async fn status(&self, command: &CommandId) -> (String, Option<String>) {
        let status = self.service.store().command_status(command).await.ok().flatten();
        status.map(|s| (s.state, s.last_error)).unwrap_or_else(|| panic!("no status for {command}"))
    }
}

/// The snapshots of `message_id`: (event id, content, complete).
fn snapshots(events: &[SessionEvent], message: &str) -> Vec<(String, String, bool)> {
    let own = |e: &SessionEvent| match &e.body {
        EventBody::AssistantMessage { message_id, content, complete } if message_id == message => {
            Some((e.event_id.clone(), content.clone(), *complete))
        }
        _ => None,
    };
    events.iter().filter_map(own).collect()
}

fn kinds(events: &[SessionEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.body.type_name()).collect()
}

fn runtime_error(events: &[SessionEvent]) -> Option<String> {
    events.iter().find_map(|e| match &e.body {
        EventBody::RuntimeError { message, .. } => Some(message.clone()),
        _ => None,
    })
}

async fn a_prompt_streams_snapshots_records_usage_and_goes_idle(db: Database) {
    let s = Setup::new(db, vec![mock::text(&["Hel", "lo", " world", "!"])], false).await;
    let command = s.prompt("k1", "Say hello").await;
    let events = s.events().await;
    let kinds = kinds(&events);
    assert_eq!(kinds.first(), Some(&"prompt.submitted"));
    assert_eq!(&kinds[kinds.len() - 2..], ["usage.recorded", "session.idle"]);
    let snaps = snapshots(&events, &format!("{command}:assistant"));
    let contents: Vec<&str> = snaps.iter().map(|(_, c, _)| c.as_str()).collect();
    assert_eq!(contents, ["Hel", "Hello", "Hello world", "Hello world!", "Hello world!"]);
    assert!(snaps.iter().enumerate().all(|(i, (_, _, complete))| *complete == (i + 1 == snaps.len())));
    assert_eq!(snaps[0].0, format!("{command}:1:delta:1"));
    assert!(events.iter().any(|e| e.body == EventBody::Usage { prompt_tokens: 7, completion_tokens: 5 }));
    assert_eq!(s.status(&command).await.0, "done");
    let requests = s.model.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    let body = &requests[0].body;
    assert_eq!(body["model"], "mock-model");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({ "include_usage": true }));
    assert!(body.get("tools").is_none());
    let expected = json!([
        { "role": "system", "content": "You are terse." },
        { "role": "user", "content": "Say hello" },
    ]);
    assert_eq!(body["messages"], expected);
}

async fn history_includes_earlier_turns(db: Database) {
    let s = Setup::new(db, vec![mock::text(&["First ", "answer."]), mock::text(&["Second."])], false).await;
    s.prompt("k1", "one").await;
    s.prompt("k2", "two").await;
    let requests = s.model.requests();
    assert_eq!(requests.len(), 2);
    let expected = json!([
        { "role": "system", "content": "You are terse." },
        { "role": "user", "content": "one" },
        { "role": "assistant", "content": "First answer." },
        { "role": "user", "content": "two" },
    ]);
    assert_eq!(requests[1].body["messages"], expected);
}

async fn a_429_with_retry_after_is_retried_after_that_pause(db: Database) {
    let replies = vec![mock::status(429, Some(1), "slow down"), mock::text(&["Fine."])];
    let s = Setup::new(db, replies, false).await;
    let started = Instant::now();
    let command = s.prompt("k1", "hi").await;
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was not honoured");
    assert_eq!(s.model.requests().len(), 2);
    let events = s.events().await;
    assert_eq!(snapshots(&events, &format!("{command}:assistant")).last().map(|x| x.1.as_str()), Some("Fine."));
    assert_eq!(s.status(&command).await.0, "done");
}

async fn a_500_is_retried_then_succeeds(db: Database) {
    let s = Setup::new(db, vec![mock::status(500, None, "oops"), mock::text(&["Recovered."])], false).await;
    let command = s.prompt("k1", "hi").await;
    assert_eq!(s.model.requests().len(), 2);
    let events = s.events().await;
    assert_eq!(runtime_error(&events), None);
    assert_eq!(snapshots(&events, &format!("{command}:assistant")).last().map(|x| x.1.as_str()), Some("Recovered."));
}

async fn exhausted_retries_become_one_runtime_error(db: Database) {
    let s = Setup::new(db, vec![mock::status(503, None, "down"); 3], false).await;
    let command = s.prompt("k1", "hi").await;
    assert_eq!(s.model.requests().len(), 3, "one try and two retries");
    let events = s.events().await;
    assert_eq!(kinds(&events), ["prompt.submitted", "runtime.error"]);
    assert_eq!(runtime_error(&events).as_deref(), Some(UNAVAILABLE_MESSAGE));
    let (state, error) = s.status(&command).await;
    assert_eq!(state, "failed");
    assert!(error.is_some_and(|e| e.contains("503")));
}

async fn a_disconnect_mid_stream_becomes_a_runtime_error(db: Database) {
    let s = Setup::new(db, vec![mock::cut(&["Half an ", "answer"])], false).await;
    let command = s.prompt("k1", "hi").await;
    assert_eq!(s.model.requests().len(), 1, "nothing is retried once text was shown");
    let events = s.events().await;
    assert_eq!(runtime_error(&events).as_deref(), Some(INTERRUPTED_MESSAGE));
    let snaps = snapshots(&events, &format!("{command}:assistant"));
    assert!(!snaps.is_empty() && snaps.iter().all(|(_, _, complete)| !complete));
    assert_eq!(s.status(&command).await.0, "failed");
}

async fn the_key_is_never_in_errors(db: Database) {
    let echo = format!("invalid api key {KEY}");
    let s = Setup::new(db, vec![mock::status(401, None, &echo)], false).await;
    let command = s.prompt("k1", "hi").await;
    assert_eq!(s.model.requests().len(), 1, "a 401 is not retried");
    let events = s.events().await;
    assert_eq!(runtime_error(&events).as_deref(), Some(REFUSED_MESSAGE));
    let (state, error) = s.status(&command).await;
    assert_eq!(state, "failed");
    let error = error.unwrap_or_default();
    assert!(error.contains("401") && error.contains("[redacted]") && !error.contains(KEY), "{error}");
    let debug = format!("{:?}", settings("http://127.0.0.1:1/v1".into()));
    assert!(!debug.contains(KEY), "{debug}");
}

async fn a_tool_call_needs_approval_then_runs_and_answers(db: Database) {
    let s = Setup::new(db, Vec::new(), true).await;
    let page = format!("http://docs.test:{}/page", s.model.addr.port());
    s.model.push(mock::fetch_call("call_1", &page));
    s.model.push(mock::text(&["The page says ", "42."]));
    let asked = s.prompt("k1", "What does the page say?").await;
    let events = s.events().await;
    let permission_id = format!("{asked}:tool:call_1");
    let requested = EventBody::PermissionRequested {
        permission_id: permission_id.clone(),
        tool: "fetch_url".into(),
        description: format!("Fetch {page}"),
    };
    assert_eq!(events.last().map(|e| &e.body), Some(&requested));
    assert!(!kinds(&events).contains(&"session.idle"), "the turn waits for the answer");
    assert_eq!(s.model.requests()[0].body["tools"][0]["function"]["name"], "fetch_url");
    let seen = events.len();

    let answer = CommandBody::PermissionRespond { permission_id: permission_id.clone(), allowed: true };
    let responded = s.run("k2", answer).await;
    let after: Vec<SessionEvent> = s.events().await.split_off(seen);
    assert_eq!(after[0].body, EventBody::PermissionResolved { permission_id: permission_id.clone(), allowed: true });
    let tool =
        |status| EventBody::ToolCall { id: permission_id.clone(), name: "fetch_url".into(), status, error: None };
    assert_eq!(after[1].body, tool(ToolStatus::Running));
    assert_eq!(after[2].body, tool(ToolStatus::Complete));
    assert_eq!(after.last().map(|e| &e.body), Some(&EventBody::SessionIdle {}));
    let snaps = snapshots(&after, &format!("{responded}:assistant"));
    assert_eq!(snaps.last().map(|x| (x.1.as_str(), x.2)), Some(("The page says 42.", true)));

    let requests = s.model.requests();
    assert_eq!(requests.len(), 2);
    let messages = requests[1].body["messages"].as_array().cloned().unwrap_or_default();
    let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(messages[2]["content"], "Let me look.");
    assert_eq!(messages[2]["tool_calls"][0]["id"], "call_1");
    assert_eq!(messages[2]["tool_calls"][0]["function"]["arguments"], json!({ "url": page }).to_string());
    assert_eq!(messages[3]["tool_call_id"], "call_1");
    assert!(messages[3]["content"].as_str().is_some_and(|c| c.starts_with("HTTP 200") && c.contains(PAGE_TEXT)));
}

async fn a_denied_tool_call_tells_the_model(db: Database) {
    let s = Setup::new(db, Vec::new(), true).await;
    s.model.push(mock::fetch_call("call_9", "https://docs.test/secret"));
    s.model.push(mock::text(&["Understood."]));
    let asked = s.prompt("k1", "Read it").await;
    let permission_id = format!("{asked}:tool:call_9");
    s.run("k2", CommandBody::PermissionRespond { permission_id, allowed: false }).await;
    let events = s.events().await;
    assert!(!kinds(&events).contains(&"tool.call"), "a denied tool never runs");
    assert_eq!(kinds(&events).last(), Some(&"session.idle"));
    let requests = s.model.requests();
    let tool_message = &requests[1].body["messages"][3];
    assert!(tool_message["content"].as_str().is_some_and(|c| c.contains("declined")), "{tool_message}");
}

/// Submits `body` without running it.
async fn submit(s: &Setup, key: &str, body: CommandBody) -> CommandId {
    let command = NewCommand { idempotency_key: key.into(), actor: s.actor.clone(), body, trace: None };
    s.service.submit(&s.session, command).await.unwrap_or_else(|e| panic!("submit: {e}"))
}

async fn an_abort_drops_the_stream_and_keeps_the_text_so_far(db: Database) {
    let s = Setup::new(db, vec![mock::hold(&["Partial ", "answer"])], false).await;
    let prompt =
        submit(&s, "k1", CommandBody::Prompt { text: "Write a long essay".into(), agent: "build".into() }).await;
    let turn_worker = s.service.worker().unwrap();
    let turn = tokio::spawn(async move { turn_worker.run_until_idle().await });
    let message = format!("{prompt}:assistant");
    crate::tests::wait_until("the streamed text", || async {
        snapshots(&s.events().await, &message).last().is_some_and(|(_, content, _)| content == "Partial answer")
    })
    .await;

    let abort = s.run("k2", CommandBody::Abort).await;
    let finished = tokio::time::timeout(Duration::from_secs(10), turn).await;
    assert!(matches!(finished, Ok(Ok(Ok(1)))), "the turn did not end after the abort: {finished:?}");
    crate::tests::wait_until("the hang-up", || async { s.model.hangups() == 1 }).await;

    let events = s.events().await;
    let snaps = snapshots(&events, &message);
    assert_eq!(
        snaps.last().map(|(_, content, complete)| (content.as_str(), *complete)),
        Some(("Partial answer", true))
    );
    assert!(snaps[..snaps.len() - 1].iter().all(|(_, _, complete)| !complete));
    let notice = format!("{abort}:notice");
    let notices = snapshots(&events, &notice);
    assert_eq!(notices, [(notice.clone(), crate::abort::STOPPED_NOTICE.to_owned(), true)], "one Stopped. notice");
    let aborted = EventBody::SessionAborted { command_id: abort.to_string() };
    assert_eq!(events.iter().filter(|e| e.body == aborted).count(), 1);
    assert_eq!(events.iter().filter(|e| e.body == EventBody::SessionIdle {}).count(), 1);
    assert_eq!(runtime_error(&events), None);
    assert_eq!(s.status(&prompt).await.0, "done");
    assert_eq!(s.status(&abort).await.0, "done");
    assert_eq!(s.model.requests().len(), 1, "nothing was retried");
}

async fn an_abort_when_idle_says_nothing_is_running(db: Database) {
    let s = Setup::new(db, vec![mock::text(&["Done."])], false).await;
    s.prompt("k1", "hi").await;
    let seen = s.events().await.len();
    let abort = s.run("k2", CommandBody::Abort).await;
    let after = s.events().await.split_off(seen);
    let notice = EventBody::AssistantMessage {
        message_id: format!("{abort}:notice"),
        content: crate::abort::NOTHING_RUNNING_NOTICE.into(),
        complete: true,
    };
    assert_eq!(after.iter().map(|e| &e.body).collect::<Vec<_>>(), [&notice]);
    assert_eq!(s.status(&abort).await.0, "done");

    s.model.push(mock::text(&["Again."]));
    s.prompt("k3", "and now?").await;
    let requests = s.model.requests();
    let roles: Vec<&str> =
        requests[1].body["messages"].as_array().into_iter().flatten().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"], "the notice is not part of the conversation");
}

async fn an_abort_while_an_approval_waits_denies_it(db: Database) {
    let s = Setup::new(db, vec![mock::fetch_call("call_3", "https://docs.test/page")], true).await;
    let asked = s.prompt("k1", "Read it").await;
    let permission_id = format!("{asked}:tool:call_3");
    let abort = s.run("k2", CommandBody::Abort).await;
    let events = s.events().await;
    let resolved = EventBody::PermissionResolved { permission_id: permission_id.clone(), allowed: false };
    assert!(events.iter().any(|e| e.body == resolved));
    let notices = snapshots(&events, &format!("{abort}:notice"));
    assert_eq!(notices.first().map(|n| n.1.as_str()), Some(crate::abort::STOPPED_NOTICE));

    let late = s.run("k3", CommandBody::PermissionRespond { permission_id, allowed: true }).await;
    assert_eq!(s.status(&late).await.0, "failed", "the approval is no longer pending");
    assert_eq!(s.model.requests().len(), 1, "the model is not called again");
}

/// The declared tool `weather`, served by the mock at `tools.test` (pinned to loopback).
fn weather(addr: SocketAddr) -> Vec<DeclaredTool> {
    vec![DeclaredTool {
        name: "weather".into(),
        description: "The current weather in a city.".into(),
        parameters: json!({ "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] }),
        url: format!("http://tools.test:{}/tool", addr.port()),
        timeout: Duration::from_secs(5),
        allow_private: true,
    }]
}

async fn an_approved_declared_tool_gets_the_arguments_and_the_model_the_answer(db: Database) {
    let replies = vec![mock::tool_call("call_w", "weather", r#"{"city": "Oslo"}"#), mock::text(&["It is 21 degrees."])];
    let s = Setup::with_declared(db, replies, false, weather).await;
    let asked = s.prompt("k1", "Weather in Oslo?").await;
    let permission_id = format!("{asked}:tool:call_w");
    let requested = EventBody::PermissionRequested {
        permission_id: permission_id.clone(),
        tool: "weather".into(),
        description: r#"Call weather with {"city":"Oslo"}"#.into(),
    };
    assert_eq!(s.events().await.last().map(|e| &e.body), Some(&requested));
    let offered = &s.model.requests()[0].body["tools"];
    assert_eq!(offered.as_array().map(Vec::len), Some(1), "only the declared tool: {offered}");
    assert_eq!(offered[0]["function"]["name"], "weather");
    assert_eq!(offered[0]["function"]["parameters"]["required"], json!(["city"]));
    assert!(s.model.tool_calls().is_empty(), "nothing runs before the approval");

    s.run("k2", CommandBody::PermissionRespond { permission_id: permission_id.clone(), allowed: true }).await;
    assert_eq!(s.model.tool_calls(), [json!({ "city": "Oslo" })]);
    let events = s.events().await;
    let statuses: Vec<ToolStatus> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ToolCall { id, name, status, .. } if *id == permission_id && name == "weather" => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [ToolStatus::Running, ToolStatus::Complete]);
    let requests = s.model.requests();
    let tool_message = &requests[1].body["messages"][3];
    assert_eq!(tool_message["tool_call_id"], "call_w");
    assert_eq!(tool_message["content"], format!("HTTP 200\n\n{TOOL_ANSWER}"));
    assert_eq!(requests[1].body["messages"][2]["tool_calls"][0]["function"]["name"], "weather");
    assert_eq!(kinds(&events).last(), Some(&"session.idle"));
}

async fn a_denied_declared_tool_never_reaches_its_endpoint(db: Database) {
    let replies = vec![mock::tool_call("call_d", "weather", r#"{"city":"Rome"}"#), mock::text(&["Fine."])];
    let s = Setup::with_declared(db, replies, true, weather).await;
    let asked = s.prompt("k1", "Weather in Rome?").await;
    let offered = s.model.requests()[0].body["tools"].clone();
    let names: Vec<&str> =
        offered.as_array().into_iter().flatten().filter_map(|tool| tool["function"]["name"].as_str()).collect();
    assert_eq!(names, ["fetch_url", "weather"]);
    let permission_id = format!("{asked}:tool:call_d");
    s.run("k2", CommandBody::PermissionRespond { permission_id, allowed: false }).await;
    assert!(s.model.tool_calls().is_empty(), "a denied call never reaches the endpoint");
    let events = s.events().await;
    assert!(!kinds(&events).contains(&"tool.call"));
    let requests = s.model.requests();
    assert!(requests[1].body["messages"][3]["content"].as_str().is_some_and(|c| c.contains("declined")));
}

#[test]
fn invalid_declarations_are_refused_naming_the_field() {
    let good = weather(SocketAddr::from(([127, 0, 0, 1], 9)))[0].clone();
    let https = DeclaredTool { url: "https://tools.example/weather".into(), allow_private: false, ..good.clone() };
    assert_eq!(super::check_declared_tools(std::slice::from_ref(&https)), Ok(()));
    let cases = [
        (DeclaredTool { name: "fetch_url".into(), ..https.clone() }, "name"),
        (DeclaredTool { name: "two words".into(), ..https.clone() }, "name"),
        (DeclaredTool { description: " ".into(), ..https.clone() }, "description"),
        (DeclaredTool { parameters: json!({ "type": "string" }), ..https.clone() }, "parameters"),
        (DeclaredTool { url: "http://tools.example/weather".into(), ..https.clone() }, "url"),
        (DeclaredTool { url: "http://127.0.0.1:9/tool".into(), allow_private: false, ..https.clone() }, "url"),
        (DeclaredTool { url: "not a url".into(), ..https.clone() }, "url"),
        (DeclaredTool { timeout: Duration::ZERO, ..https.clone() }, "timeoutMs"),
    ];
    for (tool, field) in cases {
        let refused = super::check_declared_tools(std::slice::from_ref(&tool));
        assert_eq!(refused.map_err(|(index, error)| (index, error.field())), Err((0, field)), "{tool:?}");
    }
    let twice = super::check_declared_tools(&[https.clone(), https.clone()]);
    assert_eq!(twice.map_err(|(index, error)| (index, error.field())), Err((1, "name")));
    let other = DeclaredTool { name: "other".into(), ..good.clone() };
    let settings = OpenAiSettings {
        declared_tools: vec![https, other, DeclaredTool { name: String::new(), ..good }],
        ..OpenAiSettings::default()
    };
    let refused = OpenAiRuntime::new(settings).err().unwrap_or_default();
    assert!(refused.contains("declared tool 2") && refused.contains("`name`"), "{refused}");
}

crate::backend_tests!(
    an_approved_declared_tool_gets_the_arguments_and_the_model_the_answer,
    a_denied_declared_tool_never_reaches_its_endpoint,
    an_abort_drops_the_stream_and_keeps_the_text_so_far,
    an_abort_when_idle_says_nothing_is_running,
    an_abort_while_an_approval_waits_denies_it,
    a_prompt_streams_snapshots_records_usage_and_goes_idle,
    history_includes_earlier_turns,
    a_429_with_retry_after_is_retried_after_that_pause,
    a_500_is_retried_then_succeeds,
    exhausted_retries_become_one_runtime_error,
    a_disconnect_mid_stream_becomes_a_runtime_error,
    the_key_is_never_in_errors,
    a_tool_call_needs_approval_then_runs_and_answers,
    a_denied_tool_call_tells_the_model,
);

#[test]
fn a_metadata_base_url_is_refused_and_loopback_allowed() {
    let metadata = OpenAiSettings { base_url: "http://169.254.169.254/v1".into(), ..OpenAiSettings::default() };
    assert!(OpenAiRuntime::new(metadata).is_err());
    let local = OpenAiSettings { base_url: "http://127.0.0.1:11434/v1/".into(), ..OpenAiSettings::default() };
    assert!(OpenAiRuntime::new(local).is_ok());
}

#[test]
fn sse_events_split_across_chunks_and_crlf_are_parsed() {
    let mut parser = SseParser::default();
    let mut payloads = parser.feed(b": keep-alive\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi");
    payloads.extend(parser.feed(b"\"}}]}\r\n\r\ndata: [DONE]"));
    payloads.extend(parser.finish());
    let mut turn = Turn::default();
    for payload in &payloads {
        turn.apply(payload).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(turn.content, "Hi");
    assert!(turn.done && turn.finished());
}
