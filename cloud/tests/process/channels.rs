//! The channel routes a gateway calls, over HTTP against the real binary: identity, bind,
//! prompt, the session event stream (resume, gaps), snapshot, cursor, abort, and the scope
//! rules (grants, disabled bindings, actors), on SQLite (one process) and on Postgres (a web
//! and a worker process).

use std::time::Instant;

use cowork_cloud::database::Backend;
use cowork_cloud::database::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{Api, CloudProcess, DEADLINE, setup, stdout};

/// One server-sent event.
#[derive(Debug)]
struct Frame {
    id: Option<String>,
    event: String,
    data: Value,
}

/// Reads frames from an open event stream.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(api: &Api<'_>, token: &str, path: &str, last_event_id: Option<&str>) -> Self {
        let mut request = api.client.get(format!("{}{path}", api.cloud.base)).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("open the stream");
        assert_eq!(response.status(), 200, "{path}");
        let content_type = response.headers()["content-type"].to_str().unwrap_or_default().to_owned();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Self { response, buffer: String::new() }
    }

    /// The next event (comments skipped), within the deadline.
    async fn next(&mut self) -> Frame {
        let started = Instant::now();
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        id = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("event:") {
                        event = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment: `: connected`, `: keep-alive`
                }
                return Frame { id, event, data: serde_json::from_str(&data).expect("frame data is JSON") };
            }
            let remaining = DEADLINE.saturating_sub(started.elapsed());
            let chunk = tokio::time::timeout(remaining, self.response.chunk())
                .await
                .expect("no event before the deadline")
                .expect("read the stream")
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Frames up to and including the next `session.idle`.
    async fn until_idle(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let idle = frame.event == "session.idle";
            frames.push(frame);
            if idle {
                return frames;
            }
        }
    }
}

