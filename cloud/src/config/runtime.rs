//! The agent runtimes: the default one (`cloud.runtime` / `OPEN_COWORK_CLOUD_RUNTIME`: `demo`,
//! `openai`, `opencode`), the `openai` and `opencode` settings (kept side by side), and
//! `cloud.agents`, the runtime of each listed agent. Configuring a model endpoint makes `openai`
//! the default, configuring an OpenCode server or binary `opencode` (the later of the two wins,
//! and a runtime name beats both); the demo runtime is the default only when nothing is
//! configured.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::runtime::{DeclaredTool, check_declared_tools};
use serde_json::Value;

use super::reader::ObjectReader;
use super::{AgentRuntimeConfig, CloudConfig, ConfigError, OpenCodeConfig, RuntimeKind, Secret};

/// Applies `cloud.opencode` from the config file (which makes `opencode` the default runtime).
pub(super) fn apply_file_opencode(
    cloud: &mut CloudConfig,
    mut section: ObjectReader,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let opencode = &mut cloud.opencode;
    if let Some(url) = section.string("url")? {
        opencode.url = Some(url);
    }
    if let Some(binary) = section.string("binary")? {
        opencode.binary = Some(PathBuf::from(binary));
    }
    if let Some(directory) = section.string("directory")? {
        opencode.directory = Some(PathBuf::from(directory));
    }
    if let Some(config) = section.string("configPath")? {
        opencode.config_path = Some(PathBuf::from(config));
    }
    if let Some(state) = section.string("stateDir")? {
        opencode.state_dir = Some(PathBuf::from(state));
    }
    if let Some(model) = section.string("model")? {
        opencode.model = Some(model);
    }
    if let Some(ask) = section.take("askPermissions") {
        let path = section.path_of("askPermissions");
        let names = ask.as_array().and_then(|items| items.iter().map(|v| v.as_str().map(str::to_owned)).collect());
        opencode.ask_permissions =
            Some(names.ok_or_else(|| ConfigError::invalid(&path, "must be an array of strings"))?);
    }
    section.finish(&[], warnings)?;
    check_opencode(opencode, "cloud.opencode")?;
    cloud.runtime = RuntimeKind::OpenCode;
    Ok(())
}

/// Checks the OpenCode settings; errors name the setting under `prefix`.
fn check_opencode(opencode: &OpenCodeConfig, prefix: &str) -> Result<(), ConfigError> {
    if let Some(model) = &opencode.model {
        check_opencode_model(model, &format!("{prefix}.model"))?;
    }
    if let Some(url) = &opencode.url
        && let Err(reason) = cowork_providers::egress::operator_endpoint_allowed(url)
    {
        return Err(ConfigError::invalid(&format!("{prefix}.url"), &format!("is not allowed: {reason}")));
    }
    Ok(())
}

/// Checks an OpenCode model reference (`provider/model`), naming `path`.
fn check_opencode_model(model: &str, path: &str) -> Result<(), ConfigError> {
    if model.split_once('/').is_some_and(|(provider, id)| !provider.is_empty() && !id.is_empty()) {
        Ok(())
    } else {
        Err(ConfigError::invalid(path, "must be `provider/model`"))
    }
}

/// Applies `cloud.openai` from the config file (which makes `openai` the default runtime).
pub(super) fn apply_file_openai(
    cloud: &mut CloudConfig,
    mut section: ObjectReader,
    env: &HashMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let inline_secrets = &mut cloud.inline_secrets;
    let openai = &mut cloud.openai;
    if let Some(url) = section.string("baseUrl")? {
        openai.base_url = url;
    }
    if let Some(model) = section.string("model")? {
        openai.model = model;
    }
    if let Some(key) = section.string("apiKey")? {
        if !super::references::is_reference(&key) {
            inline_secrets.push("cloud.openai.apiKey".to_owned());
        }
        openai.api_key = Some(super::references::resolve_reference("cloud.openai.apiKey", key, env)?);
    }
    if let Some(prompt) = section.string("systemPrompt")? {
        openai.system_prompt = Some(prompt);
    }
    if let Some(tools) = section.boolean("tools")? {
        openai.tools_enabled = tools;
    }
    if let Some(declared) = section.take("declaredTools") {
        openai.declared_tools = parse_declared_tools(&section.path_of("declaredTools"), declared, warnings)?;
    }
    section.finish(&[], warnings)?;
    cloud.runtime = RuntimeKind::OpenAi;
    Ok(())
}

/// The default bound on one call of a declared tool.
const DEFAULT_TOOL_TIMEOUT_MS: u64 = 30_000;

