//! Ingress protection: per-source rate limits with `Retry-After`, sources behind trusted proxies.

use cowork_e2e::{DatabaseBackend, TestGateway, message, scenarios};

scenarios!(sources_over_their_rate_get_429_with_retry_after, trusted_proxies_name_the_source, slow_headers_are_cut_off);

async fn sources_over_their_rate_get_429_with_retry_after(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend)
        .configure(|c| {
            c.ingress.per_second = 1;
            c.ingress.burst = 2;
        })
        .start()
        .await
    else {
        return;
    };
    assert_eq!(gw.post_fake(message("r1", "chat-rl", "one")).await.0, 202);
    assert_eq!(gw.post_fake(message("r2", "chat-rl", "two")).await.0, 202);
    let response = gw
        .http
        .post(format!("{}/webhooks/fake", gw.base))
        .json(&message("r3", "chat-rl", "three"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_inbox WHERE provider_event_id = 'r3'").await, 0);
    gw.stop().await;
}

async fn trusted_proxies_name_the_source(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend)
        .configure(|c| {
            c.ingress.per_second = 1;
            c.ingress.burst = 1;
            c.ingress.proxies.trust_headers = true;
            c.ingress.proxies.trusted = vec!["127.0.0.0/8".parse().unwrap()];
        })
        .start()
        .await
    else {
        return;
    };
    let post = |id: &'static str, client: &'static str| {
        gw.http
            .post(format!("{}/webhooks/fake", gw.base))
            .header("x-forwarded-for", client)
            .json(&message(id, "chat-px", "hi"))
            .send()
    };
    assert_eq!(post("p1", "203.0.113.1").await.unwrap().status().as_u16(), 202);
    assert_eq!(post("p2", "203.0.113.2").await.unwrap().status().as_u16(), 202, "another client, its own limit");
    assert_eq!(post("p3", "203.0.113.1").await.unwrap().status().as_u16(), 429, "the first client is over");
    gw.stop().await;
}

async fn slow_headers_are_cut_off(backend: DatabaseBackend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(gw) = TestGateway::builder(backend)
        .configure(|c| c.server.header_read_timeout = std::time::Duration::from_millis(300))
        .start()
        .await
    else {
        return;
    };
    let addr = gw.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"POST /webhooks/fake HTTP/1.1\r\nHost: gateway\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(cowork_e2e::DEADLINE, stream.read_to_end(&mut buffer)).await;
    assert!(read.is_ok(), "the connection was never closed");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    gw.stop().await;
}
