//! The startup text: where the gateway listens, what it stores where, and the curl commands
//! that talk to it.

use std::fmt::Write;
use std::net::SocketAddr;

use cowork_cloud::runtime::DEFAULT_OPENCODE_URL;

use crate::config::{GatewayConfig, ProviderSettings, RuntimeChoice, Storage};

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
    let runtime = match &config.cloud.runtime {
        RuntimeChoice::Demo => "demo runtime (a scripted reply; cue words: approve, question, report, fail)".to_owned(),
        RuntimeChoice::OpenAi(openai) => format!("openai runtime (model {} at {})", openai.model, openai.base_url),
        RuntimeChoice::OpenCode(opencode) => {
            let model = opencode.model.as_deref().unwrap_or("its configured model");
            match (&opencode.binary, &opencode.url) {
                (Some(binary), _) => format!("opencode runtime ({} serve, started here; {model})", binary.display()),
                (None, url) => {
                    format!("opencode runtime (server at {}; {model})", url.as_deref().unwrap_or(DEFAULT_OPENCODE_URL))
                }
            }
        }
    };
    let _ = writeln!(out, "  runtime:  {runtime}");
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
