//! `open-cowork-gateway smoke --url URL --admin-token TOKEN`: a running deployment, from the
//! outside: health and readiness, operator routes refusing callers without the token and
//! answering with it, a whole conversation through the fake provider when one is enabled, and
//! the retry and dead-letter controls guarding a delivered message.

use std::time::{Duration, Instant};

use cowork_cloud::report::Report;
use serde_json::{Value, json};

/// How long the fake round trip may take.
const ROUND_TRIP: Duration = Duration::from_secs(30);

/// The operator routes that must refuse a caller without the token.
const OPERATOR_ROUTES: [&str; 4] = ["/diagnostics", "/deliveries", "/metrics", "/ownership"];

/// Where and as whom to smoke-test.
pub struct Smoke {
    /// The gateway's base URL.
    pub url: String,
    /// The operator token.
    pub admin_token: String,
}

impl Smoke {
    /// Runs every check against the deployment.
    pub async fn report(&self) -> Report {
        let mut report = Report::new(&format!("open-cowork-gateway smoke {}", self.url));
        let http = match reqwest::Client::builder().timeout(Duration::from_secs(15)).build() {
            Ok(http) => http,
            Err(error) => {
                report.fail("client", format!("cannot build an HTTP client: {error}"));
                return report;
            }
        };
        let base = self.url.trim_end_matches('/');
        let call = Caller { http: &http, base, token: &self.admin_token };
        match call.get("/health", false).await {
            Ok((200, body)) if body["ok"] == true => report.pass("health", "200"),
            Ok((status, _)) => report.fail("health", format!("answered {status}")),
            Err(error) => {
                report.fail("health", error);
                return report;
            }
        }
        match call.get("/ready", false).await {
            Ok((200, _)) => report.pass("ready", "200"),
            Ok((status, body)) => report.fail("ready", format!("answered {status}: {}", body["checks"])),
            Err(error) => report.fail("ready", error),
        }
        for route in OPERATOR_ROUTES {
            let name = format!("{route} without the token");
            match call.get(route, false).await {
                Ok((401, _)) => report.pass(&name, "401"),
                Ok((status, _)) => report.fail(&name, format!("answered {status}, not 401")),
                Err(error) => report.fail(&name, error),
            }
        }
        let diagnostics = match call.get("/diagnostics", true).await {
            Ok((200, body)) => {
                report.pass("/diagnostics with the token", "200");
                body
            }
            Ok((status, _)) => {
                report.fail("/diagnostics with the token", format!("answered {status} (is the token right?)"));
                return report;
            }
            Err(error) => {
                report.fail("/diagnostics with the token", error);
                return report;
            }
        };
        let fake = diagnostics["providers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["kind"] == "fake")
            .and_then(|p| p["id"].as_str())
            .map(str::to_owned);
        let Some(fake) = fake else {
            report.skip("fake round trip", "no fake provider is enabled");
            report.skip("delivery controls", "no fake provider to make a delivery with");
            return report;
        };
        match call.round_trip(&fake).await {
            Ok((chat, elapsed)) => {
                report.pass("fake round trip", format!("a reply in {} ms", elapsed.as_millis()));
                call.controls(&mut report, &chat).await;
            }
            Err(error) => report.fail("fake round trip", error),
        }
        report
    }
}

struct Caller<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: &'a str,
}

impl Caller<'_> {
    async fn send(&self, request: reqwest::RequestBuilder, authorized: bool) -> Result<(u16, Value), String> {
        let request = if authorized { request.bearer_auth(self.token) } else { request };
        let response = request.send().await.map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn get(&self, path: &str, authorized: bool) -> Result<(u16, Value), String> {
        self.send(self.http.get(format!("{}{path}", self.base)), authorized).await
    }

    async fn post(&self, path: &str, body: &Value, authorized: bool) -> Result<(u16, Value), String> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body), authorized).await
    }

    /// A message through the fake provider, until its reply shows in the transcript.
    async fn round_trip(&self, provider: &str) -> Result<(String, Duration), String> {
        let chat = format!("smoke-{}", uuid::Uuid::new_v4().simple());
        let message = json!({"id": chat, "chatId": chat, "text": "smoke test"});
        let started = Instant::now();
        match self.post(&format!("/webhooks/{provider}"), &message, false).await? {
            (202 | 200, _) => {}
            (status, body) => return Err(format!("the webhook answered {status}: {body}")),
        }
        let transcript = format!("/fake/{provider}/transcript?chatId={chat}");
        while started.elapsed() < ROUND_TRIP {
            let (_, body) = self.get(&transcript, false).await?;
            let replied = body["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["text"].is_string()));
            if replied {
                return Ok((chat, started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("no reply within {} s", ROUND_TRIP.as_secs()))
    }

    /// Retry and dead-letter answer, and refuse to touch a delivered message.
    async fn controls(&self, report: &mut Report, chat: &str) {
        let sent = match self.get("/deliveries?status=sent&limit=200", true).await {
            Ok((200, body)) => body["deliveries"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["chatId"] == chat)
                .and_then(|d| d["id"].as_i64()),
            Ok((status, _)) => return report.fail("delivery controls", format!("/deliveries answered {status}")),
            Err(error) => return report.fail("delivery controls", error),
        };
        let Some(id) = sent else {
            return report.fail("delivery controls", "the round trip's delivery is not listed as sent");
        };
        for action in ["retry", "dead-letter"] {
            let name = format!("{action} control");
            let path = format!("/deliveries/{id}/{action}");
            match self.post(&path, &json!({}), false).await {
                Ok((401, _)) => {}
                Ok((status, _)) => {
                    report.fail(&name, format!("answered {status} without the token"));
                    continue;
                }
                Err(error) => {
                    report.fail(&name, error);
                    continue;
                }
            }
            match self.post(&path, &json!({}), true).await {
                Ok((409, _)) => {
                    report.pass(&name, "refuses without the token, and leaves a delivered message alone (409)")
                }
                Ok((status, body)) => report.fail(&name, format!("answered {status} for a delivered message: {body}")),
                Err(error) => report.fail(&name, error),
            }
        }
    }
}
