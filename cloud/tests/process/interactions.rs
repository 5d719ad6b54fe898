//! Channel interactions over HTTP against the real binary: a permission the demo runtime asks
//! for is issued as an `occi_` token, resolved once by an allowed responder in the same chat,
//! and the turn goes on; every refused lookup or responder gets the same 404; with remote
//! approvals off (the default) resolving is a 403 that leaves the interaction pending. On
//! SQLite (one process) and Postgres (a web and a worker process).

use std::time::{Duration, Instant};

use cowork_cloud::CloudStore;
use cowork_cloud::database::Backend;
use cowork_cloud::database::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{Api, CloudProcess, DEADLINE, setup, stdout};

const CREATE: &str = "/api/channels/interactions";
const RESOLVE: &str = "/api/channels/interactions/resolve";
const NOT_PENDING: &str = "Channel interaction was not found or is no longer pending.";
const MISSING: &str = "Channel interaction requires agentId, sessionId, provider, kind, and targetId.";

/// A database with two bindings (`fake-main` in workspace W1, `hooks`) and the tokens the
/// tests use.
struct World {
    db: TestDatabase,
    /// Gateway token granted `fake-main`.
    gateway: String,
    /// Gateway token granted `hooks` only.
    other: String,
    /// Admin-only token.
    admin: String,
    /// Gateway and admin token granted `fake-main` (may set identity roles).
    steward: String,
}

impl World {
    async fn new(backend: Backend) -> Option<Self> {
        let db = TestDatabase::new(backend).await?;
        let url = db.url.as_str();
        stdout(&setup(
            url,
            &["bindings", "create", "--provider", "fake", "--binding-id", "fake-main", "--workspace-id", "W1"],
        ));
        stdout(&setup(url, &["bindings", "create", "--provider", "webhook", "--binding-id", "hooks"]));
        let token = |name: &str, extra: &[&str]| {
            let mut args = vec!["tokens", "create", "--name", name];
            args.extend_from_slice(extra);
            stdout(&setup(url, &args))
        };
        Some(Self {
            gateway: token("gw", &["--scope", "gateway", "--binding", "fake-main"]),
            other: token("gw2", &["--scope", "gateway", "--binding", "hooks"]),
            admin: token("root", &["--scope", "admin"]),
            steward: token("steward", &["--scope", "gateway", "--scope", "admin", "--binding", "fake-main"]),
            db,
        })
    }

    /// The processes serving this database: one on SQLite, a web and a worker on Postgres.
    fn start(&self, backend: Backend, remote_approvals: bool) -> (CloudProcess, Option<CloudProcess>) {
        let allow = if remote_approvals { "true" } else { "false" };
        let mut vars = vec![("OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS", "1")];
        // Unset is the default (off); say it only when it is on, so the default is what's tested.
        if remote_approvals {
            vars.push(("OPEN_COWORK_CLOUD_ALLOW_REMOTE_APPROVAL_RESPONSES", allow));
        }
        let url = self.db.url.as_str();
        match backend {
            Backend::Sqlite => (CloudProcess::start_with(url, "all", &vars), None),
            Backend::Postgres => {
                (CloudProcess::start_with(url, "web", &vars), Some(CloudProcess::start_with(url, "worker", &vars)))
            }
        }
    }

    fn store(&self) -> CloudStore {
        CloudStore::new(self.db.db.clone())
    }
}

/// A thread `C1/<thread>` bound by member `U1`: (session binding id, session id).
async fn bound_thread(api: &Api<'_>, gateway: &str, thread: &str) -> (String, String) {
    let (status, body) = api
        .post(
            "/api/channels/identities/resolve",
            gateway,
            &json!({"provider": "fake", "externalWorkspaceId": "W1", "externalUserId": "U1"}),
        )
        .await;
    assert_eq!((status, body["identity"]["role"].as_str()), (200, Some("member")), "{body}");
    let bind = json!({
        "channelBindingId": "fake-main", "provider": "fake", "externalChatId": "C1",
        "externalThreadId": thread, "externalUserId": "U1",
    });
    let (status, body) = api.post("/api/channels/sessions/bind", gateway, &bind).await;
    assert_eq!(status, 200, "{body}");
    let binding = body["binding"]["bindingId"].as_str().expect("binding id").to_owned();
    let session = body["binding"]["sessionId"].as_str().expect("session id").to_owned();
    (binding, session)
}

