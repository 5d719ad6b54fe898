//! `check`, `doctor` and `smoke` as an operator runs them: the real binary, real databases, a
//! real SMTP server, a local stand-in for Slack's `auth.test`, a running gateway.

use std::process::{Command, Output};

use axum::Json;
use axum::routing::post;
use cowork_cloud::database::testing::TestDatabase;
use cowork_providers::email::test_smtp::{SmtpServerOptions, TestSmtpServer};
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, GatewayProcess};
use crate::postgres_server::PostgresServer;

/// Runs `open-cowork-gateway <args>` in an empty directory with only `vars` set of our settings.
fn cli(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_open-cowork-gateway"));
    command.args(args).current_dir(dir.path());
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OPEN_COWORK_")) {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied()).output().expect("run the gateway binary")
}

/// [`cli`] off the async runtime (the command may talk to servers this test runs).
async fn cli_async(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        cli(&args, &vars)
    })
    .await
    .expect("run the gateway binary")
}

/// The `--json` report of a run.
fn report(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// The outcome and detail of the check named `name` (the first one).
fn outcome(report: &Value, name: &str) -> (String, String) {
    let check = report["checks"].as_array().into_iter().flatten().find(|c| c["name"] == name);
    let check = check.unwrap_or_else(|| panic!("no check {name} in {report:#}"));
    (check["outcome"].as_str().unwrap_or_default().to_owned(), check["detail"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn check_passes_a_good_configuration_and_names_what_is_wrong_with_a_bad_one() {
    let good = cli(&["check"], &[]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stdout));
    let text = String::from_utf8_lossy(&good.stdout);
    assert!(text.contains("pass  configuration") && text.contains("0 failed"), "{text}");

    let bad =
        cli(&["check", "--json"], &[("OPEN_COWORK_GATEWAY_PROVIDERS", r#"[{"id": "webhook", "kind": "webhook"}]"#)]);
    assert_eq!(bad.status.code(), Some(1));
    let (result, detail) = outcome(&report(&bad), "configuration");
    assert_eq!(result, "fail");
    assert!(detail.contains("credentials.sharedSecret"), "{detail}");

    // A config file with an unknown key or an unresolvable reference: named by path.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("open-cowork.config.json");
    for (content, named) in [
        (r#"{"gateway": {"server": {"prot": 9000}}}"#, "gateway.server.prot"),
        (r#"{"gateway": {"server": {"adminToken": "env:NOT_SET_ANYWHERE"}}}"#, "gateway.server.adminToken"),
        (r#"{"gateway": {"server": {"port": "9000"}}}"#, "gateway.server.port"),
    ] {
        std::fs::write(&file, content).expect("write");
        let path = file.display().to_string();
        let output = cli(&["check", "--json"], &[("OPEN_COWORK_CONFIG_PATH", &path)]);
        assert_eq!(output.status.code(), Some(1));
        let (result, detail) = outcome(&report(&output), "configuration");
        assert!(result == "fail" && detail.contains(named), "{content}: {detail}");
    }

    // A secret given by reference resolves (once: the binary loads the settings in two steps).
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "an-admin-token-from-a-mounted-file-0123\n").expect("write");
    let reference = format!("file:{}", token_file.display());
    let by_reference = cli(&["check"], &[("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", &reference)]);
    let text = String::from_utf8_lossy(&by_reference.stdout);
    assert!(by_reference.status.success() && text.contains("admin token set"), "{text}");

    let secret = "public-but-weak-token";
    let production = cli(
        &["check", "--json"],
        &[("OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER", "public_production"), ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", secret)],
    );
    assert_eq!(production.status.code(), Some(1));
    let body = report(&production);
    let rules: Vec<&str> = body["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == "deployment tier" && c["outcome"] == "fail")
        .filter_map(|c| c["detail"].as_str())
        .collect();
    assert_eq!(rules.len(), 4, "{rules:#?}");
    assert!(rules.iter().any(|r| r.contains("OPEN_COWORK_GATEWAY_ADMIN_TOKEN needs a strong value")), "{rules:#?}");
    assert!(!String::from_utf8_lossy(&production.stdout).contains(secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_database_smtp_and_slack_and_fails_on_what_does_not_answer() {
    let Some(db) = TestDatabase::postgres().await else { return };
    let smtp = TestSmtpServer::start(SmtpServerOptions::default()).await.expect("smtp server");
    let slack = slack_stand_in().await;
    let providers = json!([
        {"id": "email", "kind": "email", "credentials": {"inboundSecret": "doctor-inbound-secret-0123456789"},
         "settings": {"from": "Agent <agent@example.org>", "smtpHost": "127.0.0.1", "smtpPort": smtp.port(),
                      "smtpSecurity": "starttls", "smtpRootCertificates": smtp.ca_certificate_pem()}},
        {"id": "slack", "kind": "slack", "externalWorkspaceId": "T0DOCTOR",
         "credentials": {"botToken": "xoxb-doctor-good", "signingSecret": "doctor-signing-secret-0123456789"},
         "settings": {"apiBaseUrl": slack}},
        {"id": "slack-revoked", "kind": "slack",
         "credentials": {"botToken": "xoxb-doctor-revoked", "signingSecret": "doctor-signing-secret-0123456789"},
         "settings": {"apiBaseUrl": slack}},
    ])
    .to_string();
    let vars = [("OPEN_COWORK_GATEWAY_DATABASE_URL", db.url.as_str()), ("OPEN_COWORK_GATEWAY_PROVIDERS", &providers)];
    let output = cli_async(&["doctor", "--json"], &vars).await;
    let body = report(&output);
    assert_eq!(outcome(&body, "database").0, "pass", "{body:#}");
    assert_eq!(outcome(&body, "tls: database").0, "pass", "loopback Postgres: {body:#}");
    let (email, detail) = outcome(&body, "provider email");
    assert_eq!(email, "pass", "{detail}");
    let (slack_ok, detail) = outcome(&body, "provider slack");
    assert_eq!((slack_ok.as_str(), detail.contains("team T0DOCTOR")), ("pass", true), "{detail}");
    let (revoked, detail) = outcome(&body, "provider slack-revoked");
    assert_eq!((revoked.as_str(), detail.contains("invalid_auth")), ("fail", true), "{detail}");
    assert_eq!(output.status.code(), Some(1), "a failed check fails the run");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("xoxb-doctor") && !text.contains("doctor-signing-secret"), "{text}");

    // Nothing answers on the database port: the database check fails, naming no password.
    let unreachable = "postgres://gw:hunter2-password@127.0.0.1:9/gw";
    let vars = [("OPEN_COWORK_GATEWAY_DATABASE_URL", unreachable)];
    let output = cli_async(&["doctor", "--json"], &vars).await;
    assert_eq!(output.status.code(), Some(1));
    let body = report(&output);
    assert_eq!(outcome(&body, "database").0, "fail", "{body:#}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_pending_migrations_of_an_older_schema() {
    let Some(db) = TestDatabase::postgres().await else { return };
    // As if this build's newest migration had not run yet.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
        .execute(&sqlx::PgPool::connect(&db.url).await.expect("connect"))
        .await
        .expect("forget a migration");
    let url = db.url.clone();
    let output = cli_async(&["doctor", "--json"], &[("OPEN_COWORK_GATEWAY_DATABASE_URL", &url)]).await;
    let (schema, detail) = outcome(&report(&output), "database schema");
    assert_eq!(schema, "warn", "{detail}");
    assert!(detail.contains("1 migrations pending"), "{detail}");
    assert!(output.status.success(), "pending migrations are applied by the next start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_passes_against_a_running_gateway_and_fails_with_a_wrong_token() {
    let Some(db) = TestDatabase::postgres().await else { return };
    let gateway = GatewayProcess::start_with(&db.url, 1, &[("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)]);
    let base = gateway.base.clone();
    let output = cli_async(&["smoke", "--url", &base, "--admin-token", ADMIN_TOKEN, "--json"], &[]).await;
    let body = report(&output);
    assert!(output.status.success(), "{body:#}");
    for name in
        ["health", "ready", "/metrics without the token", "fake round trip", "retry control", "dead-letter control"]
    {
        assert_eq!(outcome(&body, name).0, "pass", "{name}: {body:#}");
    }
    assert!(!output.stdout.windows(ADMIN_TOKEN.len()).any(|w| w == ADMIN_TOKEN.as_bytes()));

    let base = gateway.base.clone();
    let output = cli_async(&["smoke", "--url", &base, "--admin-token", "not-the-operator-token-0123456789"], &[]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("answered 401 (is the token right?)"));
}

/// Answers Slack's `auth.test` as Slack does: the team and user of a good token, `invalid_auth`
/// for a revoked one. Returns the API base URL.
async fn slack_stand_in() -> String {
    let app = axum::Router::new().route(
        "/auth.test",
        post(|headers: axum::http::HeaderMap| async move {
            let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
            Json(if authorization == "Bearer xoxb-doctor-good" {
                json!({"ok": true, "team_id": "T0DOCTOR", "user_id": "U0BOT", "team": "Doctor", "user": "agent"})
            } else {
                json!({"ok": false, "error": "invalid_auth"})
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reaches_postgres_over_verified_tls_and_refuses_a_server_it_cannot_verify() {
    let Some(pg) = PostgresServer::start_with_tls() else { return };
    let port = pg.url().rsplit(':').next().and_then(|rest| rest.split('/').next()).unwrap_or_default().to_owned();
    let ca = pg.ca_file().display().to_string();
    let verified = format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={ca}");
    let output = cli_async(&["doctor", "--json"], &[("OPEN_COWORK_GATEWAY_DATABASE_URL", &verified)]).await;
    let body = report(&output);
    // Connected and read the (empty) schema over TLS.
    assert_eq!(outcome(&body, "database schema").0, "warn", "{body:#}");
    assert_eq!(outcome(&body, "tls: database").0, "pass", "{body:#}");
    // The gateway itself runs on it.
    let gateway = GatewayProcess::start(&verified, 1);
    assert_eq!(gateway.get("/ready").await.0, 200);
    drop(gateway);
    // Without the CA the server's certificate cannot be verified: refused.
    let unverified = format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full");
    let output = cli_async(&["doctor", "--json"], &[("OPEN_COWORK_GATEWAY_DATABASE_URL", &unverified)]).await;
    assert_eq!(outcome(&report(&output), "database").0, "fail");
}

/// Runs `open-cowork-gateway chat <args>` with `input` on its standard input.
async fn chat(args: &[&str], input: &str) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let input = input.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_open-cowork-gateway"));
        command.arg("chat").args(&args).current_dir(dir.path()).env("OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS", "5");
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OPEN_COWORK_GATEWAY_")) {
            command.env_remove(name);
        }
        let mut child = command
            .env_remove("OPEN_COWORK_CONFIG_PATH")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn chat");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        child.wait_with_output().expect("chat output")
    })
    .await
    .expect("chat")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_the_reply_offers_numbered_choices_and_clicks_one() {
    let Some(db) = TestDatabase::postgres().await else { return };
    let gateway = GatewayProcess::start(&db.url, 5);
    let input = "hello there\nplease deploy the site\n1\n/stop\n/quit\n";
    let output = chat(&["--url", &gateway.base, "--chat", "terminal-1"], input).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(&cowork_cloud::runtime::DemoRuntime::final_reply("hello there")), "{stdout}");
    assert!(stdout.contains("  1) Approve\n  2) Deny\n"), "{stdout}");
    assert!(stdout.contains("[Approve]\nApproved by fake-user."), "{stdout}");
    assert!(stdout.contains("Nothing is running."), "/stop reaches the gateway: {stdout}");
    // The click went through the gateway like any channel's.
    let transcript = gateway.transcript("terminal-1").await;
    assert!(transcript.to_string().contains("Approved by fake-user."), "{transcript:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_starts_a_gateway_of_its_own_with_standalone() {
    let output = chat(&["--standalone"], "hello\n/quit\n").await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(&cowork_cloud::runtime::DemoRuntime::final_reply("hello")), "{stdout}");
    // Nothing is listening any more: a wrong address is said plainly.
    let output = chat(&["--url", "http://127.0.0.1:9"], "hello\n").await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach http://127.0.0.1:9"));
}
