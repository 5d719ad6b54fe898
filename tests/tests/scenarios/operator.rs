//! The operator API over HTTP: admin auth, listing and reading deliveries with their history,
//! retry with a fresh budget, dead-lettering, redrive (and its dry run), diagnostics, metrics.

use std::time::Duration;

use cowork_cloud::runtime::DemoRuntime;
use cowork_e2e::{DatabaseBackend, TestGateway, message, scenarios};
use cowork_gateway::config::{GatewayConfig, ProviderSettings};
use cowork_providers::fake::FakeSettings;
use serde_json::{Value, json};

scenarios!(
    operator_routes_refuse_requests_without_the_admin_token,
    loopback_bypass_admits_local_requests_but_not_forwarded_ones,
    deliveries_are_listed_and_read_with_their_attempt_history,
    a_dead_delivery_retried_by_the_operator_is_delivered_once_the_platform_recovers,
    dead_letter_and_retry_refuse_rows_in_the_wrong_state,
    diagnostics_show_redacted_config_providers_and_backlog,
    metrics_expose_every_declared_series_after_traffic,
    egress_explain_says_whether_and_why,
    due_commands_waiting_past_the_threshold_are_reported_stalled,
    ownership_shows_the_replica_and_its_bindings_and_a_release_moves_one,
);

const TOKEN: &str = "e2e-admin-token-0123456789";

fn failing(first: u64, status: u16, retry_after: Option<u64>) -> impl FnOnce(&mut GatewayConfig) {
    move |config| {
        config.providers[0].settings = ProviderSettings::Fake(FakeSettings {
            fail_first_sends: first,
            fail_status: status,
            fail_retry_after_seconds: retry_after,
            ..FakeSettings::default()
        });
    }
}

fn ids(list: &Value) -> Vec<i64> {
    list["deliveries"].as_array().into_iter().flatten().filter_map(|d| d["id"].as_i64()).collect()
}

/// Waits until no delivery has been open (pending, claimed or retrying) for several polls in a
/// row (the reply has finished streaming), moving the clock by `tick`.
async fn wait_until_settled(gw: &TestGateway, tick: Duration) {
    let start = std::time::Instant::now();
    let mut quiet = 0;
    loop {
        let open = gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state IN ('pending', 'claimed', 'failed')").await;
        let seen = gw.count("SELECT COUNT(*) FROM gw_outbox").await;
        quiet = if open == 0 && seen > 0 { quiet + 1 } else { 0 };
        if quiet >= 10 {
            return;
        }
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "deliveries never settled");
        gw.clock.advance(tick);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn operator_routes_refuse_requests_without_the_admin_token(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).start().await else { return };
    let (status, body) = gw.get("/deliveries").await;
    assert_eq!((status, body["ok"].clone(), body["error"].as_str()), (401, json!(false), Some("unauthorized")));
    assert!(body["message"].as_str().unwrap().contains("admin token is not configured"), "{body}");
    gw.stop().await;

    let Some(gw) = TestGateway::builder(backend).admin_token(TOKEN).start().await else { return };
    for path in ["/deliveries", "/deliveries/1", "/diagnostics", "/metrics"] {
        assert_eq!(gw.get(path).await.0, 401, "{path} without a token");
    }
    let url = format!("{}/deliveries", gw.base);
    let wrong = gw.http.get(&url).bearer_auth("not-the-token").send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let bearer = gw.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(bearer.status().as_u16(), 200);
    let header = gw.http.get(&url).header("x-open-cowork-gateway-admin-token", TOKEN).send().await.unwrap();
    assert_eq!(header.status().as_u16(), 200);
    let post = gw.http.post(format!("{}/deliveries/redrive", gw.base)).json(&json!({"dryRun": true}));
    assert_eq!(post.send().await.unwrap().status().as_u16(), 401, "POST routes are protected too");
    gw.stop().await;
}

