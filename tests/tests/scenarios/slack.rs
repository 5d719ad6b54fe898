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

const OPERATOR_TOKEN: &str = "e2e-admin-token-0123456789";

/// Three replicas on one Postgres, messages arriving at all three: the channel's binding is
/// worked by one of them, so the channel stays within Slack's pace (one new message per channel
/// and one update per message per second), as with one replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_replicas_keep_a_slack_channel_within_its_budget() {
    let clock = cowork_cloud::ManualClock::new();
    let mock = SlackMock::start_timed(clock.clone()).await;
    let replica = |id: &str| {
        let id = id.to_owned();
        TestGateway::builder(DatabaseBackend::Postgres)
            .admin_token(OPERATOR_TOKEN)
            .slack(&mock.api_base_url)
            .clock(clock.clone())
            .configure(move |c| c.ownership.instance_id = id)
    };
    let Some(first) = replica("gw-1").start().await else { return };
    let second = replica("gw-2").start_beside(&first).await;
    let third = replica("gw-3").start_beside(&first).await;
    let replicas = [&first, &second, &third];
    // Pace is per process and starts empty on a binding's new owner, so measure the steady
    // state: once every replica has joined and the bindings stopped moving.
    let started = Instant::now();
    let mut last = (Value::Null, 0);
    loop {
        let (_, owned) = first.admin_get("/ownership").await;
        let live = owned["members"].as_array().map_or(0, |m| m.iter().filter(|m| m["live"] == true).count());
        let owners: Value = owned["bindings"].as_array().into_iter().flatten().map(|b| b["owner"].clone()).collect();
        let all_owned = owners.as_array().is_some_and(|o| o.iter().all(Value::is_string));
        last = if live == 3 && all_owned && owners == last.0 { (owners, last.1 + 1) } else { (owners, 0) };
        // Unchanged over more than two ownership rounds (one a second).
        if last.1 >= 5 {
            break;
        }
        assert!(started.elapsed() < cowork_e2e::DEADLINE, "ownership never settled: {owned:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let texts = ["first thread", "second thread", "third thread", "fourth thread", "fifth thread"];
    for (n, (gw, text)) in replicas.iter().cycle().zip(texts).enumerate() {
        let body = mention(&format!("Ev{n}"), &format!("1700000001.00010{n}"), text, SLACK_TEAM);
        let (status, _) = gw.post_slack(&body, "application/json", gw.now_secs(), &[]).await;
        assert!(status == 200 || status == 202, "{status}");
    }
    let finals: Vec<String> =
        texts.iter().map(|t| cowork_providers::slack::to_mrkdwn(&DemoRuntime::final_reply(t))).collect();
    let calls = wait_calls(&first, &mock, "every final text", |calls| {
        finals.iter().all(|f| calls.iter().any(|c| c.body["text"] == f.as_str()))
    })
    .await;

    let posts: Vec<i64> = calls.iter().filter(|c| c.method == "chat.postMessage").map(|c| c.at_ms).collect();
    assert_eq!(posts.len(), texts.len(), "{calls:#?}");
    for pair in posts.windows(2) {
        assert!(pair[1] - pair[0] >= 1_000, "new messages in C1 faster than one per second: {posts:?}");
    }
    let mut updates: std::collections::HashMap<String, Vec<i64>> = std::collections::HashMap::new();
    for call in calls.iter().filter(|c| c.method == "chat.update") {
        updates.entry(call.body["ts"].as_str().unwrap_or_default().to_owned()).or_default().push(call.at_ms);
    }
    assert!(!updates.is_empty(), "replies are streamed: {calls:#?}");
    for (ts, times) in &updates {
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= 1_000, "message {ts} updated faster than once a second: {times:?}");
        }
    }
    for gw in [third, second, first] {
        gw.stop().await;
    }
}
