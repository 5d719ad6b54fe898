//! The startup text of `open-cowork-cloud serve`: where it listens, its role, storage, auth mode
//! and runtimes, and the commands that set it up; the runtime lines are shared with the gateway's
//! standalone banner.

use std::fmt::Write;
use std::net::SocketAddr;

use crate::config::auth::{AuthConfig, AuthMode};
use crate::config::server::{SQLITE_FILE, ServeConfig};
use crate::config::{AgentRuntimeConfig, CloudConfig};
use crate::runtime::DEFAULT_OPENCODE_URL;

/// The banner printed once the cloud is ready.
pub fn render(config: &ServeConfig, addr: SocketAddr) -> String {
    let base = format!("http://{addr}");
    let mut out = String::new();
    let _ = writeln!(out, "Open Cowork Cloud (role {}) is listening on {base}", config.role);
    let _ = writeln!(out, "  storage:  {}", config.storage.describe(SQLITE_FILE));
    if config.role.serves_api() {
        let _ = writeln!(out, "  auth:     {}", describe_auth(&config.auth));
    }
    if config.role.runs_commands() {
        out.push_str(&runtime_lines(&config.cloud));
    } else {
        let _ = writeln!(out, "  commands: queued for worker processes (open-cowork-cloud serve --role worker)");
    }
    let _ = writeln!(out, "\nCheck it:");
    let _ = writeln!(out, "  curl -s {base}/readyz");
    out
}

/// The auth mode as the banner names it (never a secret).
pub fn describe_auth(auth: &AuthConfig) -> String {
    match auth.mode {
        AuthMode::Token => "API tokens only (mode token)".to_owned(),
        AuthMode::None => "API tokens, else everyone is the local owner (mode none)".to_owned(),
        AuthMode::Header if auth.header.secret.is_some() => {
            "API tokens, then signed identity headers (mode header)".to_owned()
        }
        AuthMode::Header => "API tokens, then unsigned identity headers, members only (mode header)".to_owned(),
        AuthMode::Oidc => format!(
            "API tokens, then bearer JWTs from {} (mode oidc)",
            auth.oidc.issuer.as_deref().unwrap_or("the issuer")
        ),
    }
}

/// The `runtime:` line and one `agent:` line per agent with its own runtime.
pub fn runtime_lines(cloud: &CloudConfig) -> String {
    let mut out = String::new();
    let default = describe_runtime(cloud, &cloud.default_runtime());
    let scope = if cloud.agents.is_empty() { "" } else { ", for agents not listed below" };
    let _ = writeln!(out, "  runtime:  {default}{scope}");
    for (agent, choice) in &cloud.agents {
        let _ = writeln!(out, "  agent:    {agent} on the {}", describe_runtime(cloud, choice));
    }
    out
}

/// One runtime as the banner names it, with the settings an agent may change.
pub fn describe_runtime(cloud: &CloudConfig, choice: &AgentRuntimeConfig) -> String {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::server::Role;

    #[test]
    fn a_web_process_says_where_its_commands_run() {
        let mut config = ServeConfig::defaults(Path::new("/srv"));
        let addr = SocketAddr::from(([127, 0, 0, 1], 8787));
        let all = render(&config, addr);
        assert!(all.starts_with("Open Cowork Cloud (role all) is listening on http://127.0.0.1:8787"), "{all}");
        assert!(
            all.contains("storage:  SQLite at /srv/.open-cowork-cloud/cloud.db") && all.contains("runtime:  demo"),
            "{all}"
        );
        config.role = Role::Web;
        let web = render(&config, addr);
        assert!(web.contains("commands: queued for worker processes") && !web.contains("runtime:"), "{web}");
        assert!(web.contains("auth:     API tokens only (mode token)"), "{web}");
        config.auth.mode = AuthMode::Header;
        config.auth.header.secret = Some(crate::config::Secret::new("s".repeat(32)));
        let header = render(&config, addr);
        assert!(header.contains("signed identity headers (mode header)") && !header.contains("sss"), "{header}");
    }
}
