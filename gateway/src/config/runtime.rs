//! The agent runtime choice: `cloud.runtime` / `OPEN_COWORK_CLOUD_RUNTIME` (`demo`, `openai`,
//! `opencode`) and the `openai` and `opencode` settings. Configuring a model endpoint selects the
//! `openai` runtime, configuring an OpenCode server or binary the `opencode` runtime; the demo
//! runtime is the default only when nothing is configured.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use cowork_cloud::runtime::{DeclaredTool, check_declared_tools};
use serde_json::Value;

use super::reader::ObjectReader;
use super::{ConfigError, OpenAiConfig, OpenCodeConfig, RuntimeChoice, Secret};

/// The OpenAI settings to change, starting from the current choice.
fn openai_of(choice: &RuntimeChoice) -> OpenAiConfig {
    match choice {
        RuntimeChoice::OpenAi(config) => config.clone(),
        RuntimeChoice::Demo | RuntimeChoice::OpenCode(_) => OpenAiConfig::default(),
    }
}

/// The OpenCode settings to change, starting from the current choice.
fn opencode_of(choice: &RuntimeChoice) -> OpenCodeConfig {
    match choice {
        RuntimeChoice::OpenCode(config) => config.clone(),
        RuntimeChoice::Demo | RuntimeChoice::OpenAi(_) => OpenCodeConfig::default(),
    }
}

/// Applies `cloud.opencode` from the config file.
pub(super) fn apply_file_opencode(
    choice: &mut RuntimeChoice,
    mut section: ObjectReader,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let mut opencode = opencode_of(choice);
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
    check_opencode(&opencode, "cloud.opencode")?;
    *choice = RuntimeChoice::OpenCode(opencode);
    Ok(())
}

/// Checks the OpenCode settings; errors name the setting under `prefix`.
fn check_opencode(opencode: &OpenCodeConfig, prefix: &str) -> Result<(), ConfigError> {
    if let Some(model) = &opencode.model
        && !model.split_once('/').is_some_and(|(provider, id)| !provider.is_empty() && !id.is_empty())
    {
        return Err(ConfigError::invalid(&format!("{prefix}.model"), "must be `provider/model`"));
    }
    if let Some(url) = &opencode.url
        && let Err(reason) = cowork_providers::egress::operator_endpoint_allowed(url)
    {
        return Err(ConfigError::invalid(&format!("{prefix}.url"), &format!("is not allowed: {reason}")));
    }
    Ok(())
}

/// Applies `cloud.openai` from the config file.
pub(super) fn apply_file_openai(
    choice: &mut RuntimeChoice,
    mut section: ObjectReader,
    env: &HashMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let mut openai = openai_of(choice);
    if let Some(url) = section.string("baseUrl")? {
        openai.base_url = url;
    }
    if let Some(model) = section.string("model")? {
        openai.model = model;
    }
    if let Some(key) = section.string("apiKey")? {
        openai.api_key = Some(super::provider::resolve_reference("cloud.openai.apiKey", key, env)?);
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
    *choice = RuntimeChoice::OpenAi(openai);
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

/// Applies a runtime name (`path` names where it came from).
pub(super) fn apply_name(choice: &mut RuntimeChoice, path: &str, name: &str) -> Result<(), ConfigError> {
    *choice = match name.trim() {
        "demo" => RuntimeChoice::Demo,
        "openai" => RuntimeChoice::OpenAi(openai_of(choice)),
        "opencode" => RuntimeChoice::OpenCode(opencode_of(choice)),
        other => {
            return Err(ConfigError::invalid(path, &format!("`{other}` is not a runtime (demo, openai or opencode)")));
        }
    };
    Ok(())
}

/// Applies the `OPEN_COWORK_CLOUD_OPENAI_*` variables, then `OPEN_COWORK_CLOUD_RUNTIME`.
pub(super) fn apply_env(choice: &mut RuntimeChoice, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut openai = openai_of(choice);
    let mut configured = matches!(choice, RuntimeChoice::OpenAi(_));
    if let Some(url) = get("OPEN_COWORK_CLOUD_OPENAI_BASE_URL") {
        openai.base_url = url.to_owned();
        configured = true;
    }
    if let Some(model) = get("OPEN_COWORK_CLOUD_OPENAI_MODEL") {
        openai.model = model.to_owned();
        configured = true;
    }
    if let Some(key) = get("OPEN_COWORK_CLOUD_OPENAI_API_KEY") {
        openai.api_key = Some(Secret::new(key.to_owned()));
        configured = true;
    }
    if let Some(prompt) = get("OPEN_COWORK_CLOUD_OPENAI_SYSTEM_PROMPT") {
        openai.system_prompt = Some(prompt.to_owned());
    }
    if configured {
        *choice = RuntimeChoice::OpenAi(openai);
    }
    let mut opencode = opencode_of(choice);
    let mut opencode_configured = matches!(choice, RuntimeChoice::OpenCode(_));
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
    if opencode_configured {
        check_opencode(&opencode, "OPEN_COWORK_CLOUD_OPENCODE")?;
        *choice = RuntimeChoice::OpenCode(opencode);
    }
    if let Some(name) = get("OPEN_COWORK_CLOUD_RUNTIME") {
        apply_name(choice, "OPEN_COWORK_CLOUD_RUNTIME", name)?;
    }
    // The conventional variable is the last resort for the key.
    if let RuntimeChoice::OpenAi(openai) = choice
        && openai.api_key.is_none()
        && let Some(key) = get("OPENAI_API_KEY")
    {
        openai.api_key = Some(Secret::new(key.to_owned()));
    }
    Ok(())
}
