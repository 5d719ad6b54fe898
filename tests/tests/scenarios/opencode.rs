//! The `opencode` runtime end to end: the gateway starts `opencode serve` itself, pointed at a
//! local OpenAI-compatible model, and the model's answer streams into the chat. Without the
//! binary the scenario says so and skips; with `CI=true` a missing binary fails it.

use std::path::PathBuf;
use std::time::Duration;

use cowork_e2e::{DatabaseBackend, OPENAI_ANSWER, OpenAiMock, TestGateway, message, scenarios};
use cowork_gateway::config::{GatewayConfig, OpenCodeConfig, RuntimeKind};
use serde_json::json;

scenarios!(opencode_runtime_streams_the_agents_answer_into_the_chat);

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("cowork-e2e-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("scratch dir");
        Self(path)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn opencode_runtime_streams_the_agents_answer_into_the_chat(backend: DatabaseBackend) {
    let Some(binary) = cowork_cloud::runtime::opencode_test_binary() else { return };
    let mock = OpenAiMock::start().await;
    let dir = Scratch::new(&format!("opencode-{backend:?}"));
    let config = json!({
        "provider": { "local": {
            "npm": "@ai-sdk/openai-compatible",
            "options": { "baseURL": mock.base_url, "apiKey": "none" },
            "models": { "mock-model": { "name": "mock-model" } },
        } },
        "autoupdate": false,
        "share": "disabled",
    });
    let config_path = dir.path().join("opencode.json");
    std::fs::write(&config_path, config.to_string()).expect("opencode.json");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let opencode = OpenCodeConfig {
        binary: Some(binary),
        directory: Some(work),
        config_path: Some(config_path),
        state_dir: Some(dir.path().join("state")),
        model: Some("local/mock-model".into()),
        ..OpenCodeConfig::default()
    };
    let configure = |c: &mut GatewayConfig| {
        c.cloud.runtime = RuntimeKind::OpenCode;
        c.cloud.opencode = opencode;
    };
    let Some(gw) = TestGateway::builder(backend).configure(configure).start().await else { return };
    assert_eq!(gw.post_fake(message("oc1", "chat-oc", "hi agent")).await.0, 202);
    let answer = OPENAI_ANSWER.concat();
    gw.wait_for("chat-oc", "the agent's answer", Duration::ZERO, |t| t["messages"][0]["text"] == answer.as_str()).await;
    assert_eq!(gw.messages("chat-oc").await.len(), 1);
    let request = mock.requests().pop().expect("a model request");
    assert_eq!(request["model"], "mock-model");
    assert!(request["messages"].to_string().contains("hi agent"));
    gw.stop().await;
}
