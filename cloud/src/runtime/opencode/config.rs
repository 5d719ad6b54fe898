//! Settings of the OpenCode runtime: where the server is (or how to start one), which model and
//! agent prompts use, which tools ask the channel first, and HTTP timeouts.

use std::path::PathBuf;
use std::time::Duration;

use cowork_providers::egress::operator_endpoint_allowed;

/// The server the runtime uses when none is configured (OpenCode's own default port).
pub const DEFAULT_OPENCODE_URL: &str = "http://127.0.0.1:4096";

/// The tools whose use asks the channel for approval by default.
pub const DEFAULT_ASK_PERMISSIONS: [&str; 4] = ["bash", "edit", "write", "webfetch"];

/// How the runtime reaches (or starts) an OpenCode server and drives its sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCodeSettings {
    /// The server's base URL; ignored when [`Self::server`] starts one.
    pub base_url: String,
    /// Start `opencode serve` as a child process instead of using [`Self::base_url`].
    pub server: Option<ManagedServer>,
    /// The model of every prompt as `provider/model` (for example `ollama/llama3.2`); `None`
    /// leaves it to the OpenCode config.
    pub model: Option<String>,
    /// Permissions (tool names such as `bash`) that ask the channel before they run.
    pub ask_permissions: Vec<String>,
    /// Bound on connecting and on each API call (the event stream excluded).
    pub request_timeout: Duration,
    /// How long a turn may wait for OpenCode to confirm an abort before it ends anyway.
    pub abort_grace: Duration,
}

/// An `opencode serve` the runtime starts and stops with itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedServer {
    /// The `opencode` binary.
    pub binary: PathBuf,
    /// The directory OpenCode works in (its project).
    pub directory: PathBuf,
    /// An `opencode.json` to load (`OPENCODE_CONFIG`), for the model provider and more.
    pub config_path: Option<PathBuf>,
    /// Keeps OpenCode's own state (HOME and the XDG directories) here instead of the user's.
    pub state_dir: Option<PathBuf>,
    /// How long the server may take to answer its health check.
    pub start_timeout: Duration,
}

impl Default for OpenCodeSettings {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_OPENCODE_URL.to_owned(),
            server: None,
            model: None,
            ask_permissions: DEFAULT_ASK_PERMISSIONS.map(str::to_owned).to_vec(),
            request_timeout: Duration::from_secs(30),
            abort_grace: Duration::from_secs(5),
        }
    }
}

impl OpenCodeSettings {
    /// Checks the settings: an allowed operator endpoint, a `provider/model` model.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.server.is_none() {
            operator_endpoint_allowed(self.base_url.trim())
                .map_err(|reason| format!("the OpenCode URL is not allowed: {reason}"))?;
        }
        if let Some(model) = &self.model {
            let parts = model.split_once('/');
            if !parts.is_some_and(|(provider, id)| !provider.is_empty() && !id.is_empty()) {
                return Err(format!("the OpenCode model `{model}` is not `provider/model`"));
            }
        }
        if self.request_timeout.is_zero() {
            return Err("the OpenCode request timeout must be above zero".to_owned());
        }
        Ok(())
    }

    /// The model as OpenCode's prompt body wants it.
    pub(super) fn model_ref(&self) -> Option<(&str, &str)> {
        self.model.as_deref().and_then(|model| model.split_once('/'))
    }
}
