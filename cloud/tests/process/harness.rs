//! Starts the real binary and waits on conditions with a deadline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

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
        "OPEN_COWORK_CLOUD_AUTH_MODE",
        "OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH",
        "OPEN_COWORK_CLOUD_PUBLIC_URL",
        "OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET",
        "OPEN_COWORK_CONFIG_PATH",
    ] {
        command.env_remove(name);
    }
    command
}

impl CloudProcess {
    /// Starts `serve --role <role>` on `database_url` and waits for its banner.
    pub fn start(database_url: &str, role: &str) -> Self {
        Self::start_with(database_url, role, &[])
    }

    /// [`CloudProcess::start`] with extra environment variables.
    pub fn start_with(database_url: &str, role: &str, vars: &[(&str, &str)]) -> Self {
        Self::start_on("127.0.0.1:0", database_url, role, vars)
    }

    /// [`CloudProcess::start_with`] listening on `listen`.
    pub fn start_on(listen: &str, database_url: &str, role: &str, vars: &[(&str, &str)]) -> Self {
        let mut child = command(&["serve", "--listen", listen, "--database-url", database_url, "--role", role])
            .env("OPEN_COWORK_CLOUD_SHUTDOWN_DRAIN_TIMEOUT_MS", "5000")
            .envs(vars.iter().copied())
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

/// Runs a setup command against `url`.
pub fn setup(url: &str, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--database-url", url]);
    command(&all).output().expect("run the command")
}

/// A successful command's trimmed stdout.
pub fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A client of one cloud process.
pub struct Api<'a> {
    pub cloud: &'a CloudProcess,
    pub client: reqwest::Client,
}

/// JSON requests to a running cloud, asserting every answer carries a request id.
impl Api<'_> {
    pub async fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{path}", self.cloud.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        assert!(response.headers().contains_key("x-request-id"), "{path}: no request id");
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, Some(token), Some(&body.to_string())).await
    }
}
