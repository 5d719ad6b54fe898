//! The startup text: where the gateway listens, what it stores where, and the curl commands
//! that talk to it.

use std::fmt::Write;
use std::net::SocketAddr;

use crate::config::{GatewayConfig, ProviderSettings};

/// The banner printed once the gateway is ready.
pub fn render(config: &GatewayConfig, addr: SocketAddr) -> String {
    let base = format!("http://{addr}");
    let mut out = String::new();
    let mode = if config.remote_cloud.is_some() { "split" } else { "standalone" };
    let _ = writeln!(out, "Open Cowork Gateway ({mode}) is listening on {base}");
    let _ = writeln!(out, "  storage:  {}", config.storage.describe(crate::app::SQLITE_FILE));
    match &config.remote_cloud {
        Some(remote) => {
            let _ = writeln!(out, "  cloud:    {} (sessions and runtimes run there)", remote.base_url);
        }
        None => out.push_str(&cowork_cloud::banner::runtime_lines(&config.cloud)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AgentRuntimeConfig, RuntimeKind, Storage};

    #[test]
    fn the_banner_names_the_default_runtime_and_each_agents_runtime() {
        let mut config = GatewayConfig::for_tests(Storage::DataDir("/tmp/gw".into()));
        let addr = SocketAddr::from(([127, 0, 0, 1], 8790));
        let alone = render(&config, addr);
        assert!(alone.contains("  runtime:  demo runtime (") && !alone.contains("agent:"), "{alone}");

        config.cloud.runtime = RuntimeKind::OpenAi;
        config.cloud.openai.model = "llama3.2".into();
        config.cloud.opencode.url = Some("http://127.0.0.1:4500".into());
        let writer = AgentRuntimeConfig::OpenAi { system_prompt: Some("Be brief.".into()), model: Some("qwen".into()) };
        config.cloud.agents.insert("writer".into(), writer);
        config.cloud.agents.insert("build".into(), AgentRuntimeConfig::OpenCode { model: None });
        let text = render(&config, addr);
        assert!(
            text.contains("runtime:  openai runtime (model llama3.2 at https://api.openai.com/v1), for agents"),
            "{text}"
        );
        assert!(text.contains("agent:    build on the opencode runtime (server at http://127.0.0.1:4500;"), "{text}");
        assert!(text.contains("agent:    writer on the openai runtime (model qwen at https://api.openai.com/v1; its own system prompt)"), "{text}");
    }
}
