//! Starts the real binary and waits on conditions with a deadline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for any condition.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A running `open-cowork-cloud serve`.
pub struct CloudProcess {
    pub child: Child,
    pub base: String,
}

/// The binary with a clean environment for the settings tests care about.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_open-cowork-cloud"));
    command.args(args).env("OPEN_COWORK_CLOUD_LOG_LEVEL", "warn");
    for name in [
        "OPEN_COWORK_CLOUD_DATABASE_URL",
        "OPEN_COWORK_CLOUD_DATA_DIR",
        "OPEN_COWORK_CLOUD_ROLE",
        "OPEN_COWORK_CONFIG_PATH",
    ] {
        command.env_remove(name);
    }
    command
}

impl CloudProcess {
    /// Starts `serve --role <role>` on `database_url` and waits for its banner.
    pub fn start(database_url: &str, role: &str) -> Self {
        let mut child = command(&["serve", "--listen", "127.0.0.1:0", "--database-url", database_url, "--role", role])
            .env("OPEN_COWORK_CLOUD_SHUTDOWN_DRAIN_TIMEOUT_MS", "5000")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the cloud binary");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().expect("the cloud exited before printing its banner").expect("read stdout");
            if let Some(url) = line.split("listening on ").nth(1) {
                break url.trim().to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, base }
    }

    /// GETs `path`: the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::get(format!("{}{path}", self.base)).await.expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        assert!(sent.success());
        let start = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().expect("try_wait") {
                return exit;
            }
            assert!(start.elapsed() < DEADLINE, "did not exit after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for CloudProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
