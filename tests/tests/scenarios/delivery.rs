//! Delivery failures: retries honour `Retry-After`, a lane stays ordered, the budget dead-letters.

use std::time::Duration;

use cowork_cloud::runtime::DemoRuntime;
use cowork_e2e::{DatabaseBackend, TestGateway, message, scenarios};
use cowork_gateway::config::ProviderSettings;
use cowork_providers::fake::FakeSettings;

scenarios!(
    failed_sends_retry_after_the_platforms_delay_and_keep_order,
    sends_dead_letter_after_the_attempt_budget,
    open_circuit_defers_without_spending_attempts,
    refused_credentials_hold_deliveries_and_mark_the_provider_unhealthy,
    a_platform_slowdown_holds_the_whole_chat
);

fn failing(
    first: u64,
    status: u16,
    retry_after: Option<u64>,
) -> impl FnOnce(&mut cowork_gateway::config::GatewayConfig) {
    move |config| {
        config.providers[0].settings = ProviderSettings::Fake(FakeSettings {
            fail_first_sends: first,
            fail_status: status,
            fail_retry_after_seconds: retry_after,
            ..FakeSettings::default()
        });
    }
}

async fn failed_sends_retry_after_the_platforms_delay_and_keep_order(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).configure(failing(3, 429, Some(30))).start().await else { return };
    assert_eq!(gw.post_fake(message("r1", "chat-rt", "first")).await.0, 202);
    // Wait for the first failure to be recorded with its Retry-After.
    let start = std::time::Instant::now();
    while gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state = 'failed'").await == 0 {
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "no failed delivery recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing is delivered before the platform's 30 s have passed on the gateway's clock.
    gw.clock.advance(Duration::from_secs(29));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(gw.messages("chat-rt").await.is_empty());
    let expected = DemoRuntime::final_reply("first");
    gw.wait_for("chat-rt", "delivery after the retries", Duration::from_secs(31), |t| {
        t["messages"][0]["text"] == expected.as_str()
    })
    .await;
    let entries = gw.transcript("chat-rt").await["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.first().map(|e| e["operation"].clone()), Some("send".into()), "the send came before its edits");
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state = 'dead'").await, 0);
    gw.stop().await;
}

async fn sends_dead_letter_after_the_attempt_budget(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend)
        .configure(failing(1_000, 503, None))
        .configure(|c| c.workers.delivery_retry.attempt_budget = 3)
        .start()
        .await
    else {
        return;
    };
    assert_eq!(gw.post_fake(message("d1", "chat-dl", "doomed")).await.0, 202);
    let start = std::time::Instant::now();
    while gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state = 'dead'").await == 0 {
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "never dead-lettered");
        gw.clock.advance(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gw.count("SELECT MAX(attempts) FROM gw_outbox WHERE state = 'dead'").await, 3);
    assert_eq!(
        gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state = 'dead' AND last_error LIKE '%attempt budget%'").await,
        1
    );
    assert!(gw.messages("chat-dl").await.is_empty());
    gw.stop().await;
}

async fn open_circuit_defers_without_spending_attempts(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend)
        .configure(failing(3, 503, None))
        .configure(|c| {
            c.workers.delivery_retry.attempt_budget = 4;
            c.workers.circuit.failure_threshold = 2;
            c.workers.circuit.cooldown_ms = 60_000;
        })
        .start()
        .await
    else {
        return;
    };
    assert_eq!(gw.post_fake(message("cb1", "chat-cb", "through the breaker")).await.0, 202);
    let attempts = "SELECT COALESCE(MAX(attempts), 0) FROM gw_outbox";
    let start = std::time::Instant::now();
    while gw.count(attempts).await < 2 {
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "two failures never happened");
        gw.clock.advance(Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The circuit is open: time passes beyond every backoff, but no attempt is spent.
    for _ in 0..5 {
        gw.clock.advance(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(gw.count(attempts).await, 2, "an open circuit spends no attempts");
    let expected = DemoRuntime::final_reply("through the breaker");
    gw.wait_for("chat-cb", "delivery once the circuit closes", Duration::from_secs(30), |t| {
        t["messages"][0]["text"] == expected.as_str()
    })
    .await;
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state = 'dead'").await, 0);
    gw.stop().await;
}

async fn refused_credentials_hold_deliveries_and_mark_the_provider_unhealthy(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend)
        .configure(failing(1, 401, None))
        .admin_token("e2e-admin-token-credentials")
        .start()
        .await
    else {
        return;
    };
    assert_eq!(gw.post_fake(message("cr1", "chat-cr", "who am I")).await.0, 202);
    let start = std::time::Instant::now();
    loop {
        let (_, diagnostics) = gw.admin_get("/diagnostics").await;
        let rejected = diagnostics["circuits"]
            .as_array()
            .is_some_and(|all| all.iter().any(|c| c["state"] == "credentials-rejected"));
        if rejected {
            break;
        }
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "credentials never marked rejected: {diagnostics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Time passes; nothing is sent, nothing dies, no attempt is spent.
    for _ in 0..3 {
        gw.clock.advance(Duration::from_secs(120));
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(gw.messages("chat-cr").await.is_empty());
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state = 'dead'").await, 0);
    assert_eq!(gw.count("SELECT COALESCE(MAX(attempts), 0) FROM gw_outbox").await, 0);
    let (_, _, metrics) = gw.admin_text("/metrics").await;
    assert!(
        metrics.lines().any(|l| l.starts_with("open_cowork_gateway_provider_state")
            && l.contains("state=\"unhealthy\"")
            && l.ends_with(" 1")),
        "{metrics}"
    );
    gw.stop().await;
}

async fn a_platform_slowdown_holds_the_whole_chat(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).configure(failing(1, 429, Some(30))).start().await else { return };
    let first = serde_json::json!({"id": "h1", "chatId": "chat-hold", "threadId": "one", "text": "first"});
    assert_eq!(gw.post_fake(first).await.0, 202);
    let start = std::time::Instant::now();
    while gw.count("SELECT COUNT(*) FROM gw_outbox WHERE state = 'failed'").await == 0 {
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "no 429 recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = serde_json::json!({"id": "h2", "chatId": "chat-hold", "threadId": "two", "text": "second"});
    assert_eq!(gw.post_fake(second).await.0, 202);
    while gw.count("SELECT COUNT(*) FROM gw_outbox WHERE thread_id = 'two'").await == 0 {
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "the second reply was never rendered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(gw.messages("chat-hold").await.is_empty(), "the other thread of the chat waits too");
    assert_eq!(gw.count("SELECT COALESCE(MAX(attempts), 0) FROM gw_outbox WHERE thread_id = 'two'").await, 0);
    gw.wait_for("chat-hold", "both replies after the hold", Duration::from_secs(31), |t| {
        t["messages"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    gw.stop().await;
}
