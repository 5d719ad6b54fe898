//! The startup text: where the gateway listens, what it stores where, and the curl commands
//! that talk to it.

use std::fmt::Write;
use std::net::SocketAddr;

use cowork_cloud::runtime::DEFAULT_OPENCODE_URL;

use crate::config::{AgentRuntimeConfig, CloudConfig, GatewayConfig, ProviderSettings, Storage};

/// The banner printed once the gateway is ready.
pub fn render(config: &GatewayConfig, addr: SocketAddr) -> String {
    let base = format!("http://{addr}");
    let mut out = String::new();
    let _ = writeln!(out, "Open Cowork Gateway (standalone) is listening on {base}");
    let storage = match &config.storage {
        Storage::DataDir(dir) => format!("SQLite at {}", dir.join("gateway.db").display()),
        Storage::Url(url) if url.expose().starts_with("sqlite:") => "SQLite (database URL)".to_owned(),
        Storage::Url(_) => "Postgres (database URL)".to_owned(),
    };
    let _ = writeln!(out, "  storage:  {storage}");
    let default = describe(&config.cloud, &config.cloud.default_runtime());
    let scope = if config.cloud.agents.is_empty() { "" } else { ", for agents not listed below" };
    let _ = writeln!(out, "  runtime:  {default}{scope}");
    for (agent, choice) in &config.cloud.agents {
        let _ = writeln!(out, "  agent:    {agent} on the {}", describe(&config.cloud, choice));
    }
    for provider in &config.providers {
        let _ = writeln!(
            out,
            "  provider: {} ({}, binding {})",
            provider.id,
            provider.kind().as_str(),
            provider.binding_id
        );
    }
    let fake = config.providers.iter().find(|p| matches!(p.settings, ProviderSettings::Fake(_)));
    if let Some(fake) = fake {
        let hook = format!("{base}/webhooks/{}", fake.id);
        let json = "-H 'content-type: application/json'";
        let _ = writeln!(out, "\nTry it:");
        let _ = writeln!(out, "  curl -s -X POST {hook} {json} -d '{{\"id\":\"m1\",\"text\":\"hello\"}}'");
        let _ = writeln!(out, "  curl -s '{base}/fake/{}/transcript?chatId=fake-chat'", fake.id);
        let _ = writeln!(
            out,
            "  curl -s -X POST {hook} {json} -d '{{\"id\":\"m2\",\"text\":\"please deploy, I approve\"}}'"
        );
        let _ = writeln!(out, "  # then click: take the Approve handle from the transcript's buttons");
        let _ = writeln!(
            out,
            "  curl -s -X POST {hook} {json} -d '{{\"id\":\"m3\",\"interaction\":{{\"id\":\"c1\",\"token\":\"<handle>\"}}}}'"
        );
    }
    out
}

/// One runtime as the banner names it, with the settings an agent may change.
fn describe(cloud: &CloudConfig, choice: &AgentRuntimeConfig) -> String {
    match choice {
        AgentRuntimeConfig::Demo => {
            "demo runtime (a scripted reply; cue words: approve, question, report, fail)".to_owned()
        }
        AgentRuntimeConfig::OpenAi { system_prompt, model } => {
            let model = model.as_deref().unwrap_or(&cloud.openai.model);
            let prompt = if system_prompt.is_some() { "; its own system prompt" } else { "" };
            format!("openai runtime (model {model} at {}{prompt})", cloud.openai.base_url)
        }
        AgentRuntimeConfig::OpenCode { model } => {
            let opencode = &cloud.opencode;
            let model = model.as_deref().or(opencode.model.as_deref()).unwrap_or("its configured model");
            match (&opencode.binary, &opencode.url) {
                (Some(binary), _) => format!("opencode runtime ({} serve, started here; {model})", binary.display()),
                (None, url) => {
                    format!("opencode runtime (server at {}; {model})", url.as_deref().unwrap_or(DEFAULT_OPENCODE_URL))
                }
            }
        }
    }
}