async fn a_gateway_drives_a_session_over_http(backend: Backend) {
    let Some(test_db) = TestDatabase::new(backend).await else { return };
    let url = test_db.url.as_str();
    stdout(&setup(url, &["bindings", "create", "--provider", "fake", "--binding-id", "fake-main"]));
    stdout(&setup(url, &["bindings", "create", "--provider", "webhook", "--binding-id", "hooks"]));
    let admin = stdout(&setup(url, &["tokens", "create", "--name", "root", "--scope", "admin"]));
    let gateway =
        stdout(&setup(url, &["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "fake-main"]));
    let other = stdout(&setup(url, &["tokens", "create", "--name", "gw2", "--scope", "gateway", "--binding", "hooks"]));
    let idle = stdout(&setup(url, &["tokens", "create", "--name", "none", "--scope", "gateway"]));
    let vars = [("OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS", "1")];
    // SQLite: one process does all; Postgres: the API and the commands in two processes.
    let (web, _worker) = match backend {
        Backend::Sqlite => (CloudProcess::start_with(url, "all", &vars), None),
        Backend::Postgres => {
            (CloudProcess::start_with(url, "web", &vars), Some(CloudProcess::start_with(url, "worker", &vars)))
        }
    };
    let api = Api { cloud: &web, client: reqwest::Client::new() };

    let (status, body) = api
        .post("/api/channels/identities/resolve", &gateway, &json!({"provider": "fake", "externalUserId": "U1"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["identity"]["role"].as_str(), body["identity"]["status"].as_str()),
        (Some("member"), Some("active"))
    );
    let (status, listed) = api.get("/api/channels/identities?channelBindingId=fake-main", &admin).await;
    assert_eq!(status, 200, "{listed}");
    let users: Vec<&str> =
        listed["identities"].as_array().into_iter().flatten().filter_map(|i| i["externalUserId"].as_str()).collect();
    assert_eq!(users, ["U1"]);
    assert_eq!(api.get("/api/channels/identities", &gateway).await.0, 403, "listing is for admins");
    let bind = json!({
        "channelBindingId": "fake-main", "provider": "fake", "externalChatId": "C1",
        "externalThreadId": "T1", "externalUserId": "U1", "title": "hello",
    });
    let (status, body) = api.post("/api/channels/sessions/bind", &gateway, &bind).await;
    assert_eq!(status, 200, "{body}");
    let binding_id = body["binding"]["bindingId"].as_str().expect("binding id").to_owned();
    assert_eq!(body["session"]["projection"]["status"], "idle");
    let (_, again) = api.post("/api/channels/sessions/bind", &gateway, &bind).await;
    assert_eq!(again["binding"]["bindingId"], binding_id.as_str(), "binding a thread twice is one binding");

    // Stream from the start, prompt, and watch the turn arrive.
    let events_path = format!("/api/channels/sessions/{binding_id}/events");
    let mut events = Events::open(&api, &gateway, &events_path, None).await;
    let prompt = json!({"bindingId": binding_id, "text": "hi there", "externalUserId": "U1", "idempotencyKey": "m-1"});
    let (status, accepted) = api.post("/api/channels/sessions/prompt", &gateway, &prompt).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!((accepted["command"]["kind"].as_str(), accepted["processed"].as_i64()), (Some("prompt"), Some(0)));
    let frames = events.until_idle().await;
    let types: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(types.first(), Some(&"prompt.submitted"), "{types:?}");
    assert!(types.contains(&"assistant.message"), "{types:?}");
    let sequences: Vec<i64> = frames.iter().map(|f| f.data["sequence"].as_i64().expect("sequence")).collect();
    assert!(sequences.windows(2).all(|w| w[1] == w[0] + 1), "gap-free and in order: {sequences:?}");
    for frame in &frames {
        assert_eq!(frame.id.as_deref(), Some(frame.data["sequence"].to_string().as_str()));
        assert_eq!(frame.data["type"], frame.event.as_str());
        assert!(frame.data["eventId"].is_string() && frame.data["createdAt"].is_string(), "{frame:?}");
    }
    let last = *sequences.last().expect("events");

    // The same idempotency key is the same command: no second turn.
    let (status, replay) = api.post("/api/channels/sessions/prompt", &gateway, &prompt).await;
    assert_eq!((status, &replay["command"]["commandId"]), (202, &accepted["command"]["commandId"]));
    let (_, snapshot) = api.get(&format!("/api/channels/sessions/{binding_id}/snapshot"), &gateway).await;
    let messages = snapshot["projection"]["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 2, "{snapshot}");
    assert_eq!(messages[0]["content"], "hi there");
    assert_eq!(snapshot["projection"]["sequence"], last);

    // Resume: after= and Last-Event-ID both skip what was seen; a cursor past the log gets
    // snapshot.required, then the stream goes on from the log's end.
    let mut resumed = Events::open(&api, &gateway, &format!("{events_path}?after={}", last - 1), None).await;
    assert_eq!(resumed.next().await.data["sequence"], last);
    let mut resumed = Events::open(&api, &gateway, &events_path, Some(&(last - 2).to_string())).await;
    assert_eq!(resumed.next().await.data["sequence"], last - 1);
    let mut ahead = Events::open(&api, &gateway, &format!("{events_path}?after={}", last + 100), None).await;
    let gap = ahead.next().await;
    assert_eq!(gap.event, "snapshot.required");
    assert_eq!(gap.data["payload"]["latestSequence"], last, "{:?}", gap.data);
    for bad in ["?after=-1", "?after=x"] {
        let (status, body) = api.get(&format!("{events_path}{bad}"), &gateway).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("request.invalid_field")), "{bad}");
    }
    let response = api
        .client
        .get(format!("{}{events_path}", web.base))
        .bearer_auth(&gateway)
        .header("last-event-id", "nope")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);

    // Cursor: forward moves, backward is stale.
    let cursor = |n: i64| json!({"bindingId": binding_id, "lastEventSequence": n, "lastWorkspaceSequence": 0});
    let (status, moved) = api.post("/api/channels/cursor", &gateway, &cursor(last)).await;
    assert_eq!((status, moved["result"]["ok"].as_bool()), (200, Some(true)), "{moved}");
    let (_, stale) = api.post("/api/channels/cursor", &gateway, &cursor(1)).await;
    assert_eq!((stale["result"]["ok"].as_bool(), stale["result"]["reason"].as_str()), (Some(false), Some("stale")));
    assert_eq!(stale["binding"]["lastEventSequence"], last);

    // by-thread finds it; another thread is a 404.
    let query = "/api/channels/sessions/by-thread?provider=fake&externalChatId=C1&externalThreadId=";
    let (status, found) = api.get(&format!("{query}T1"), &gateway).await;
    assert_eq!((status, found["binding"]["bindingId"].as_str()), (200, Some(binding_id.as_str())));
    assert_eq!(api.get(&format!("{query}T9"), &gateway).await.0, 404);

    // Abort is a command too.
    let (status, aborted) = api
        .post("/api/channels/sessions/abort", &gateway, &json!({"bindingId": binding_id, "externalUserId": "U1"}))
        .await;
    assert_eq!((status, aborted["command"]["kind"].as_str()), (202, Some("abort")), "{aborted}");

    // Scope: another binding's token sees the same 404 as a missing binding; a token with no
    // grant, an admin token, an unknown sender and a bad body are refused.
    let snapshot_path = format!("/api/channels/sessions/{binding_id}/snapshot");
    let (status, hidden) = api.get(&snapshot_path, &other).await;
    let (_, missing) = api.get("/api/channels/sessions/channel_session_binding_nope/snapshot", &gateway).await;
    assert_eq!((status, &hidden), (404, &missing));
    let (status, body) = api.get(&snapshot_path, &idle).await;
    assert_eq!((status, body["verdict"]["policyCode"].as_str()), (403, Some("channels.binding_scope_required")));
    assert_eq!(api.get(&snapshot_path, &admin).await.0, 403);
    assert_eq!(api.post("/api/channels/sessions/bind", &other, &bind).await.0, 403);
    let stranger = json!({"bindingId": binding_id, "text": "x", "externalUserId": "U-unknown"});
    let (status, refused) = api.post("/api/channels/sessions/prompt", &gateway, &stranger).await;
    assert_eq!(status, 403);
    assert_eq!(refused["error"], "Channel actor identity is not authorized for this channel session.");
    for body in
        [json!({"bindingId": binding_id, "externalUserId": "U1"}), json!({"bindingId": binding_id, "text": "x"})]
    {
        assert_eq!(api.post("/api/channels/sessions/prompt", &gateway, &body).await.0, 400, "{body}");
    }

    // Disabling the binding makes its grants inert at once.
    let (status, _) =
        api.send("PATCH", "/api/channels/bindings/fake-main", Some(&admin), Some(r#"{"status":"disabled"}"#)).await;
    assert_eq!(status, 200);
    assert_eq!(api.get(&snapshot_path, &gateway).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_gateway_drives_a_session_over_http() {
    a_gateway_drives_a_session_over_http(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_gateway_drives_a_session_over_http_with_web_and_worker_apart() {
    a_gateway_drives_a_session_over_http(Backend::Postgres).await;
}

async fn provider_events_are_claimed_once(backend: Backend) {
    let Some(test_db) = TestDatabase::new(backend).await else { return };
    let url = test_db.url.as_str();
    stdout(&setup(url, &["bindings", "create", "--provider", "slack", "--binding-id", "slack-main"]));
    stdout(&setup(url, &["bindings", "create", "--provider", "webhook", "--binding-id", "hooks"]));
    let gateway =
        stdout(&setup(url, &["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "slack-main"]));
    let other = stdout(&setup(url, &["tokens", "create", "--name", "gw2", "--scope", "gateway", "--binding", "hooks"]));
    let cloud = CloudProcess::start(url, "web");
    let api = Api { cloud: &cloud, client: reqwest::Client::new() };
    let claim = |by: &str, ttl: i64| {
        json!({"provider": "slack", "providerInstanceId": "B1", "providerEventId": "Ev1", "eventType": "message",
               "claimedBy": by, "ttlMs": ttl, "metadata": {"botToken": "xoxb-1"}})
    };
    let path = "/api/channels/provider-events/claim";
    let (status, first) = api.post(path, &gateway, &claim("gw-a", 60_000)).await;
    assert_eq!(
        (status, first["claimed"].as_bool(), first["duplicate"].as_bool()),
        (200, Some(true), Some(false)),
        "{first}"
    );
    assert_eq!(first["event"]["attemptCount"], 1);
    assert_eq!(first["event"]["metadata"]["channelBindingId"], "slack-main");
    assert!(!first.to_string().contains("xoxb-1"), "metadata is redacted: {first}");
    let event_id = first["event"]["eventId"].as_str().expect("id").to_owned();
    assert!(event_id.starts_with("channel_provider_event_"));
    let (_, second) = api.post(path, &gateway, &claim("gw-b", 60_000)).await;
    assert_eq!((second["claimed"].as_bool(), second["duplicate"].as_bool()), (Some(false), Some(true)));

    let complete = format!("/api/channels/provider-events/{event_id}/complete");
    assert_eq!(api.post(&complete, &gateway, &json!({"claimedBy": "gw-b", "status": "processed"})).await.0, 404);
    assert_eq!(api.post(&complete, &gateway, &json!({"status": "processed"})).await.0, 400);
    assert_eq!(api.post(&complete, &other, &json!({"claimedBy": "gw-a", "status": "processed"})).await.0, 404);
    let failed = json!({"claimedBy": "gw-a", "status": "failed", "lastError": "Bearer abc.def timed out"});
    let (status, body) = api.post(&complete, &gateway, &failed).await;
    assert_eq!((status, body["event"]["status"].as_str()), (200, Some("failed")), "{body}");
    assert!(!body.to_string().contains("abc.def"), "{body}");
    // A retryable failure may be claimed again; a claim that lapses may be taken over.
    let (_, again) = api.post(path, &gateway, &claim("gw-b", 1)).await;
    assert_eq!((again["claimed"].as_bool(), again["event"]["attemptCount"].as_i64()), (Some(true), Some(2)), "{again}");
    let started = Instant::now();
    let taken = loop {
        let (_, taken) = api.post(path, &gateway, &claim("gw-c", 60_000)).await;
        if taken["claimed"] == true {
            break taken;
        }
        assert!(started.elapsed() < DEADLINE, "the lapsed claim was never taken over");
    };
    assert_eq!(taken["event"]["claimedBy"], "gw-c");
    let (status, done) = api.post(&complete, &gateway, &json!({"claimedBy": "gw-c", "status": "processed"})).await;
    assert_eq!((status, done["event"]["processedAt"].is_string()), (200, true), "{done}");
    let (_, after) = api.post(path, &gateway, &claim("gw-d", 60_000)).await;
    assert_eq!(
        (after["claimed"].as_bool(), after["duplicate"].as_bool()),
        (Some(false), Some(true)),
        "processed is final"
    );
    // Another binding's token may not claim here; a bad event type is a 400.
    assert_eq!(api.post(path, &other, &claim("x", 1000)).await.0, 403);
    let mut bad = claim("x", 1000);
    bad["eventType"] = json!("reaction");
    assert_eq!(api.post(path, &gateway, &bad).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_provider_events_are_claimed_once() {
    provider_events_are_claimed_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_provider_events_are_claimed_once() {
    provider_events_are_claimed_once(Backend::Postgres).await;
}

async fn deliveries_are_claimed_over_the_stream_and_acked(backend: Backend) {
    let Some(test_db) = TestDatabase::new(backend).await else { return };
    let url = test_db.url.as_str();
    stdout(&setup(url, &["bindings", "create", "--provider", "slack", "--binding-id", "slack-main"]));
    stdout(&setup(url, &["bindings", "create", "--provider", "webhook", "--binding-id", "hooks"]));
    let gateway =
        stdout(&setup(url, &["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "slack-main"]));
    let second =
        stdout(&setup(url, &["tokens", "create", "--name", "gw2", "--scope", "gateway", "--binding", "slack-main"]));
    let other = stdout(&setup(url, &["tokens", "create", "--name", "gw3", "--scope", "gateway", "--binding", "hooks"]));
    let admin = stdout(&setup(url, &["tokens", "create", "--name", "ops", "--scope", "admin"]));
    let cloud = CloudProcess::start_with(url, "web", &[("OPEN_COWORK_CLOUD_DELIVERY_MAX_ATTEMPTS", "3")]);
    let api = Api { cloud: &cloud, client: reqwest::Client::new() };
    let (_, listed) = api.get("/api/channels/bindings", &admin).await;
    let agent = listed["bindings"][0]["agentId"].as_str().expect("agent").to_owned();
    let delivery = |id: &str| {
        json!({"deliveryId": id, "agentId": agent, "channelBindingId": "slack-main", "provider": "slack",
               "target": {"externalChatId": "C1"}, "eventType": "workflow.completed",
               "payload": {"text": "done", "apiToken": "xoxb-secret"}})
    };
    let (status, created) = api.post("/api/channels/deliveries", &gateway, &delivery("d1")).await;
    assert_eq!((status, created["delivery"]["status"].as_str()), (201, Some("pending")), "{created}");
    assert!(!created.to_string().contains("xoxb-secret"), "payload is redacted: {created}");
    // The same id answers the first delivery; bad input is a 400, another binding a 403.
    let mut changed = delivery("d1");
    changed["payload"] = json!({"text": "other"});
    let (status, again) = api.post("/api/channels/deliveries", &gateway, &changed).await;
    assert_eq!((status, again["delivery"]["createdAt"].clone()), (201, created["delivery"]["createdAt"].clone()));
    let mut bad = delivery("d2");
    bad["target"] = json!("C1");
    assert_eq!(api.post("/api/channels/deliveries", &gateway, &bad).await.0, 400);
    assert_eq!(api.post("/api/channels/deliveries", &gateway, &json!({"deliveryId": "x"})).await.0, 400);
    assert_eq!(api.post("/api/channels/deliveries", &other, &delivery("d3")).await.0, 403);
    let mut foreign_agent = delivery("d4");
    foreign_agent["agentId"] = json!("nobody");
    assert_eq!(api.post("/api/channels/deliveries", &gateway, &foreign_agent).await.0, 403);
    assert_eq!(api.get("/api/channels/deliveries/stream?channelBindingId=hooks", &gateway).await.0, 403);
    assert_eq!(api.get("/api/channels/deliveries/stream?ttlMs=soon", &gateway).await.0, 400);

    // The stream claims it for the caller; an ack from anyone else is a 404.
    let mut stream =
        Events::open(&api, &gateway, "/api/channels/deliveries/stream?claimedBy=gw-a&ttlMs=600000", None).await;
    let frame = stream.next().await;
    assert_eq!((frame.event.as_str(), frame.id.as_deref()), ("channel.delivery", Some("d1")));
    assert_eq!(frame.data["delivery"]["payload"]["text"], "done");
    assert_eq!(
        (frame.data["delivery"]["status"].as_str(), frame.data["delivery"]["attemptCount"].as_i64()),
        (Some("claimed"), Some(1))
    );
    let ack = "/api/channels/deliveries/d1/ack";
    assert_eq!(api.post(ack, &gateway, &json!({"status": "sent", "claimedBy": "gw-b"})).await.0, 404);
    assert_eq!(api.post(ack, &second, &json!({"status": "sent", "claimedBy": "gw-a"})).await.0, 404);
    assert_eq!(api.post(ack, &gateway, &json!({"status": "delivered", "claimedBy": "gw-a"})).await.0, 400);
    let renew = "/api/channels/deliveries/d1/renew";
    let (status, renewed) = api.post(renew, &gateway, &json!({"claimedBy": "gw-a", "ttlMs": 900000})).await;
    assert_eq!(status, 200, "{renewed}");
    assert!(renewed["delivery"]["claimExpiresAt"].as_str() > frame.data["delivery"]["claimExpiresAt"].as_str());
    assert_eq!(api.post(renew, &gateway, &json!({"claimedBy": "gw-z"})).await.0, 404);
    let failed = json!({"status": "failed", "claimedBy": "gw-a", "lastError": "Bearer abc.def refused"});
    let (status, body) = api.post(ack, &gateway, &failed).await;
    assert_eq!((status, body["delivery"]["status"].as_str()), (200, Some("failed")), "{body}");
    assert!(!body.to_string().contains("abc.def"), "{body}");
    // A failed delivery comes due again at once and is re-served, until its budget is spent.
    let frame = stream.next().await;
    assert_eq!(frame.data["delivery"]["attemptCount"], 2);
    assert_eq!(api.post(ack, &gateway, &json!({"status": "failed", "claimedBy": "gw-a"})).await.0, 200);
    let frame = stream.next().await;
    assert_eq!(frame.data["delivery"]["attemptCount"], 3);
    assert_eq!(api.post(ack, &gateway, &json!({"status": "failed", "claimedBy": "gw-a"})).await.0, 200);
    let started = Instant::now();
    loop {
        let (_, list) = api.get("/api/channels/deliveries?deliveryId=d1", &gateway).await;
        if list["deliveries"][0]["status"] == "dead" {
            assert!(
                list["deliveries"][0]["lastError"].as_str().is_some_and(|e| e.contains("3 delivery attempts")),
                "{list}"
            );
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the poison delivery was never dead-lettered: {list}");
    }

    // Operators: a gateway token sees and touches only what it claimed; an admin everything.
    assert_eq!(api.get("/api/channels/deliveries", &second).await.1["deliveries"], json!([]));
    assert_eq!(api.post("/api/channels/deliveries/d1/retry", &second, &json!({})).await.0, 404);
    let (_, all) = api.get("/api/channels/deliveries?status=dead", &admin).await;
    assert_eq!(all["deliveries"].as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(api.get("/api/channels/deliveries?status=lost", &admin).await.0, 400);
    let (status, retried) = api.post("/api/channels/deliveries/d1/retry", &gateway, &json!({})).await;
    assert_eq!((status, retried["delivery"]["status"].as_str()), (200, Some("failed")), "{retried}");
    let (status, dead) = api.post("/api/channels/deliveries/d1/dead-letter", &admin, &json!({})).await;
    assert_eq!(
        (status, dead["delivery"]["lastError"].as_str()),
        (200, Some("Manually dead-lettered by gateway operator."))
    );
    // A delivery created while the stream is open reaches it without waiting for a poll.
    assert_eq!(api.post("/api/channels/deliveries", &admin, &delivery("d5")).await.0, 201);
    let frame = stream.next().await;
    assert_eq!(frame.id.as_deref(), Some("d5"));
    let (status, sent) =
        api.post("/api/channels/deliveries/d5/ack?claimedBy=gw-a", &gateway, &json!({"status": "sent"})).await;
    assert_eq!(
        (status, sent["delivery"]["status"].as_str(), sent["delivery"]["claimedBy"].clone()),
        (200, Some("sent"), Value::Null)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_deliveries_are_claimed_over_the_stream_and_acked() {
    deliveries_are_claimed_over_the_stream_and_acked(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deliveries_are_claimed_over_the_stream_and_acked() {
    deliveries_are_claimed_over_the_stream_and_acked(Backend::Postgres).await;
}