/// Parses and checks `declaredTools`: `[{name, description, parameters, url, timeoutMs?,
/// allowPrivate?}]`; an error names the entry and field (`cloud.openai.declaredTools[1].url`).
fn parse_declared_tools(
    path: &str,
    value: Value,
    warnings: &mut Vec<String>,
) -> Result<Vec<DeclaredTool>, ConfigError> {
    let Value::Array(items) = value else {
        return Err(ConfigError::invalid(path, "must be an array"));
    };
    let mut tools = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let mut entry = ObjectReader::new(&format!("{path}[{index}]"), item)?;
        let required = |entry: &mut ObjectReader, key: &str| {
            entry.string(key)?.ok_or_else(|| ConfigError::invalid(&entry.path_of(key), "is required"))
        };
        let name = required(&mut entry, "name")?;
        let description = required(&mut entry, "description")?;
        let url = required(&mut entry, "url")?;
        let parameters = entry.take("parameters").unwrap_or(Value::Null);
        let timeout_ms = entry.integer("timeoutMs", 100..=300_000)?.unwrap_or(DEFAULT_TOOL_TIMEOUT_MS);
        let allow_private = entry.boolean("allowPrivate")?.unwrap_or(false);
        entry.finish(&[], warnings)?;
        let timeout = Duration::from_millis(timeout_ms);
        tools.push(DeclaredTool { name, description, parameters, url, timeout, allow_private });
    }
    check_declared_tools(&tools).map_err(|(index, error)| {
        ConfigError::invalid(&format!("{path}[{index}].{}", error.field()), &error.to_string())
    })?;
    Ok(tools)
}

/// Parses a runtime name (`path` names where it came from).
fn parse_name(path: &str, name: &str) -> Result<RuntimeKind, ConfigError> {
    RuntimeKind::parse(name).ok_or_else(|| {
        ConfigError::invalid(path, &format!("`{}` is not a runtime (demo, openai or opencode)", name.trim()))
    })
}

/// Applies a default runtime name (`path` names where it came from).
pub(super) fn apply_name(cloud: &mut CloudConfig, path: &str, name: &str) -> Result<(), ConfigError> {
    cloud.runtime = parse_name(path, name)?;
    Ok(())
}

/// Applies `cloud.agents`: `{ "<agent>": { "runtime", "systemPrompt"?, "model"? } }`. A setting
/// that does not apply to the chosen runtime is refused rather than ignored, so a typo'd runtime
/// cannot silently drop a prompt.
pub(super) fn apply_file_agents(
    cloud: &mut CloudConfig,
    mut section: ObjectReader,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for name in section.keys() {
        let path = section.path_of(&name);
        if name.trim().is_empty() || name.trim() != name {
            return Err(ConfigError::invalid(&path, "is not an agent name (empty, or blanks around it)"));
        }
        let Some(value) = section.take(&name) else { continue };
        let mut entry = ObjectReader::new(&path, value)?;
        let runtime_path = entry.path_of("runtime");
        let runtime = entry.string("runtime")?.ok_or_else(|| ConfigError::invalid(&runtime_path, "is required"))?;
        let kind = parse_name(&runtime_path, &runtime)?;
        let system_prompt = entry.string("systemPrompt")?;
        let model = entry.string("model")?;
        let refuse = |key: &str| {
            let reason = format!("does not apply to the {} runtime", kind.as_str());
            Err(ConfigError::invalid(&entry.path_of(key), &reason))
        };
        let agent = match kind {
            RuntimeKind::Demo if system_prompt.is_some() => return refuse("systemPrompt"),
            RuntimeKind::Demo if model.is_some() => return refuse("model"),
            RuntimeKind::Demo => AgentRuntimeConfig::Demo,
            RuntimeKind::OpenCode if system_prompt.is_some() => return refuse("systemPrompt"),
            RuntimeKind::OpenCode => {
                if let Some(model) = &model {
                    check_opencode_model(model, &entry.path_of("model"))?;
                }
                AgentRuntimeConfig::OpenCode { model }
            }
            RuntimeKind::OpenAi => {
                if model.as_deref().is_some_and(|model| model.trim().is_empty()) {
                    return Err(ConfigError::invalid(&entry.path_of("model"), "must not be empty"));
                }
                AgentRuntimeConfig::OpenAi { system_prompt, model }
            }
        };
        entry.finish(&[], warnings)?;
        cloud.agents.insert(name, agent);
    }
    Ok(())
}

