//! An `opencode serve` child process: started on a free loopback port (OpenCode picks it and
//! prints it), kept isolated when a state directory is given, its output forwarded to the log,
//! and killed when the runtime is dropped.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::config::ManagedServer;

/// The line prefix OpenCode prints once it listens.
const LISTENING: &str = "opencode server listening on ";

/// A running `opencode serve`; killed on drop.
#[derive(Debug)]
pub(super) struct ServerProcess {
    _child: Child,
    /// Where it listens.
    pub base_url: String,
}

/// Starts the server and waits (up to the start timeout) until it says where it listens.
pub(super) async fn start(managed: &ManagedServer) -> Result<ServerProcess, String> {
    let mut command = Command::new(&managed.binary);
    command
        .args(["serve", "--hostname", "127.0.0.1", "--port", "0", "--pure"])
        .current_dir(&managed.directory)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(config) = &managed.config_path {
        command.env("OPENCODE_CONFIG", config);
    }
    if let Some(state) = &managed.state_dir {
        command.env("HOME", state);
        for (variable, folder) in [
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_CACHE_HOME", "cache"),
        ] {
            command.env(variable, state.join(folder));
        }
    }
    let binary = managed.binary.display();
    let mut child = command.spawn().map_err(|error| format!("could not start {binary}: {error}"))?;
    let stdout = child.stdout.take().ok_or("the OpenCode server has no output to read")?;
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward(stderr, None));
    }
    let (found, listening) = tokio::sync::oneshot::channel();
    tokio::spawn(forward(stdout, Some(found)));
    let started = tokio::time::timeout(managed.start_timeout, listening).await;
    match started {
        Ok(Ok(base_url)) => Ok(ServerProcess { _child: child, base_url }),
        Ok(Err(_)) => Err(format!("{binary} exited before it listened (see the log)")),
        Err(_) => Err(format!("{binary} did not listen within {} ms", managed.start_timeout.as_millis())),
    }
}

/// Forwards the server's output lines to the log, handing the listening URL to `found`.
async fn forward(output: impl AsyncRead + Unpin, mut found: Option<tokio::sync::oneshot::Sender<String>>) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(url) = line.trim().strip_prefix(LISTENING)
            && let Some(found) = found.take()
        {
            let _ = found.send(url.trim().to_owned());
        }
        tracing::debug!(target: "opencode", "{line}");
    }
}
