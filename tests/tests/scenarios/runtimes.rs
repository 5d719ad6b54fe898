//! Agent runtimes end to end: the `openai` runtime against a local OpenAI-compatible server, and
//! agents on different runtimes side by side.

use std::time::{Duration, Instant};

use cowork_e2e::{DEADLINE, DatabaseBackend, OPENAI_ANSWER, OpenAiMock, TestGateway, message, scenarios};
use cowork_gateway::config::{AgentRuntimeConfig, OpenAiConfig, ProviderConfig, RuntimeKind, Secret};
use cowork_providers::{BindingId, ProviderId};
use serde_json::Value;

scenarios!(openai_runtime_streams_the_models_answer_into_the_chat, each_agent_is_answered_by_its_own_runtime,);

/// The settings of an `openai` runtime pointed at `mock`.
fn openai_settings(mock: &OpenAiMock) -> OpenAiConfig {
    OpenAiConfig {
        base_url: mock.base_url.clone(),
        model: "mock-model".into(),
        api_key: Some(Secret::new("sk-e2e".into())),
        system_prompt: Some("Be brief.".into()),
        tools_enabled: false,
        declared_tools: Vec::new(),
    }
}

async fn openai_runtime_streams_the_models_answer_into_the_chat(backend: DatabaseBackend) {
    let mock = OpenAiMock::start().await;
    let openai = openai_settings(&mock);
    let configure = |c: &mut cowork_gateway::config::GatewayConfig| {
        c.cloud.runtime = RuntimeKind::OpenAi;
        c.cloud.openai = openai;
    };
    let Some(gw) = TestGateway::builder(backend).configure(configure).start().await else { return };
    assert_eq!(gw.post_fake(message("o1", "chat-ai", "hi model")).await.0, 202);
    let answer = OPENAI_ANSWER.concat();
    gw.wait_for("chat-ai", "the model's answer", Duration::ZERO, |t| t["messages"][0]["text"] == answer.as_str()).await;
    assert_eq!(gw.messages("chat-ai").await.len(), 1);
    let request = mock.requests().pop().unwrap();
    assert_eq!(request["model"], "mock-model");
    assert_eq!(request["stream"], true);
    let messages = request["messages"].as_array().unwrap();
    assert_eq!((messages[0]["role"].as_str(), messages[0]["content"].as_str()), (Some("system"), Some("Be brief.")));
    assert_eq!(messages.last().unwrap()["content"], "hi model");
    gw.stop().await;
}

/// Waits until the first message of `chat` on the fake provider `provider` satisfies `done`.
async fn wait_for_first_message(gw: &TestGateway, provider: &str, chat: &str, done: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let (status, transcript) = gw.get(&format!("/fake/{provider}/transcript?chatId={chat}")).await;
        assert_eq!(status, 200, "{transcript}");
        let text = transcript["messages"][0]["text"].as_str().unwrap_or_default().to_owned();
        if done(&text) {
            return text;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {provider}/{chat}: {transcript:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn each_agent_is_answered_by_its_own_runtime(backend: DatabaseBackend) {
    let mock = OpenAiMock::start().await;
    let openai = OpenAiConfig { system_prompt: None, ..openai_settings(&mock) };
    // A second fake provider whose threads run the `writer` agent.
    let mut writer = ProviderConfig::default_fake();
    writer.id = ProviderId::new("fake-writer");
    writer.binding_id = BindingId::new("writer-binding");
    writer.default_agent = "writer".into();
    let configure = |c: &mut cowork_gateway::config::GatewayConfig| {
        c.cloud.runtime = RuntimeKind::Demo;
        c.cloud.openai = openai;
        let choice = AgentRuntimeConfig::OpenAi {
            system_prompt: Some("You are the writer.".into()),
            model: Some("writer-model".into()),
        };
        c.cloud.agents.insert("writer".into(), choice);
        c.providers.push(writer);
    };
    let Some(gw) = TestGateway::builder(backend).configure(configure).start().await else { return };

    assert_eq!(gw.post_fake(message("d1", "chat-demo", "hello demo")).await.0, 202);
    let body = message("w1", "chat-writer", "hello writer").to_string().into_bytes();
    assert_eq!(gw.post("/webhooks/fake-writer", "application/json", body).await.0, 202);

    let answer = OPENAI_ANSWER.concat();
    let written = wait_for_first_message(&gw, "fake-writer", "chat-writer", |text| text == answer).await;
    assert_eq!(written, answer);
    // The demo runtime echoes the prompt; the `build` agent is not listed, so it runs there.
    let demo = wait_for_first_message(&gw, "fake", "chat-demo", |text| text.contains("hello demo")).await;
    assert_ne!(demo, answer);

    let requests = mock.requests();
    assert_eq!(requests.len(), 1, "only the writer's thread reached the model: {requests:?}");
    let request = &requests[0];
    assert_eq!(request["model"], "writer-model");
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let first = messages.first().cloned().unwrap_or(Value::Null);
    assert_eq!((first["role"].as_str(), first["content"].as_str()), (Some("system"), Some("You are the writer.")));
    assert_eq!(messages.last().map(|m| m["content"].clone()), Some(Value::from("hello writer")));
    gw.stop().await;
}
