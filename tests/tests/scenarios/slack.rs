//! Slack end to end against a local mock of the Web API: signed Events API traffic, threaded
//! replies edited at Slack's pace, deduped retries, approval buttons decided from Block Kit.

use std::time::{Duration, Instant};

use cowork_cloud::runtime::DemoRuntime;
use cowork_e2e::{DatabaseBackend, SLACK_TEAM, SlackCall, SlackMock, TestGateway, scenarios};
use serde_json::{Value, json};

scenarios!(
    reports_are_uploaded_into_the_thread,
    mention_gets_a_threaded_reply_edited_at_slack_pace,
    retries_are_acknowledged_once_and_challenges_answered,
    foreign_teams_and_bad_signatures_are_refused,
    approval_buttons_are_decided_and_updated
);

fn mention(event_id: &str, ts: &str, text: &str, team: &str) -> Vec<u8> {
    json!({
        "type": "event_callback", "team_id": team, "event_id": event_id,
        "event": {"type": "app_mention", "user": "U1", "text": format!("<@UBOT> {text}"), "ts": ts, "channel": "C1", "channel_type": "channel"},
    })
    .to_string()
    .into_bytes()
}

async fn wait_calls(
    gw: &TestGateway,
    mock: &SlackMock,
    what: &str,
    done: impl Fn(&[SlackCall]) -> bool,
) -> Vec<SlackCall> {
    let start = Instant::now();
    loop {
        let calls = mock.calls();
        if done(&calls) {
            return calls;
        }
        assert!(start.elapsed() < cowork_e2e::DEADLINE, "timed out waiting for {what}: {calls:#?}");
        // Slack is paced at one update per second of the gateway's clock.
        gw.clock.advance(Duration::from_millis(500));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn mention_gets_a_threaded_reply_edited_at_slack_pace(backend: DatabaseBackend) {
    let mock = SlackMock::start().await;
    let Some(gw) = TestGateway::builder(backend).slack(&mock.api_base_url).start().await else { return };
    let (status, _) = gw
        .post_slack(
            &mention("Ev1", "1700000001.000100", "hello there", SLACK_TEAM),
            "application/json",
            gw.now_secs(),
            &[],
        )
        .await;
    assert!(status == 200 || status == 202, "{status}");
    let expected = cowork_providers::slack::to_mrkdwn(&DemoRuntime::final_reply("hello there"));
    let calls =
        wait_calls(&gw, &mock, "the final text", |calls| calls.iter().any(|c| c.body["text"] == expected.as_str()))
            .await;
    let first = &calls[0];
    assert_eq!(first.method, "chat.postMessage");
    assert_eq!(first.body["channel"], "C1");
    assert_eq!(first.body["thread_ts"], "1700000001.000100", "the reply goes into the message's thread");
    let updates: Vec<&SlackCall> = calls.iter().filter(|c| c.method == "chat.update").collect();
    assert!(updates.iter().all(|u| u.body["ts"] == "1700000000.000001"), "every update edits the one reply");
    assert!(updates.len() < 5, "snapshots that a later one replaced were skipped: {} updates", updates.len());
    assert_eq!(calls.iter().filter(|c| c.method == "chat.postMessage").count(), 1);
    gw.stop().await;
}

async fn retries_are_acknowledged_once_and_challenges_answered(backend: DatabaseBackend) {
    let mock = SlackMock::start().await;
    let Some(gw) = TestGateway::builder(backend).slack(&mock.api_base_url).start().await else { return };
    let challenge = json!({"type": "url_verification", "token": "x", "challenge": "abc123"}).to_string();
    let (status, body) = gw.post_slack(challenge.as_bytes(), "application/json", gw.now_secs(), &[]).await;
    assert_eq!((status, body["challenge"].as_str()), (200, Some("abc123")));
    let event = mention("EvR", "1700000002.000200", "once please", SLACK_TEAM);
    let first = gw.post_slack(&event, "application/json", gw.now_secs(), &[]).await.0;
    let retry = gw
        .post_slack(
            &event,
            "application/json",
            gw.now_secs(),
            &[("x-slack-retry-num", "1"), ("x-slack-retry-reason", "http_timeout")],
        )
        .await
        .0;
    assert!(first < 300 && retry < 300, "{first} {retry}");
    let expected = cowork_providers::slack::to_mrkdwn(&DemoRuntime::final_reply("once please"));
    wait_calls(&gw, &mock, "the reply", |calls| calls.iter().any(|c| c.body["text"] == expected.as_str())).await;
    assert_eq!(gw.count("SELECT COUNT(*) FROM cloud_commands").await, 1, "the retry was not processed again");
    let unknown = json!({"type": "event_callback", "team_id": SLACK_TEAM, "event_id": "EvX", "event": {"type": "reaction_added"}});
    let ts = gw.now_secs();
    assert!(gw.post_slack(unknown.to_string().as_bytes(), "application/json", ts, &[]).await.0 < 300);
    let (status, replay) = gw.post_slack(unknown.to_string().as_bytes(), "application/json", ts, &[]).await;
    assert_eq!((status, replay["error"].as_str()), (401, Some("replayed")), "the same signed request twice");
    gw.stop().await;
}

async fn foreign_teams_and_bad_signatures_are_refused(backend: DatabaseBackend) {
    let mock = SlackMock::start().await;
    let Some(gw) = TestGateway::builder(backend).slack(&mock.api_base_url).start().await else { return };
    let (status, body) =
        gw.post_slack(&mention("EvF", "1.1", "hi", "TOTHER"), "application/json", gw.now_secs(), &[]).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("workspace_mismatch")));
    let stale =
        gw.post_slack(&mention("EvS", "1.2", "hi", SLACK_TEAM), "application/json", gw.now_secs() - 301, &[]).await;
    assert_eq!(stale.0, 401);
    let url = format!("{}/webhooks/slack", gw.base);
    let unsigned = gw.http.post(&url).body(mention("EvU", "1.3", "hi", SLACK_TEAM)).send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    let not_slack = gw.post_slack(b"[1, 2, 3]", "application/json", gw.now_secs(), &[]).await;
    assert_eq!(not_slack.0, 400);
    assert_eq!(gw.count("SELECT COUNT(*) FROM gw_inbox").await, 0);
    gw.stop().await;
}