async fn loopback_bypass_admits_local_requests_but_not_forwarded_ones(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).configure(|c| c.operator.allow_loopback_bypass = true).start().await
    else {
        return;
    };
    assert_eq!(gw.get("/deliveries").await.0, 200, "a plain loopback request");
    let url = format!("{}/deliveries", gw.base);
    for header in ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"] {
        let response = gw.http.get(&url).header(header, "127.0.0.1").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{header}");
    }
    let foreign_host = gw.http.get(&url).header("host", "gateway.example.com").send().await.unwrap();
    assert_eq!(foreign_host.status().as_u16(), 401, "a non-loopback Host");
    gw.stop().await;
}

async fn deliveries_are_listed_and_read_with_their_attempt_history(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).admin_token(TOKEN).start().await else { return };
    assert_eq!(gw.post_fake(message("l1", "chat-list", "hello")).await.0, 202);
    let expected = DemoRuntime::final_reply("hello");
    gw.wait_for("chat-list", "the reply", Duration::ZERO, |t| t["messages"][0]["text"] == expected.as_str()).await;
    wait_until_settled(&gw, Duration::ZERO).await;

    let (status, list) = gw.admin_get("/deliveries").await;
    assert_eq!(status, 200, "{list}");
    let all = ids(&list);
    assert!(all.len() >= 2 && all.windows(2).all(|w| w[0] > w[1]), "newest first: {list}");
    let newest = &list["deliveries"][0];
    for field in ["deliveryId", "channelBindingId", "providerId", "chatId", "operation", "state", "attempts"] {
        assert!(!newest[field].is_null(), "{field} missing: {newest}");
    }
    assert_eq!(newest["channelBindingId"], "fake-binding");
    assert_eq!(newest["state"], "sent");
    assert!(newest["createdAt"].as_i64().is_some() && newest["nextAttemptAt"].is_null(), "{newest}");
    assert_eq!(ids(&gw.admin_get("/deliveries?limit=1").await.1), vec![all[0]]);
    assert_eq!(ids(&gw.admin_get("/deliveries?status=sent&channelBindingId=fake-binding").await.1), all);
    assert!(ids(&gw.admin_get("/deliveries?status=retrying").await.1).is_empty());
    assert!(ids(&gw.admin_get("/deliveries?channelBindingId=elsewhere").await.1).is_empty());
    for bad in ["status=stuck", "limit=0", "limit=201", "limit=ten"] {
        let (status, body) = gw.admin_get(&format!("/deliveries?{bad}")).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{bad}: {body}");
    }

    let first = all[all.len() - 1];
    let (status, one) = gw.admin_get(&format!("/deliveries/dlv_{first}")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!((one["delivery"]["id"].as_i64(), one["delivery"]["operation"].as_str()), (Some(first), Some("send")));
    assert_eq!(
        one["attempts"],
        json!([{"attempt": 1, "at": one["attempts"][0]["at"], "outcome": "sent", "error": null}])
    );
    assert_eq!(gw.admin_get(&format!("/deliveries/{first}")).await.1["delivery"], one["delivery"]);
    assert_eq!(gw.admin_get("/deliveries/987654").await.0, 404);
    for action in ["retry", "dead-letter"] {
        let (status, body) = gw.admin_post(&format!("/deliveries/{first}/{action}"), json!({})).await;
        assert_eq!((status, body["error"].as_str()), (409, Some("conflict")), "{action} of a sent row: {body}");
    }
    assert_eq!(gw.admin_get("/deliveries/not-a-number").await.0, 400);
    gw.stop().await;
}

