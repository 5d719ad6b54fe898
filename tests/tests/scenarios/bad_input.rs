//! Hostile input: each gets its documented 4xx, nothing is stored, the gateway keeps serving.

use std::time::Duration;

use cowork_cloud::runtime::DemoRuntime;
use cowork_e2e::{DatabaseBackend, TestGateway, click, message, scenarios};

scenarios!(bad_requests_get_4xx_and_store_nothing);

async fn bad_requests_get_4xx_and_store_nothing(backend: DatabaseBackend) {
    let Some(gw) = TestGateway::builder(backend).configure(|c| c.max_request_body_bytes = 4096).start().await else {
        return;
    };
    let json = "application/json";
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("/webhooks/fake", b"{not json".to_vec(), 400, "invalid_payload"),
        ("/webhooks/fake", br#"{"id":"e1"}"#.to_vec(), 400, "invalid_payload"),
        ("/webhooks/fake", br#"{"id":"e2","text":42}"#.to_vec(), 400, "invalid_payload"),
        ("/webhooks/fake", br#"{"id":"e3","text":"x","chatId":"a\u0000b"}"#.to_vec(), 400, "invalid_payload"),
        (
            "/webhooks/fake",
            format!(r#"{{"id":"e4","text":"{}"}}"#, "x".repeat(5000)).into_bytes(),
            413,
            "payload_too_large",
        ),
        ("/webhooks/nope", br#"{"id":"e5","text":"x"}"#.to_vec(), 404, "unknown_provider"),
        ("/webhooks/fake", click("e6", "c", "NoSuchCode:y", "u").to_string().into_bytes(), 400, "interaction_unknown"),
        ("/webhooks/fake", br#"{"id":"e7","text":"/approve NoSuchCode"}"#.to_vec(), 400, "interaction_unknown"),
        ("/nowhere", b"{}".to_vec(), 404, "not_found"),
        ("/health", b"{}".to_vec(), 405, "method_not_allowed"),
    ];
    for (path, body, status, code) in cases {
        let (got, answer) = gw.post(path, json, body).await;
        assert_eq!((got, answer["error"].as_str()), (status, Some(code)), "{path}: {answer}");
        assert_eq!(answer["ok"], false);
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_inbox").await, 0, "nothing stored");

    // Still serving.
    assert_eq!(gw.post_fake(message("ok1", "chat-ok", "still there?")).await.0, 202);
    let expected = DemoRuntime::final_reply("still there?");
    gw.wait_for("chat-ok", "the reply", Duration::ZERO, |t| t["messages"][0]["text"] == expected.as_str()).await;
    gw.stop().await;
}