async fn approval_buttons_are_decided_and_updated(backend: DatabaseBackend) {
    let mock = SlackMock::start().await;
    let Some(gw) = TestGateway::builder(backend).slack(&mock.api_base_url).start().await else { return };
    gw.post_slack(
        &mention("EvA", "1700000003.000300", "please deploy", SLACK_TEAM),
        "application/json",
        gw.now_secs(),
        &[],
    )
    .await;
    let buttons_of = |c: &SlackCall| -> Vec<Value> {
        c.body["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    let calls =
        wait_calls(&gw, &mock, "approval buttons", |calls| calls.iter().any(|c| !buttons_of(c).is_empty())).await;
    let asked = calls.iter().find(|c| !buttons_of(c).is_empty()).unwrap().clone();
    let approve = buttons_of(&asked)[0]["value"].as_str().unwrap().to_owned();
    let payload = json!({
        "type": "block_actions", "team": {"id": SLACK_TEAM}, "user": {"id": "U7", "username": "grace"},
        "channel": {"id": "C1"}, "message": {"ts": "1700000000.000003", "thread_ts": "1700000003.000300"},
        "container": {"type": "message", "channel_id": "C1", "thread_ts": "1700000003.000300"},
        "trigger_id": "trig-1", "actions": [{"action_id": "oc_0", "value": approve, "action_ts": "1700000004.1"}],
    });
    let form = format!("payload={}", urlencode(&payload.to_string()));
    let (status, _) = gw.post_slack(form.as_bytes(), "application/x-www-form-urlencoded", gw.now_secs(), &[]).await;
    assert!(status < 300, "{status}");
    let ts = asked.body["ts"].as_str().map(str::to_owned);
    wait_calls(&gw, &mock, "the decided update", |calls| {
        calls.iter().any(|c| {
            c.method == "chat.update"
                && c.body["text"].as_str().is_some_and(|t| t.contains("Approved by grace"))
                && buttons_of(c).is_empty()
                && (ts.is_none() || c.body["ts"].as_str() == ts.as_deref())
        })
    })
    .await;
    gw.stop().await;
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn reports_are_uploaded_into_the_thread(backend: DatabaseBackend) {
    let mock = SlackMock::start().await;
    let Some(gw) = TestGateway::builder(backend).slack(&mock.api_base_url).start().await else { return };
    gw.post_slack(
        &mention("EvFile", "1700000005.000500", "a report please", SLACK_TEAM),
        "application/json",
        gw.now_secs(),
        &[],
    )
    .await;
    let calls =
        wait_calls(&gw, &mock, "the upload", |calls| calls.iter().any(|c| c.method == "files.completeUploadExternal"))
            .await;
    let methods: Vec<&str> =
        calls.iter().map(|c| c.method.as_str()).filter(|m| m.starts_with("files") || *m == "upload").collect();
    assert_eq!(methods, ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]);
    let uploaded = calls.iter().find(|c| c.method == "upload").unwrap();
    assert!(uploaded.body["bytes"].as_str().is_some_and(|b| b.starts_with("# Demo report")));
    let complete = calls.iter().find(|c| c.method == "files.completeUploadExternal").unwrap();
    assert_eq!(
        (complete.body["channel_id"].as_str(), complete.body["thread_ts"].as_str()),
        (Some("C1"), Some("1700000005.000500"))
    );
    assert_eq!(complete.body["files"][0]["title"], "demo-report.md");
    gw.stop().await;
}
