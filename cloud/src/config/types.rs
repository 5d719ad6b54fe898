//! The embedded cloud's settings: the default agent runtime, each runtime's settings, the
//! runtime of each listed agent, and the session worker's tuning. `runtime.rs` reads them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::Secret;

/// An agent runtime: `demo`, `openai` or `opencode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeKind {
    /// The scripted demo runtime (the default when no model is configured).
    Demo,
    /// Any OpenAI-compatible chat completions endpoint ([`CloudConfig::openai`]).
    OpenAi,
    /// An OpenCode server ([`CloudConfig::opencode`]; started by the gateway when a binary is set).
    OpenCode,
}

impl RuntimeKind {
    /// The runtime's name in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Demo => "demo",
            Self::OpenAi => "openai",
            Self::OpenCode => "opencode",
        }
    }

    /// The runtime called `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "demo" => Some(Self::Demo),
            "openai" => Some(Self::OpenAi),
            "opencode" => Some(Self::OpenCode),
            _ => None,
        }
    }
}

/// The runtime of one agent in `cloud.agents.<name>`, with the settings that apply to it; the
/// runtime's connection settings are the shared `cloud.openai` / `cloud.opencode` ones.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentRuntimeConfig {
    /// `"runtime": "demo"`.
    Demo,
    /// `"runtime": "openai"`.
    OpenAi {
        /// `systemPrompt`: replaces `cloud.openai.systemPrompt` for this agent.
        system_prompt: Option<String>,
        /// `model`: replaces `cloud.openai.model` for this agent.
        model: Option<String>,
    },
    /// `"runtime": "opencode"`.
    OpenCode {
        /// `model`: `provider/model`, replacing `cloud.opencode.model` for this agent.
        model: Option<String>,
    },
}

impl AgentRuntimeConfig {
    /// Which runtime this is.
    pub fn kind(&self) -> RuntimeKind {
        match self {
            Self::Demo => RuntimeKind::Demo,
            Self::OpenAi { .. } => RuntimeKind::OpenAi,
            Self::OpenCode { .. } => RuntimeKind::OpenCode,
        }
    }
}

/// Settings of the `opencode` runtime.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OpenCodeConfig {
    /// `OPEN_COWORK_CLOUD_OPENCODE_URL`, `cloud.opencode.url`: a running OpenCode server (default
    /// `http://127.0.0.1:4096`); unused when `binary` is set.
    pub url: Option<String>,
    /// `OPEN_COWORK_CLOUD_OPENCODE_BIN`, `cloud.opencode.binary`: start `opencode serve` with this
    /// binary (on a free loopback port) and stop it with the gateway.
    pub binary: Option<PathBuf>,
    /// `OPEN_COWORK_CLOUD_OPENCODE_DIRECTORY`, `cloud.opencode.directory`: the started server's
    /// working directory, the project its agents read and change (default: the current one).
    pub directory: Option<PathBuf>,
    /// `OPEN_COWORK_CLOUD_OPENCODE_CONFIG`, `cloud.opencode.configPath`: an `opencode.json` for
    /// the started server (providers, models).
    pub config_path: Option<PathBuf>,
    /// `cloud.opencode.stateDir`: keep the started server's own state here instead of the
    /// user's home directory.
    pub state_dir: Option<PathBuf>,
    /// `OPEN_COWORK_CLOUD_OPENCODE_MODEL`, `cloud.opencode.model`: `provider/model` for every
    /// prompt (default: OpenCode's configured model).
    pub model: Option<String>,
    /// `cloud.opencode.askPermissions`: the permissions (tool names) that ask the channel first
    /// (default `bash`, `edit`, `write`, `webfetch`).
    pub ask_permissions: Option<Vec<String>>,
}

