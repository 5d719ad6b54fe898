//! The cloud's typed settings, shared by the gateway's embedded cloud (standalone) and the
//! `open-cowork-cloud` service: the agent runtimes and the session worker's tuning, read from the
//! `cloud` section of `open-cowork.config.json` and the `OPEN_COWORK_CLOUD_*` variables, plus the
//! readers both binaries build their configuration with.

pub mod auth;
#[cfg(test)]
mod contracts;
pub mod production;
pub mod reader;
pub mod references;
mod runtime;
mod secret;
pub mod server;
pub mod tier;
mod types;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

pub use reader::ObjectReader;
pub use secret::Secret;
pub use types::{AgentRuntimeConfig, CloudConfig, OpenAiConfig, OpenCodeConfig, RuntimeKind};

use reader::env_integer;

/// A configuration problem, naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a bad value.
    #[error("invalid configuration: `{path}` {reason}")]
    Invalid {
        /// The setting (config path or variable name).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The config file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not JSON.
    #[error("config file {path} is not valid JSON: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl ConfigError {
    /// A bad value at `path`.
    pub fn invalid(path: &str, reason: &str) -> Self {
        Self::Invalid { path: path.to_owned(), reason: reason.to_owned() }
    }
}

/// Open Cowork cloud settings accepted with a warning until this version implements them.
const DEFERRED_CLOUD: &[&str] =
    &["runtime", "profiles", "auth", "abuse", "storage", "retention", "workers", "sse", "deploymentTier", "baseUrl"];

/// Finds the config file: `explicit` (a `--config` flag), then `OPEN_COWORK_CONFIG_PATH`, then
/// `$OPEN_COWORK_CONFIG_DIR/{open-cowork.config,config}.json`, then `./open-cowork.config.json`.
pub fn locate_file(cwd: &Path, env: &HashMap<String, String>, explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    if let Some(path) = env.get("OPEN_COWORK_CONFIG_PATH").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    if let Some(dir) = env.get("OPEN_COWORK_CONFIG_DIR").filter(|p| !p.is_empty()) {
        let dir = PathBuf::from(dir);
        return ["open-cowork.config.json", "config.json"].iter().map(|name| dir.join(name)).find(|p| p.is_file());
    }
    Some(cwd.join("open-cowork.config.json")).filter(|p| p.is_file())
}

/// Reads the config file at `path` as the reader of its top-level object.
pub fn read_file(path: &Path) -> Result<ObjectReader, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
    let value: Value = serde_json::from_str(&text).map_err(|source| ConfigError::Parse { path: shown, source })?;
    ObjectReader::new("", value)
}

impl CloudConfig {
    /// Applies the file's `cloud` section. `extra` reads the keys only the caller knows (the
    /// service's listen address, say) before the rest are checked.
    pub fn apply_file(
        &mut self,
        mut cloud: ObjectReader,
        env: &HashMap<String, String>,
        warnings: &mut Vec<String>,
        extra: impl FnOnce(&mut ObjectReader, &mut Vec<String>) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        if let Some(openai) = cloud.object("openai")? {
            runtime::apply_file_openai(self, openai, env, warnings)?;
        }
        if let Some(opencode) = cloud.object("opencode")? {
            runtime::apply_file_opencode(self, opencode, warnings)?;
        }
        if let Some(name) = cloud.string("runtime")? {
            runtime::apply_name(self, "cloud.runtime", &name)?;
        }
        if let Some(agents) = cloud.object("agents")? {
            runtime::apply_file_agents(self, agents, warnings)?;
        }
        if let Some(n) = cloud.integer("sessionConcurrency", 1..=256)? {
            self.session_concurrency = n as usize;
        }
        if let Some(ms) = cloud.integer("commandStallMs", 1_000..=86_400_000)? {
            self.command_stall = Duration::from_millis(ms);
        }
        if let Some(mut demo) = cloud.object("demo")? {
            if let Some(ms) = demo.integer("deltaIntervalMs", 0..=60_000)? {
                self.demo_delta_interval = Duration::from_millis(ms);
            }
            demo.finish(&[], warnings)?;
        }
        extra(&mut cloud, warnings)?;
        cloud.finish(DEFERRED_CLOUD, warnings)
    }

    /// Applies the `OPEN_COWORK_CLOUD_*` variables of the runtimes and the session worker.
    pub fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        if let Some(n) = env_integer(env, "OPEN_COWORK_CLOUD_SESSION_CONCURRENCY", 1..=256)? {
            self.session_concurrency = n as usize;
        }
        if let Some(ms) = env_integer(env, "OPEN_COWORK_CLOUD_COMMAND_STALL_MS", 1_000..=86_400_000)? {
            self.command_stall = Duration::from_millis(ms);
        }
        runtime::apply_env(self, env)?;
        if let Some(ms) = env_integer(env, "OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS", 0..=60_000)? {
            self.demo_delta_interval = Duration::from_millis(ms);
        }
        Ok(())
    }

    /// The service settings these give, with commands leased for `lease`.
    pub fn service_settings(&self, lease: Duration) -> crate::CloudSettings {
        crate::CloudSettings {
            demo_delta_interval: self.demo_delta_interval,
            worker_concurrency: self.session_concurrency,
            lease,
            stall_threshold: self.command_stall,
            ..crate::CloudSettings::default()
        }
    }

    /// Checks that each listed agent's runtime has the settings it needs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        runtime::validate(self)
    }
}
