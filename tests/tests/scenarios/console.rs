//! The operator console over HTTP, as a browser drives it: sign in with the admin token (a signed,
//! secure cookie), the bindings page, a dead delivery found by filters, its redrive previewed and
//! then done with the session's CSRF token, the delivery sent; refusals without a session or
//! without the CSRF token; outside text escaped; every page under a strict CSP.

use std::time::Duration;

use cowork_e2e::{DatabaseBackend, TestGateway, message, scenarios};
use cowork_gateway::config::{GatewayConfig, ProviderSettings};
use cowork_providers::fake::FakeSettings;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};

scenarios!(
    an_operator_signs_in_finds_a_dead_delivery_and_redrives_it,
    actions_need_a_session_and_its_csrf_token,
    sessions_and_the_approvals_waiting_for_an_answer_are_shown,
);

const TOKEN: &str = "console-admin-token-0123456789abcdef";

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// Signs in; the session cookie.
async fn sign_in(gw: &TestGateway, http: &reqwest::Client) -> String {
    let response = http
        .post(format!("{}/console/login", gw.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], "/console");
    let set_cookie = response.headers()[SET_COOKIE].to_str().expect("cookie").to_owned();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains(TOKEN), "the token is encoded, not written as it is: {set_cookie}");
    set_cookie.split(';').next().expect("pair").to_owned()
}

async fn get(gw: &TestGateway, http: &reqwest::Client, cookie: &str, path: &str) -> (u16, String) {
    let response = http.get(format!("{}{path}", gw.base)).header(COOKIE, cookie).send().await.expect("get");
    let csp = response.headers().get(CONTENT_SECURITY_POLICY).map(|v| v.to_str().unwrap_or_default().to_owned());
    assert!(csp.is_some_and(|csp| csp.starts_with("default-src 'none'")), "{path} without the CSP");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn post(gw: &TestGateway, http: &reqwest::Client, cookie: &str, path: &str, form: &str) -> (u16, String) {
    let response = http
        .post(format!("{}{path}", gw.base))
        .header(COOKIE, cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .expect("post");
    (response.status().as_u16(), response.text().await.expect("body"))
}

/// The value of the first `name="csrf"` field of a page.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().expect("value").to_owned()
}

fn failing_sends(config: &mut GatewayConfig) {
    // The first send is refused for good (400): the reply's first message is dead at once.
    config.providers[0].settings =
        ProviderSettings::Fake(FakeSettings { fail_first_sends: 1, fail_status: 400, ..FakeSettings::default() });
}

async fn an_operator_signs_in_finds_a_dead_delivery_and_redrives_it(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).admin_token(TOKEN).configure(failing_sends).start().await else {
        return;
    };
    let http = browser();
    // Without a session: the sign-in form; a wrong token is refused.
    let (status, page) = get(&gw, &http, "", "/console").await;
    assert_eq!(status, 401);
    assert!(page.contains("name=\"token\"") && page.contains("type=\"password\""), "{page}");
    let wrong = post(&gw, &http, "", "/console/login", "token=not-the-token").await;
    assert_eq!(wrong.0, 401);
    assert!(wrong.1.contains("That is not the admin token."));

    let cookie = sign_in(&gw, &http).await;
    assert_eq!(gw.post_fake(message("c1", "<b>chat</b>", "hello console")).await.0, 202);
    let dead = loop {
        let (_, page) = get(&gw, &http, &cookie, "/console/deliveries?state=dead&chat=%3Cb%3Echat%3C%2Fb%3E").await;
        if page.contains("dlv_") {
            break page;
        }
        gw.clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(dead.contains("&lt;b&gt;chat&lt;/b&gt;") && !dead.contains("<b>chat</b>"), "escaped: {dead}");
    assert!(dead.contains("HTTP 400") || dead.contains("400"), "the last error is shown: {dead}");

    // The reply's later edits die after the send they depend on: wait until nothing is open.
    let start = std::time::Instant::now();
    let mut quiet = 0;
    while quiet < 10 {
        let open =
            gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state IN ('queued', 'pending', 'claimed', 'failed')").await;
        quiet = if open == 0 { quiet + 1 } else { 0 };
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "deliveries never settled");
        gw.clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, bindings) = get(&gw, &http, &cookie, "/console").await;
    assert_eq!(status, 200);
    assert!(bindings.contains("<code>fake-binding</code>"), "{bindings}");
    assert!(bindings.contains("href=\"/console/deliveries?binding=fake-binding&amp;state=dead\""), "{bindings}");

    // The redrive is previewed first (a dry run changes nothing), then done.
    let (status, preview) = get(&gw, &http, &cookie, "/console/redrive?state=dead&binding=fake-binding").await;
    assert_eq!(status, 200);
    assert!(preview.contains("deliveries would go out again"), "{preview}");
    let dead_rows = gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state = 'dead'").await;
    assert!(dead_rows >= 1);
    let token = csrf(&preview);
    let form = format!("csrf={token}&state=dead&binding=fake-binding&limit=100");
    let (status, done) = post(&gw, &http, &cookie, "/console/redrive", &form).await;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains(&format!("{dead_rows} deliveries go out again now.")), "{done}");
    let start = std::time::Instant::now();
    while gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state <> 'sent'").await > 0 {
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "the redriven deliveries were never sent");
        gw.clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, none) = get(&gw, &http, &cookie, "/console/redrive?state=dead").await;
    assert!(none.contains("Nothing matches"), "{none}");

    // Signing out ends the cookie.
    let response = http
        .post(format!("{}/console/logout", gw.base))
        .header(COOKIE, &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status().as_u16(), 303);
    assert!(response.headers()[SET_COOKIE].to_str().unwrap_or_default().contains("Max-Age=0"));
    gw.stop().await;
}