/// Settings of the `openai` runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAiConfig {
    /// `OPEN_COWORK_CLOUD_OPENAI_BASE_URL`, `cloud.openai.baseUrl` (requests go to `{base}/chat/completions`).
    pub base_url: String,
    /// `OPEN_COWORK_CLOUD_OPENAI_MODEL`, `cloud.openai.model`.
    pub model: String,
    /// `OPEN_COWORK_CLOUD_OPENAI_API_KEY` (then `OPENAI_API_KEY`), `cloud.openai.apiKey`.
    pub api_key: Option<Secret>,
    /// `OPEN_COWORK_CLOUD_OPENAI_SYSTEM_PROMPT`, `cloud.openai.systemPrompt`.
    pub system_prompt: Option<String>,
    /// `cloud.openai.tools`: offer the built-in `fetch_url` tool (each call needs an approval).
    pub tools_enabled: bool,
    /// `cloud.openai.declaredTools`: tools whose arguments are POSTed to an endpoint (each call
    /// needs an approval); validated at load.
    pub declared_tools: Vec<crate::runtime::DeclaredTool>,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: crate::runtime::DEFAULT_OPENAI_BASE_URL.to_owned(),
            model: "gpt-4o-mini".to_owned(),
            api_key: None,
            system_prompt: None,
            tools_enabled: false,
            declared_tools: Vec::new(),
        }
    }
}

/// The embedded cloud's settings (standalone mode).
#[derive(Clone, Debug, PartialEq)]
pub struct CloudConfig {
    /// The default runtime, for agents not in [`Self::agents`] (`OPEN_COWORK_CLOUD_RUNTIME`,
    /// `cloud.runtime`; otherwise the runtime last configured, demo when none is).
    pub runtime: RuntimeKind,
    /// Settings of the `openai` runtime, used by the default and by agents that choose it.
    pub openai: OpenAiConfig,
    /// Settings of the `opencode` runtime (one server for every agent that uses it).
    pub opencode: OpenCodeConfig,
    /// `cloud.agents`: the runtime of each listed agent, by agent name.
    pub agents: BTreeMap<String, AgentRuntimeConfig>,
    /// Pause between the demo runtime's text deltas (`OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS`).
    pub demo_delta_interval: Duration,
    /// Sessions whose commands run at the same time (`OPEN_COWORK_CLOUD_SESSION_CONCURRENCY`).
    pub session_concurrency: usize,
    /// How long a due command may wait for a worker before it is reported as stalled
    /// (`OPEN_COWORK_CLOUD_COMMAND_STALL_MS`, `cloud.commandStallMs`).
    pub command_stall: Duration,
    /// Paths of secrets written literally in the config file rather than as references
    /// (refused in `public_production`).
    pub inline_secrets: Vec<String>,
}

impl CloudConfig {
    /// The runtime of `agent`'s sessions, with its own settings (the default runtime's plain
    /// settings for an agent not in [`Self::agents`]).
    pub fn runtime_of(&self, agent: &str) -> AgentRuntimeConfig {
        self.agents.get(agent).cloned().unwrap_or_else(|| self.default_runtime())
    }

    /// The default runtime with no per-agent settings.
    pub fn default_runtime(&self) -> AgentRuntimeConfig {
        match self.runtime {
            RuntimeKind::Demo => AgentRuntimeConfig::Demo,
            RuntimeKind::OpenAi => AgentRuntimeConfig::OpenAi { system_prompt: None, model: None },
            RuntimeKind::OpenCode => AgentRuntimeConfig::OpenCode { model: None },
        }
    }

    /// Whether the default runtime or any listed agent uses `kind`.
    pub fn uses(&self, kind: RuntimeKind) -> bool {
        self.runtime == kind || self.agents.values().any(|agent| agent.kind() == kind)
    }
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            runtime: RuntimeKind::Demo,
            openai: OpenAiConfig::default(),
            opencode: OpenCodeConfig::default(),
            agents: BTreeMap::new(),
            demo_delta_interval: Duration::from_millis(150),
            session_concurrency: 16,
            command_stall: Duration::from_secs(60),
            inline_secrets: Vec::new(),
        }
    }
}