/// The session binding's log, polled until `done` holds for it.
async fn wait_for_log(
    api: &Api<'_>,
    token: &str,
    binding: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let (status, body) = api.get(&format!("/api/channels/sessions/{binding}/log?after=0&limit=1000"), token).await;
        assert_eq!(status, 200, "{body}");
        let events = body["events"].as_array().cloned().unwrap_or_default();
        if done(&events) {
            return events;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}: {events:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Prompts with the demo runtime's approval cue and waits for its permission request: the id.
async fn ask_permission(api: &Api<'_>, gateway: &str, binding: &str, key: &str) -> String {
    ask(api, gateway, binding, key, "please DEPLOY the build", ("permission.requested", "permissionId", "permission"))
        .await
}

/// Prompts with `text` and waits for the event `(type, id field, id suffix)` it leads to: the id.
async fn ask(api: &Api<'_>, gateway: &str, binding: &str, key: &str, text: &str, cue: (&str, &str, &str)) -> String {
    let (event_type, field, suffix) = cue;
    let prompt = json!({"bindingId": binding, "text": text, "externalUserId": "U1", "idempotencyKey": key});
    let (status, accepted) = api.post("/api/channels/sessions/prompt", gateway, &prompt).await;
    assert_eq!(status, 202, "{accepted}");
    let id = format!("{}:{suffix}", accepted["command"]["commandId"].as_str().expect("command id"));
    let asked = |e: &Value| e["type"] == event_type && e["payload"][field] == id.as_str();
    wait_for_log(api, gateway, binding, event_type, |events| events.iter().any(asked)).await;
    id
}

/// Waits until `permission` was resolved as `allowed` and the turn after it ended with `reply`.
async fn wait_for_answered_turn(
    api: &Api<'_>,
    gateway: &str,
    binding: &str,
    permission: &str,
    allowed: bool,
    reply: &str,
) {
    wait_for_log(api, gateway, binding, "the answered turn", |events| {
        let Some(at) = events
            .iter()
            .position(|e| e["type"] == "permission.resolved" && e["payload"]["permissionId"] == permission)
        else {
            return false;
        };
        assert_eq!(events[at]["payload"]["allowed"], allowed, "{:?}", events[at]);
        let rest = &events[at..];
        let replied = rest.iter().any(|e| {
            e["type"] == "assistant.message" && e["payload"]["content"].as_str().is_some_and(|c| c.starts_with(reply))
        });
        replied && rest.iter().any(|e| e["type"] == "session.idle")
    })
    .await;
}

/// A responder's answer to `token` from chat C1, workspace W1.
fn answer(token: &str, user: &str) -> Value {
    json!({
        "token": token, "provider": "fake", "externalWorkspaceId": "W1",
        "externalUserId": user, "externalChatId": "C1", "response": "once",
    })
}

fn assert_public(body: &Value) {
    assert!(!body.to_string().contains("tokenHash"), "the hash never leaves the cloud: {body}");
}

async fn permissions_are_resolved_once_by_an_allowed_responder(backend: Backend) {
    let Some(world) = World::new(backend).await else { return };
    let (web, _worker) = world.start(backend, true);
    let api = Api { cloud: &web, client: reqwest::Client::new() };
    let gateway = world.gateway.as_str();
    let (binding, session) = bound_thread(&api, gateway, "T1").await;
    let permission = ask_permission(&api, gateway, &binding, "m-1").await;

    // Issue a token for it, naming the thread's session binding.
    let create = json!({
        "interactionId": "p-1", "agentId": "default", "sessionBindingId": binding, "sessionId": session,
        "provider": "fake", "kind": "permission", "targetId": permission,
    });
    let (status, created) = api.post(CREATE, gateway, &create).await;
    assert_eq!(status, 201, "{created}");
    assert_public(&created);
    let token = created["plaintextToken"].as_str().expect("plaintext token").to_owned();
    assert!(token.starts_with("occi_channel_interaction_"), "{token}");
    let interaction = &created["interaction"];
    let interaction_id = interaction["interactionId"].as_str().expect("id").to_owned();
    assert!(token.starts_with(&format!("occi_{interaction_id}_")), "{token}");
    assert_eq!(
        (
            interaction["status"].as_str(),
            interaction["kind"].as_str(),
            interaction["targetId"].as_str(),
            interaction["sessionBindingId"].as_str(),
            interaction["channelBindingId"].as_str(),
        ),
        (Some("pending"), Some("permission"), Some(permission.as_str()), Some(binding.as_str()), Some("fake-main"))
    );
    assert!(interaction["createdByIdentityId"].is_null() && interaction["expiresAt"].is_string(), "{interaction}");
    // The same seed on the same binding is the same id: taken.
    let (status, taken) = api.post(CREATE, gateway, &create).await;
    assert_eq!((status, taken["error"].as_str()), (409, Some("Channel resource id is unavailable.")), "{taken}");

    // Responders who may not answer, and tokens that name nothing, all get one 404 body.
    let (status, body) = api
        .post(
            "/api/channels/identities/resolve",
            &world.steward,
            &json!({"provider": "fake", "externalWorkspaceId": "W1", "externalUserId": "U-viewer", "role": "viewer"}),
        )
        .await;
    assert_eq!((status, body["identity"]["role"].as_str()), (200, Some("viewer")), "{body}");
    let (status, _) = api
        .send(
            "PATCH",
            "/api/channels/bindings/fake-main",
            Some(&world.admin),
            Some(r#"{"settings":{"unknownSenders":"pending"}}"#),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .post(
            "/api/channels/identities/resolve",
            gateway,
            &json!({"provider": "fake", "externalWorkspaceId": "W1", "externalUserId": "U-pending"}),
        )
        .await;
    assert_eq!((status, body["identity"]["status"].as_str()), (200, Some("pending")), "{body}");
    let secretless = &token[..token.rfind('_').expect("secret separator")];
    let mut refused = vec![
        ("made-up token", answer(&format!("occi_channel_interaction_{}_{}", "0".repeat(32), "s".repeat(32)), "U1")),
        ("malformed token", answer("occi_nope", "U1")),
        ("wrong secret", answer(&format!("{secretless}_{}", "W".repeat(32)), "U1")),
        ("unknown responder", answer(&token, "U-nobody")),
        ("viewer", answer(&token, "U-viewer")),
        ("pending responder", answer(&token, "U-pending")),
    ];
    let mut other_chat = answer(&token, "U1");
    other_chat["externalChatId"] = json!("C9");
    refused.push(("another chat", other_chat));
    let mut other_workspace = answer(&token, "U1");
    other_workspace["externalWorkspaceId"] = json!("W2");
    refused.push(("another workspace", other_workspace));
    let mut other_provider = answer(&token, "U1");
    other_provider["provider"] = json!("slack");
    refused.push(("another provider", other_provider));
    let (status, body) = api
        .post("/api/channels/identities/resolve", &world.other, &json!({"provider": "webhook", "externalUserId": "U1"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut elsewhere = answer(&token, "U1");
    elsewhere.as_object_mut().expect("object").remove("externalUserId");
    elsewhere["identityId"] = body["identity"]["identityId"].clone();
    refused.push(("another binding's identity", elsewhere));
    let mut nobody = answer(&token, "U1");
    nobody.as_object_mut().expect("object").remove("externalUserId");
    refused.push(("no responder", nobody));
    let not_pending = json!({"error": NOT_PENDING, "code": "not_found"});
    for (case, body) in &refused {
        let (status, answer) = api.post(RESOLVE, gateway, body).await;
        assert_eq!((status, &answer), (404, &not_pending), "{case}");
    }
    // Another binding's gateway finds nothing either; people's tokens are not gateways.
    let (status, hidden) = api.post(RESOLVE, &world.other, &answer(&token, "U1")).await;
    assert_eq!((status, &hidden), (404, &not_pending));
    let (status, body) = api.post(RESOLVE, &world.admin, &answer(&token, "U1")).await;
    assert_eq!(status, 403, "{body}");
    let stored = world.store().interaction(&interaction_id).await.expect("read").expect("stored");
    assert_eq!(stored.status, "pending", "refusals leave it pending");

    // Two answers at once: exactly one is taken.
    let good = answer(&token, "U1");
    let (first, second) = tokio::join!(api.post(RESOLVE, gateway, &good), api.post(RESOLVE, gateway, &good));
    let (won, lost) = if first.0 == 202 { (first, second) } else { (second, first) };
    assert_eq!(won.0, 202, "{}", won.1);
    let lost_as_expected = (lost.0 == 409 && lost.1["error"] == "Channel interaction was already resolved.")
        || (lost.0 == 404 && lost.1["error"] == NOT_PENDING);
    assert!(lost_as_expected, "the second answer is refused: {} {}", lost.0, lost.1);
    let resolved = won.1;
    assert_public(&resolved);
    assert_eq!(resolved["command"]["kind"], "permission.respond", "{resolved}");
    assert_eq!(resolved["command"]["payload"]["permissionId"], permission.as_str(), "{resolved}");
    assert_eq!(resolved["command"]["payload"]["allowed"], true, "{resolved}");
    assert_eq!(resolved["interaction"]["status"], "used", "{resolved}");
    assert!(resolved["interaction"]["usedAt"].is_string(), "{resolved}");
    assert_eq!(resolved["interaction"]["commandId"], resolved["command"]["commandId"]);
    assert!(resolved["interaction"]["resolvedByIdentityId"].is_string(), "{resolved}");
    assert!(resolved["view"]["projection"].is_object(), "{resolved}");
    // A used token is not pending any more: the lookup's 404, before the store would say 409.
    let (status, again) = api.post(RESOLVE, gateway, &good).await;
    assert_eq!((status, &again), (404, &not_pending));
    wait_for_answered_turn(&api, gateway, &binding, &permission, true, "Approved: the demo deployment ran.").await;

    // The audit keeps the answer, never a token.
    let audit = world.store().audit_events(500).await.expect("audit");
    let responded: Vec<_> =
        audit.iter().filter(|e| e.event_type == "channel_interaction.permission.responded").collect();
    assert_eq!(responded.len(), 1, "{audit:?}");
    assert_eq!(responded[0].target_id, interaction_id);
    assert!(responded[0].metadata.contains("cloud-channel-gateway"), "{:?}", responded[0]);
    assert!(audit.iter().all(|e| !e.metadata.contains(&token) && !e.target_id.contains("occi_")), "{audit:?}");

    // A second permission, issued with no session binding named (the thread's is the only one)
    // and an external id, is answered by that id instead of a token: a denial.
    let permission = ask_permission(&api, gateway, &binding, "m-2").await;
    let create = json!({
        "agentId": "default", "sessionId": session, "provider": "fake", "kind": "permission",
        "targetId": permission, "externalInteractionId": "msg-2",
    });
    let (status, created) = api.post(CREATE, gateway, &create).await;
    assert_eq!(status, 201, "{created}");
    assert_public(&created);
    assert_eq!(created["interaction"]["sessionBindingId"], binding.as_str(), "{created}");
    assert_eq!(created["interaction"]["externalInteractionId"], "msg-2", "{created}");
    assert!(created["plaintextToken"].as_str().is_some_and(|t| t.starts_with("occi_channel_interaction_")));
    let (status, taken) = api.post(CREATE, gateway, &create).await;
    assert_eq!(
        (status, taken["error"].as_str()),
        (409, Some("Channel resource id is unavailable.")),
        "external ids are unique"
    );
    let by_external = json!({
        "provider": "fake", "externalInteractionId": "msg-2", "externalWorkspaceId": "W1",
        "externalUserId": "U1", "externalChatId": "C1", "response": "deny",
    });
    let (status, hidden) = api.post(RESOLVE, &world.other, &by_external).await;
    assert_eq!((status, &hidden), (404, &not_pending));
    let (status, resolved) = api.post(RESOLVE, gateway, &by_external).await;
    assert_eq!(status, 202, "{resolved}");
    assert_eq!(
        (resolved["command"]["kind"].as_str(), resolved["command"]["payload"]["allowed"].as_bool()),
        (Some("permission.respond"), Some(false)),
        "{resolved}"
    );
    assert_eq!(resolved["interaction"]["status"], "used");
    assert_eq!(api.post(RESOLVE, gateway, &by_external).await.0, 404, "used");
    wait_for_answered_turn(&api, gateway, &binding, &permission, false, "Denied: the demo deployment was cancelled.")
        .await;

    // A question is answered the same way, with answers instead of a response.
    let question =
        ask(&api, gateway, &binding, "m-3", "please choose a colour", ("question.asked", "requestId", "question"))
            .await;
    let create = json!({
        "agentId": "default", "sessionBindingId": binding, "sessionId": session, "provider": "fake",
        "kind": "question", "targetId": question, "tokenSecret": "pinned-secret-0123456789",
    });
    let (status, created) = api.post(CREATE, gateway, &create).await;
    assert_eq!(status, 201, "{created}");
    let token = created["plaintextToken"].as_str().expect("token").to_owned();
    assert!(token.ends_with("_pinned-secret-0123456789"), "{token}");
    let mut reply = answer(&token, "U1");
    reply["answers"] = json!([["Green"]]);
    let (status, resolved) = api.post(RESOLVE, gateway, &reply).await;
    assert_eq!(status, 202, "{resolved}");
    assert_eq!(
        (resolved["command"]["kind"].as_str(), &resolved["command"]["payload"]["answers"]),
        (Some("question.reply"), &json!(["Green"])),
        "{resolved}"
    );
    wait_for_log(&api, gateway, &binding, "the answered question", |events| {
        let Some(at) = events
            .iter()
            .position(|e| e["type"] == "question.resolved" && e["payload"]["requestId"] == question.as_str())
        else {
            return false;
        };
        assert_eq!(events[at]["payload"]["answers"], json!(["Green"]), "{:?}", events[at]);
        let rest = &events[at..];
        rest.iter().any(|e| e["type"] == "assistant.message" && e["payload"]["content"] == "You chose Green.")
            && rest.iter().any(|e| e["type"] == "session.idle")
    })
    .await;
    let audit = world.store().audit_events(500).await.expect("audit");
    assert!(audit.iter().any(|e| e.event_type == "channel_interaction.question.replied"), "{audit:?}");
    assert!(audit.iter().all(|e| !e.metadata.contains("pinned-secret")), "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_permissions_are_resolved_once_by_an_allowed_responder() {
    permissions_are_resolved_once_by_an_allowed_responder(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_permissions_are_resolved_once_by_an_allowed_responder() {
    permissions_are_resolved_once_by_an_allowed_responder(Backend::Postgres).await;
}

async fn interactions_refuse_bad_requests_and_other_callers(backend: Backend) {
    let Some(world) = World::new(backend).await else { return };
    let (web, _worker) = world.start(backend, true);
    let api = Api { cloud: &web, client: reqwest::Client::new() };
    let gateway = world.gateway.as_str();
    let (binding, session) = bound_thread(&api, gateway, "T1").await;
    let valid = json!({
        "agentId": "default", "sessionBindingId": binding, "sessionId": session,
        "provider": "fake", "kind": "permission", "targetId": "perm-1",
    });

    for path in [CREATE, RESOLVE] {
        let (status, body) = api.send("POST", path, Some(gateway), Some("{not json")).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    for field in ["agentId", "sessionId", "provider", "kind", "targetId"] {
        for blank in [None, Some("")] {
            let mut body = valid.clone();
            match blank {
                None => body.as_object_mut().expect("object").remove(field),
                Some(text) => body.as_object_mut().expect("object").insert(field.to_owned(), json!(text)),
            };
            let (status, refused) = api.post(CREATE, gateway, &body).await;
            assert_eq!((status, refused["error"].as_str()), (400, Some(MISSING)), "{field} {blank:?}: {refused}");
        }
    }
    let mut other_kind = valid.clone();
    other_kind["kind"] = json!("other");
    assert_eq!(api.post(CREATE, gateway, &other_kind).await.0, 400);
    let mut past = valid.clone();
    past["expiresAt"] = json!("2020-01-01T00:00:00Z");
    let (status, body) = api.post(CREATE, gateway, &past).await;
    assert_eq!(status, 400, "an interaction may not be born expired: {body}");
    let mut far = valid.clone();
    far["expiresAt"] = json!("2999-01-01T00:00:00Z");
    assert_eq!(api.post(CREATE, gateway, &far).await.0, 400, "at most seven days");
    let mut weak = valid.clone();
    weak["tokenSecret"] = json!("short");
    assert_eq!(api.post(CREATE, gateway, &weak).await.0, 400, "a pinned secret is long enough");
    let mut wrong_session = valid.clone();
    wrong_session["sessionId"] = json!("session-elsewhere");
    assert_eq!(api.post(CREATE, gateway, &wrong_session).await.0, 403, "the session binding is another session's");
    let mut wrong_agent = valid.clone();
    wrong_agent["agentId"] = json!("someone-else");
    assert_eq!(api.post(CREATE, gateway, &wrong_agent).await.0, 403, "the binding is another agent's");

    // Another binding's gateway cannot issue on this thread (named: not found; by lookup: out
    // of scope); an admin-only token is no gateway.
    let (status, body) = api.post(CREATE, &world.other, &valid).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("Channel session binding was not found.")), "{body}");
    let mut unnamed = valid.clone();
    unnamed.as_object_mut().expect("object").remove("sessionBindingId");
    let (status, body) = api.post(CREATE, &world.other, &unnamed).await;
    assert_eq!(
        (status, body["verdict"]["policyCode"].as_str()),
        (403, Some("channels.binding_scope_required")),
        "{body}"
    );
    let (status, body) = api.post(CREATE, &world.admin, &valid).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("auth.gateway_scope_required")), "{body}");
    let (status, body) = api.post(RESOLVE, &world.admin, &answer("occi_nope", "U1")).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("auth.gateway_scope_required")), "{body}");

    // Resolving needs a token or an external id with its provider.
    let (status, body) = api.post(RESOLVE, gateway, &json!({"externalInteractionId": "x"})).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_interactions_refuse_bad_requests_and_other_callers() {
    interactions_refuse_bad_requests_and_other_callers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_interactions_refuse_bad_requests_and_other_callers() {
    interactions_refuse_bad_requests_and_other_callers(Backend::Postgres).await;
}

async fn remote_approvals_are_off_by_default(backend: Backend) {
    let Some(world) = World::new(backend).await else { return };
    let (web, _worker) = world.start(backend, false);
    let api = Api { cloud: &web, client: reqwest::Client::new() };
    let gateway = world.gateway.as_str();
    let (binding, session) = bound_thread(&api, gateway, "T1").await;
    let permission = ask_permission(&api, gateway, &binding, "m-1").await;
    let create = json!({
        "agentId": "default", "sessionBindingId": binding, "sessionId": session,
        "provider": "fake", "kind": "permission", "targetId": permission,
    });
    let (status, created) = api.post(CREATE, gateway, &create).await;
    assert_eq!(status, 201, "{created}");
    let token = created["plaintextToken"].as_str().expect("token").to_owned();
    let interaction_id = created["interaction"]["interactionId"].as_str().expect("id").to_owned();

    let (status, refused) = api.post(RESOLVE, gateway, &answer(&token, "U1")).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "gateway-remote-approval-disabled", "{refused}");
    assert_eq!(refused["verdict"]["policyCode"], "gateway-remote-approval-disabled", "{refused}");
    let made_up = format!("occi_channel_interaction_{}_{}", "0".repeat(32), "s".repeat(32));
    let (status, missing) = api.post(RESOLVE, gateway, &answer(&made_up, "U1")).await;
    assert_eq!((status, &missing), (403, &refused), "the same answer whether the token exists or not");

    let stored = world.store().interaction(&interaction_id).await.expect("read").expect("stored");
    assert_eq!((stored.status.as_str(), stored.used_at), ("pending", None));
    let (_, snapshot) = api.get(&format!("/api/channels/sessions/{binding}/snapshot"), gateway).await;
    let pending = snapshot["projection"]["pendingApprovals"].as_array().cloned().unwrap_or_default();
    assert!(pending.iter().any(|a| a["permissionId"] == permission.as_str()), "still waiting: {snapshot}");

    let audit = world.store().audit_events(500).await.expect("audit");
    let denied: Vec<_> = audit.iter().filter(|e| e.event_type == "channel_interaction.remote_policy.denied").collect();
    assert_eq!(denied.len(), 2, "{audit:?}");
    assert!(denied.iter().any(|e| e.target_id == interaction_id), "{denied:?}");
    assert!(denied.iter().all(|e| e.metadata.contains("cloud-channel-gateway")), "{denied:?}");
    assert!(audit.iter().all(|e| !e.metadata.contains(&token) && !e.metadata.contains(&made_up)), "{audit:?}");
    assert!(!audit.iter().any(|e| e.event_type == "channel_interaction.permission.responded"), "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_remote_approvals_are_off_by_default() {
    remote_approvals_are_off_by_default(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_remote_approvals_are_off_by_default() {
    remote_approvals_are_off_by_default(Backend::Postgres).await;
}