async fn a_dead_delivery_retried_by_the_operator_is_delivered_once_the_platform_recovers(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend)
        .admin_token(TOKEN)
        .configure(failing(2, 503, None))
        .configure(|c| c.workers.delivery_retry.attempt_budget = 2)
        .start()
        .await
    else {
        return;
    };
    assert_eq!(gw.post_fake(message("r1", "chat-retry", "come back")).await.0, 202);
    // The send fails twice and is dead; the edits of the message it never created die after it.
    wait_until_settled(&gw, Duration::from_secs(2)).await;
    let dead = ids(&gw.admin_get("/deliveries?status=dead").await.1);
    let send = *dead.iter().min().expect("dead rows");
    let (_, detail) = gw.admin_get(&format!("/deliveries/{send}")).await;
    assert_eq!(
        (detail["delivery"]["operation"].as_str(), detail["delivery"]["attempts"].as_i64()),
        (Some("send"), Some(2))
    );
    let outcomes: Vec<_> = detail["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].clone()).collect();
    assert_eq!(outcomes, vec![json!("retry"), json!("dead")]);
    assert!(detail["delivery"]["lastError"].as_str().unwrap().contains("attempt budget"), "{detail}");
    assert!(gw.messages("chat-retry").await.is_empty());

    let (status, retried) = gw.admin_post(&format!("/deliveries/dlv_{send}/retry"), json!({})).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(
        (retried["delivery"]["state"].as_str(), retried["delivery"]["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
    let detail =
        gw.wait_for_delivery(send, "the retried send", Duration::ZERO, |d| d["delivery"]["state"] == "sent").await;
    let last = detail["attempts"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!((last["attempt"].as_i64(), last["outcome"].as_str()), (Some(1), Some("sent")), "a fresh budget");
    assert_eq!(gw.messages("chat-retry").await.len(), 1);

    // The edits that died behind it: a dry run lists them and changes nothing; the redrive delivers them.
    let mut edits: Vec<i64> = dead.iter().copied().filter(|id| *id != send).collect();
    edits.sort_unstable();
    let (status, dry) = gw.admin_post("/deliveries/redrive", json!({"dryRun": true})).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!((dry["dryRun"].as_bool(), dry["ids"].clone()), (Some(true), json!(edits)));
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state = 'dead'").await, edits.len() as i64);
    let (status, done) = gw.admin_post("/deliveries/redrive", json!({"status": "dead"})).await;
    assert_eq!((status, done["ids"].clone()), (200, json!(edits)), "{done}");
    let expected = DemoRuntime::final_reply("come back");
    gw.wait_for("chat-retry", "the redriven edits", Duration::ZERO, |t| t["messages"][0]["text"] == expected.as_str())
        .await;
    assert_eq!(gw.messages("chat-retry").await.len(), 1, "edits, not new messages");
    gw.stop().await;
}

async fn dead_letter_and_retry_refuse_rows_in_the_wrong_state(backend: DatabaseBackend) {
    let Some(gw) =
        TestGateway::builder(backend).admin_token(TOKEN).configure(failing(1_000, 429, Some(3_600))).start().await
    else {
        return;
    };
    assert_eq!(gw.post_fake(message("w1", "chat-wrong", "stuck")).await.0, 202);
    let start = std::time::Instant::now();
    while gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state = 'failed'").await == 0 {
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "no failed delivery");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failed = ids(&gw.admin_get("/deliveries?status=failed").await.1)[0];
    let path = format!("/deliveries/{failed}");
    let (status, body) = gw.admin_post(&format!("{path}/retry"), json!({})).await;
    assert_eq!((status, body["delivery"]["attempts"].as_i64()), (200, Some(0)), "{body}");
    // The platform asked for an hour's pause for this chat, so the retried row is held
    // (deferred, no attempt spent) rather than sent again at once.
    gw.wait_for_delivery(failed, "the held retry", Duration::ZERO, |d| {
        d["attempts"].as_array().is_some_and(|a| a.iter().any(|x| x["outcome"] == "deferred"))
            && d["delivery"]["state"] == "pending"
    })
    .await;
    let (status, body) = gw.admin_post(&format!("{path}/dead-letter"), json!({"channelBindingId": "other"})).await;
    assert_eq!(status, 404, "another binding's delivery is not found: {body}");
    let (status, body) = gw.admin_post(&format!("{path}/dead-letter"), json!({"reason": "platform gone"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["delivery"]["state"], "dead");
    assert_eq!(body["delivery"]["lastError"], "dead-lettered by an operator: platform gone");
    let (status, body) = gw.admin_post(&format!("{path}/dead-letter"), json!({})).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")), "{body}");
    assert_eq!(gw.admin_post("/deliveries/424242/retry", json!({})).await.0, 404);
    let (status, body) = gw.admin_post("/deliveries/redrive", json!({"dryrun": true})).await;
    assert_eq!(status, 400, "a misspelt field is refused, not ignored: {body}");
    assert_eq!(gw.admin_post("/deliveries/redrive", json!({"status": "sent"})).await.0, 400);
    gw.stop().await;
}

async fn diagnostics_show_redacted_config_providers_and_backlog(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend)
        .admin_token(TOKEN)
        .configure(failing(1_000, 503, None))
        .configure(|c| c.workers.delivery_retry.attempt_budget = 1)
        .start()
        .await
    else {
        return;
    };
    assert_eq!(gw.post_fake(message("g1", "chat-diag", "hi")).await.0, 202);
    wait_until_settled(&gw, Duration::ZERO).await;
    let (status, diag) = gw.admin_get("/diagnostics").await;
    assert_eq!(status, 200, "{diag}");
    assert_eq!(diag["config"]["operator"]["adminToken"], "***");
    assert_eq!(diag["providers"], json!([{"id": "fake", "kind": "fake", "state": "healthy"}]));
    let backlog = &diag["backlog"][0];
    assert_eq!(backlog["channelBindingId"], "fake-binding");
    assert!(backlog["dead"].as_u64().unwrap() >= 1, "{diag}");
    assert_eq!((backlog["pending"].as_u64(), backlog["retrying"].as_u64()), (Some(0), Some(0)));
    assert!(backlog["oldestOpenAgeMs"].is_null(), "nothing open: {diag}");
    assert!(!diag.to_string().contains(TOKEN));
    gw.stop().await;
}

async fn metrics_expose_every_declared_series_after_traffic(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).admin_token(TOKEN).start().await else { return };
    assert_eq!(gw.post_fake(message("x1", "chat-metrics", "count me")).await.0, 202);
    assert_eq!(gw.post("/webhooks/fake", "application/json", b"{nope".to_vec()).await.0, 400);
    assert_eq!(gw.post("/webhooks/nope", "application/json", b"{}".to_vec()).await.0, 404);
    let expected = DemoRuntime::final_reply("count me");
    gw.wait_for("chat-metrics", "the reply", Duration::ZERO, |t| t["messages"][0]["text"] == expected.as_str()).await;
    let (status, content_type, text) = gw.admin_text("/metrics").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    for name in [
        "open_cowork_gateway_provider_state",
        "open_cowork_gateway_provider_delivery_retries_total",
        "open_cowork_gateway_provider_delivery_dead_letters_total",
        "open_cowork_gateway_provider_deliveries_sent_total",
        "open_cowork_gateway_inbound_accepted_total",
        "open_cowork_gateway_inbound_rejected_total",
        "open_cowork_gateway_ack_seconds",
        "open_cowork_gateway_delivery_backlog",
        "open_cowork_gateway_delivery_oldest_open_age_seconds",
    ] {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} not declared in\n{text}");
    }
    for line in [
        r#"open_cowork_gateway_inbound_accepted_total{provider="fake"} 1"#,
        r#"open_cowork_gateway_inbound_rejected_total{provider="fake",reason="invalid_payload"} 1"#,
        r#"open_cowork_gateway_inbound_rejected_total{provider="_unknown",reason="unknown_provider"} 1"#,
        r#"open_cowork_gateway_ack_seconds_count{provider="fake"} 1"#,
        r#"open_cowork_gateway_provider_state{provider="fake",kind="fake",state="healthy"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("open_cowork_gateway_provider_deliveries_sent_total{provider=\"fake\"} 0"), "{text}");
    gw.stop().await;
}

async fn egress_explain_says_whether_and_why(backend: DatabaseBackend) {
    let receiver = cowork_e2e::WebhookReceiver::start().await;
    let Some(gw) = TestGateway::builder(backend).admin_token(TOKEN).webhook(&receiver.url).start().await else {
        return;
    };
    let explain = |url: &str, provider: Option<&str>| {
        let mut path = format!("/egress/explain?url={}", urlencode(url));
        if let Some(provider) = provider {
            path.push_str(&format!("&providerId={provider}"));
        }
        path
    };
    let (status, body) = gw.admin_get(&explain("http://169.254.169.254/latest/meta-data", None)).await;
    assert_eq!(
        (status, body["allowed"].as_bool(), body["code"].as_str()),
        (200, Some(false), Some("metadata_address"))
    );
    assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let (_, body) = gw.admin_get(&explain("http://127.0.0.1:9/hook", None)).await;
    assert_eq!(body["allowed"], false, "plain http to loopback needs private delivery: {body}");
    let (_, body) = gw.admin_get(&explain("http://127.0.0.1:9/hook", Some("webhook"))).await;
    assert_eq!(body["allowed"], true, "the webhook provider allows private delivery: {body}");
    let (_, body) = gw.admin_get(&explain("https://user:pw@10.0.0.1/x", None)).await;
    assert_eq!(body["allowed"], false);
    assert!(!body.to_string().contains("pw@"), "credentials in the URL are not echoed: {body}");
    assert_eq!(gw.admin_get("/egress/explain").await.0, 400);
    assert_eq!(gw.admin_get(&explain("https://example.com", Some("nope"))).await.0, 404);
    let anonymous = gw.get(&explain("https://example.com", None)).await;
    assert_eq!(anonymous.0, 401);
    gw.stop().await;
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// With one run slot held by a slow turn, a prompt in another thread is due but not run: the
/// backlog shows it, and once it has waited past the threshold `/ready` (still 200: acceptance
/// works), `/diagnostics` and `/metrics` say the commands are stalled; stopping the slow turn
/// lets it run and clears the report.
async fn due_commands_waiting_past_the_threshold_are_reported_stalled(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend)
        .admin_token(TOKEN)
        .configure(|config| {
            config.cloud.session_concurrency = 1;
            config.cloud.demo_delta_interval = Duration::from_secs(3600);
            config.cloud.command_stall = Duration::from_secs(60);
            // The slow turn's lease outlives the jump of the clock: it is running, not due.
            config.workers.lease = Duration::from_secs(600);
        })
        .start()
        .await
    else {
        return;
    };
    assert_eq!(gw.post_fake(message("slow", "chat-slow", "take your time")).await.0, 202);
    gw.wait_for("chat-slow", "the first snapshot", Duration::ZERO, |t| !t["messages"][0]["text"].is_null()).await;
    assert_eq!(gw.post_fake(message("due", "chat-due", "my turn")).await.0, 202);
    let deadline = tokio::time::Instant::now() + cowork_e2e::DEADLINE;
    loop {
        let (_, body) = gw.get("/ready").await;
        if body["sessionCommands"]["runnable"] == 1 {
            assert_eq!(body["checks"]["sessionCommands"], "ok", "{body}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the prompt never became due: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    gw.clock.advance(Duration::from_secs(61));
    let (status, ready) = gw.get("/ready").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["checks"]["sessionCommands"], "stalled", "{ready}");
    assert!(ready["sessionCommands"]["oldestRunnableAgeMs"].as_u64() >= Some(61_000), "{ready}");
    let (_, diagnostics) = gw.admin_get("/diagnostics").await;
    let commands = &diagnostics["sessionCommands"];
    assert_eq!((commands["runnable"].as_u64(), commands["stalled"].as_bool()), (Some(1), Some(true)), "{commands}");
    assert_eq!(commands["stallThresholdMs"], 60_000);
    let (_, _, text) = gw.admin_text("/metrics").await;
    assert!(text.contains("open_cowork_gateway_session_commands_runnable 1\n"), "{text}");
    let age = text
        .lines()
        .find_map(|line| line.strip_prefix("open_cowork_gateway_session_command_oldest_runnable_age_seconds "))
        .and_then(|value| value.parse::<f64>().ok());
    assert!(age.is_some_and(|age| age >= 61.0), "{text}");

    assert_eq!(gw.post_fake(message("stop", "chat-slow", "/stop")).await.0, 202);
    let first_sentence = "You said: \"my turn\".";
    gw.wait_for("chat-due", "the first sentence", Duration::ZERO, |t| t["messages"][0]["text"] == first_sentence).await;
    let (_, ready) = gw.get("/ready").await;
    assert_eq!(ready["checks"]["sessionCommands"], "ok", "{ready}");
    assert_eq!(ready["sessionCommands"]["runnable"], 0, "{ready}");
    assert_eq!(gw.post_fake(message("stop-due", "chat-due", "/stop")).await.0, 202);
    gw.wait_for("chat-due", "the stop notice", Duration::ZERO, |t| t["messages"][1]["text"] == "Stopped.").await;
    gw.stop().await;
}

async fn ownership_shows_the_replica_and_its_bindings_and_a_release_moves_one(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend)
        .admin_token(TOKEN)
        .configure(|c| c.ownership.instance_id = "gw-one".into())
        .start()
        .await
    else {
        return;
    };
    let (status, owned) = gw.admin_get("/ownership").await;
    assert_eq!(status, 200, "{owned}");
    assert_eq!((owned["instanceId"].as_str(), owned["fenced"].as_bool()), (Some("gw-one"), Some(false)));
    assert_eq!(owned["members"][0]["instanceId"], "gw-one", "{owned:#}");
    assert_eq!(
        (owned["members"][0]["live"].as_bool(), owned["members"][0]["self"].as_bool()),
        (Some(true), Some(true))
    );
    let binding = &owned["bindings"][0];
    assert_eq!(
        (binding["channelBindingId"].as_str(), binding["owner"].as_str()),
        (Some("fake-binding"), Some("gw-one"))
    );
    assert_eq!((binding["epoch"].as_i64(), binding["heldHere"].as_bool()), (Some(1), Some(true)), "{owned:#}");
    assert!(binding["leaseRemainingMs"].as_i64().is_some_and(|ms| ms > 0 && ms <= 15_000), "{owned:#}");
    let (_, diagnostics) = gw.admin_get("/diagnostics").await;
    assert_eq!(diagnostics["ownership"]["held"], json!([{"channelBindingId": "fake-binding", "epoch": 1}]));

    // Released with no other replica live, it comes back here under a new epoch.
    let (status, moved) = gw.admin_post("/ownership/fake-binding/release", json!({})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!((moved["epoch"].as_i64(), moved["movedFrom"].as_str()), (Some(2), Some("gw-one")));
    let started = std::time::Instant::now();
    loop {
        let (_, owned) = gw.admin_get("/ownership").await;
        if owned["bindings"][0]["heldHere"] == true {
            assert_eq!(owned["bindings"][0]["epoch"], 3, "{owned:#}");
            break;
        }
        assert!(started.elapsed() < cowork_e2e::DEADLINE, "never taken back: {owned:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, missing) = gw.admin_post("/ownership/nope/release", json!({})).await;
    assert_eq!(status, 404, "{missing}");
    let (_, _, metrics) = gw.admin_text("/metrics").await;
    assert!(metrics.contains("open_cowork_gateway_owned_bindings 1"), "{metrics}");
    assert!(metrics.contains("open_cowork_gateway_fenced_writes_refused_total 1"), "{metrics}");
    assert!(metrics.contains("open_cowork_gateway_ownership_changes_total "), "{metrics}");
    gw.stop().await;
}