/// Applies the `OPEN_COWORK_CLOUD_OPENAI_*` and `_OPENCODE_*` variables, then
/// `OPEN_COWORK_CLOUD_RUNTIME`.
pub(super) fn apply_env(cloud: &mut CloudConfig, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let openai = &mut cloud.openai;
    let mut openai_configured = false;
    if let Some(url) = get("OPEN_COWORK_CLOUD_OPENAI_BASE_URL") {
        openai.base_url = url.to_owned();
        openai_configured = true;
    }
    if let Some(model) = get("OPEN_COWORK_CLOUD_OPENAI_MODEL") {
        openai.model = model.to_owned();
        openai_configured = true;
    }
    if let Some(key) = get("OPEN_COWORK_CLOUD_OPENAI_API_KEY") {
        openai.api_key = Some(Secret::new(key.to_owned()));
        openai_configured = true;
    }
    if let Some(prompt) = get("OPEN_COWORK_CLOUD_OPENAI_SYSTEM_PROMPT") {
        openai.system_prompt = Some(prompt.to_owned());
    }
    if openai_configured {
        cloud.runtime = RuntimeKind::OpenAi;
    }
    let opencode = &mut cloud.opencode;
    let mut opencode_configured = false;
    if let Some(url) = get("OPEN_COWORK_CLOUD_OPENCODE_URL") {
        opencode.url = Some(url.to_owned());
        opencode_configured = true;
    }
    if let Some(binary) = get("OPEN_COWORK_CLOUD_OPENCODE_BIN") {
        opencode.binary = Some(PathBuf::from(binary));
        opencode_configured = true;
    }
    if let Some(directory) = get("OPEN_COWORK_CLOUD_OPENCODE_DIRECTORY") {
        opencode.directory = Some(PathBuf::from(directory));
    }
    if let Some(config) = get("OPEN_COWORK_CLOUD_OPENCODE_CONFIG") {
        opencode.config_path = Some(PathBuf::from(config));
    }
    if let Some(model) = get("OPEN_COWORK_CLOUD_OPENCODE_MODEL") {
        opencode.model = Some(model.to_owned());
    }
    check_opencode(opencode, "OPEN_COWORK_CLOUD_OPENCODE")?;
    if opencode_configured {
        cloud.runtime = RuntimeKind::OpenCode;
    }
    if let Some(name) = get("OPEN_COWORK_CLOUD_RUNTIME") {
        apply_name(cloud, "OPEN_COWORK_CLOUD_RUNTIME", name)?;
    }
    // The conventional variable is the last resort for the key, taken only when the openai
    // runtime runs, so a stray OPENAI_API_KEY configures nothing.
    if cloud.uses(RuntimeKind::OpenAi)
        && cloud.openai.api_key.is_none()
        && let Some(key) = get("OPENAI_API_KEY")
    {
        cloud.openai.api_key = Some(Secret::new(key.to_owned()));
    }
    Ok(())
}

/// Checks that each listed agent's runtime has the settings it needs (a default runtime keeps
/// its defaults, as before agents could choose: a local OpenCode port, the OpenAI endpoint).
pub(super) fn validate(cloud: &CloudConfig) -> Result<(), ConfigError> {
    for (name, agent) in &cloud.agents {
        let missing = match agent.kind() {
            RuntimeKind::Demo => None,
            // The public endpoint never answers without a key; other endpoints (a local
            // Ollama) may need none.
            RuntimeKind::OpenAi
                if cloud.openai.api_key.is_none()
                    && cloud.openai.base_url.trim().trim_end_matches('/')
                        == crate::runtime::DEFAULT_OPENAI_BASE_URL =>
            {
                Some(
                    "is `openai`, but the openai runtime has neither an API key nor a base URL of its own \
                     (cloud.openai.apiKey / baseUrl, OPEN_COWORK_CLOUD_OPENAI_API_KEY / _BASE_URL or OPENAI_API_KEY)",
                )
            }
            RuntimeKind::OpenAi => None,
            RuntimeKind::OpenCode if cloud.opencode.url.is_none() && cloud.opencode.binary.is_none() => Some(
                "is `opencode`, but the opencode runtime has neither a server URL nor a binary \
                 (cloud.opencode.url / binary, OPEN_COWORK_CLOUD_OPENCODE_URL / _BIN)",
            ),
            RuntimeKind::OpenCode => None,
        };
        if let Some(reason) = missing {
            return Err(ConfigError::invalid(&format!("cloud.agents.{name}.runtime"), reason));
        }
    }
    Ok(())
}