async fn actions_need_a_session_and_its_csrf_token(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).admin_token(TOKEN).configure(failing_sends).start().await else {
        return;
    };
    let http = browser();
    assert_eq!(gw.post_fake(message("c2", "chat-2", "hello")).await.0, 202);
    let id = loop {
        let rows = gw.count("SELECT COALESCE(MIN(id), 0) FROM gw_outbox WHERE state = 'dead'").await;
        if rows > 0 {
            break rows;
        }
        gw.clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let path = format!("/console/deliveries/{id}/retry");
    // No session: the sign-in form, nothing changed.
    assert_eq!(post(&gw, &http, "", &path, "csrf=x").await.0, 401);
    // A forged cookie is no session.
    assert_eq!(post(&gw, &http, "occ_console=1.dG9rZW4.00", &path, "csrf=x").await.0, 401);
    let cookie = sign_in(&gw, &http).await;
    // A session without its CSRF token (or with another's): refused, nothing changed.
    assert_eq!(post(&gw, &http, &cookie, &path, "").await.0, 403);
    assert_eq!(post(&gw, &http, &cookie, &path, "csrf=0123").await.0, 403);
    assert_eq!(gw.count(&format!("SELECT COUNT(*) FROM gw_outbox WHERE id = {id} AND state = 'dead'")).await, 1);
    // With both: retried; a second retry of a row no longer dead says why not.
    let (_, detail) = get(&gw, &http, &cookie, &format!("/console/deliveries/{id}")).await;
    let token = csrf(&detail);
    assert!(detail.contains("Retry now"), "{detail}");
    let (status, page) = post(&gw, &http, &cookie, &path, &format!("csrf={token}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Retried"), "{page}");
    let (status, page) = post(&gw, &http, &cookie, &path, &format!("csrf={token}")).await;
    assert_eq!(status, 409, "{page}");
    // Bad input is said plainly.
    let (status, page) = get(&gw, &http, &cookie, "/console/deliveries?state=bogus&older=soon").await;
    assert_eq!(status, 200);
    assert!(page.contains("The state is one of") && page.contains("whole number of minutes"), "{page}");
    assert_eq!(get(&gw, &http, &cookie, "/console/deliveries/not-an-id").await.0, 400);
    assert_eq!(get(&gw, &http, &cookie, "/console/deliveries/999999").await.0, 404);
    assert_eq!(get(&gw, &http, &cookie, "/console/redrive?state=sent").await.0, 400);
    gw.stop().await;
}

async fn sessions_and_the_approvals_waiting_for_an_answer_are_shown(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).admin_token(TOKEN).start().await else { return };
    let http = browser();
    let cookie = sign_in(&gw, &http).await;
    assert_eq!(gw.post_fake(message("a1", "chat-<i>", "please deploy the site")).await.0, 202);
    let sessions = loop {
        let (status, page) = get(&gw, &http, &cookie, "/console/sessions").await;
        assert_eq!(status, 200);
        if page.contains("<td>approval</td>") {
            break page;
        }
        gw.clock.advance(Duration::from_millis(200));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(sessions.contains("Approval needed: demo.deploy"), "{sessions}");
    assert!(sessions.contains("chat-&lt;i&gt;") && !sessions.contains("chat-<i>"), "escaped: {sessions}");
    let at = sessions.find("href=\"/console/sessions/").expect("a session link") + "href=\"/console/sessions/".len();
    let session_id = sessions[at..].split('"').next().expect("id").to_owned();
    let (status, events) = get(&gw, &http, &cookie, &format!("/console/sessions/{session_id}")).await;
    assert_eq!(status, 200);
    for shown in ["prompt.submitted", "assistant.message", "permission.requested", "demo.deploy: Deploy the demo build"]
    {
        assert!(events.contains(shown), "{shown} missing: {events}");
    }
    assert_eq!(get(&gw, &http, &cookie, "/console/sessions/no-such-session").await.0, 404);
    // Without a session nothing is shown.
    assert_eq!(get(&gw, &http, "", "/console/sessions").await.0, 401);
    gw.stop().await;
}
