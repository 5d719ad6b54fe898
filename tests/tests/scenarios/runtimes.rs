//! Agent runtimes end to end: the `openai` runtime against a local OpenAI-compatible server.

use std::time::Duration;

use cowork_e2e::{DatabaseBackend, OPENAI_ANSWER, OpenAiMock, TestGateway, message, scenarios};
use cowork_gateway::config::{OpenAiConfig, RuntimeChoice, Secret};

scenarios!(openai_runtime_streams_the_models_answer_into_the_chat);

async fn openai_runtime_streams_the_models_answer_into_the_chat(backend: DatabaseBackend) {
    let mock = OpenAiMock::start().await;
    let runtime = RuntimeChoice::OpenAi(OpenAiConfig {
        base_url: mock.base_url.clone(),
        model: "mock-model".into(),
        api_key: Some(Secret::new("sk-e2e".into())),
        system_prompt: Some("Be brief.".into()),
        tools_enabled: false,
        declared_tools: Vec::new(),
    });
    let Some(gw) = TestGateway::builder(backend).configure(|c| c.cloud.runtime = runtime).start().await else { return };
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
