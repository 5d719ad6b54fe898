//! Setting the cloud up: the `tokens` and `bindings` commands on the database, then the admin
//! API over HTTP with the tokens they minted: scopes, revocation, grants, bad input.

use cowork_cloud::database::Backend;
use cowork_cloud::database::testing::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{Api, CloudProcess, setup, stdout};

async fn setup_then_administer_over_http(backend: Backend) {
    let Some(test_db) = TestDatabase::new(backend).await else { return };
    let url = test_db.url.as_str();
    // A fresh install: a binding and the first tokens, from the command line.
    let created = setup(url, &["bindings", "create", "--provider", "fake", "--binding-id", "fake-main"]);
    assert!(stdout(&created).contains("fake-main"));
    let bad = setup(url, &["bindings", "create", "--provider", "Mastodon"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    let admin = stdout(&setup(url, &["tokens", "create", "--name", "root", "--scope", "admin"]));
    let gateway =
        stdout(&setup(url, &["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "fake-main"]));
    assert!(admin.starts_with("occ_tok_") && !admin.contains('\n'), "only the token goes to stdout: {admin}");
    let listed = stdout(&setup(url, &["tokens", "list"]));
    assert!(listed.contains("root") && listed.contains("fake-main") && !listed.contains(&admin[20..]), "{listed}");

    let mut cloud = CloudProcess::start(url, "all");
    let api = Api { cloud: &cloud, client: reqwest::Client::new() };

    // No token, a malformed one, a valid id with a wrong secret: the same 401.
    let wrong_secret = format!("{}{}", &admin[..admin.len() - 2], if admin.ends_with("AA") { "BB" } else { "AA" });
    for token in [None, Some("occ_garbage"), Some(wrong_secret.as_str())] {
        let (status, body) = api.send("GET", "/api/api-tokens", token, None).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert_eq!(body["code"], "auth.unauthorized");
        assert!(body["error"].is_string());
    }
    // A gateway token is refused on every admin route.
    for (method, path) in [
        ("GET", "/api/api-tokens"),
        ("POST", "/api/api-tokens"),
        ("GET", "/api/channels/agents"),
        ("POST", "/api/channels/agents"),
        ("GET", "/api/channels/bindings"),
        ("POST", "/api/channels/bindings"),
        ("PATCH", "/api/channels/bindings/fake-main"),
        ("POST", "/api/api-tokens/tok_AAAAAAAAAAAAAAAA/channel-bindings"),
        ("DELETE", "/api/api-tokens/tok_AAAAAAAAAAAAAAAA"),
    ] {
        let (status, body) = api.send(method, path, Some(&gateway), Some("{}")).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert_eq!(body["verdict"]["allowed"], false);
    }

    // Agents and bindings.
    let (status, body) =
        api.post("/api/channels/agents", &admin, &json!({"agentId": "support", "name": "Support"})).await;
    assert_eq!(status, 201, "{body}");
    let agent_id = body["agent"]["agentId"].as_str().expect("agent id").to_owned();
    assert!(agent_id.starts_with("channel_agent_"), "{agent_id}");
    let agent_path = format!("/api/channels/agents/{agent_id}");
    let (status, body) = api.send("PATCH", &agent_path, Some(&admin), Some(r#"{"name":"Support desk"}"#)).await;
    assert_eq!((status, body["agent"]["name"].as_str()), (200, Some("Support desk")), "{body}");
    assert_eq!(api.send("PATCH", &agent_path, Some(&admin), Some(r#"{"status":"paused"}"#)).await.0, 400);
    assert_eq!(api.send("PATCH", &agent_path, Some(&admin), Some(r#"{"profileName":"gpu"}"#)).await.0, 400);
    assert_eq!(api.send("PATCH", "/api/channels/agents/ghost", Some(&admin), Some("{}")).await.0, 404);
    assert_eq!(api.send("PATCH", &agent_path, Some(&gateway), Some("{}")).await.0, 403);
    let binding = json!({
        "agentId": agent_id, "provider": "slack", "displayName": "Support Slack",
        "externalWorkspaceId": "T123", "credentialRef": "env:SLACK_BOT_TOKEN",
        "settings": {"signingSecret": "abc", "defaultProjectSource": "git"},
    });
    let (status, body) = api.post("/api/channels/bindings", &admin, &binding).await;
    assert_eq!(status, 201, "{body}");
    let binding_id = body["binding"]["bindingId"].as_str().expect("binding id").to_owned();
    let text = body.to_string();
    assert!(!text.contains("SLACK_BOT_TOKEN") && !text.contains("\"abc\""), "{text}");
    assert_eq!(body["binding"]["credentialRefKind"], "env");
    let (status, body) = api
        .send("PATCH", &format!("/api/channels/bindings/{binding_id}"), Some(&admin), Some(r#"{"status":"disabled"}"#))
        .await;
    assert_eq!((status, body["binding"]["status"].as_str()), (200, Some("disabled")), "{body}");
    let (status, body) = api.get(&format!("/api/channels/bindings?agentId={agent_id}"), &admin).await;
    assert_eq!((status, body["bindings"].as_array().map(Vec::len)), (200, Some(1)), "{body}");
    let (status, body) = api.get("/api/channels/agents?limit=x", &admin).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("request.invalid_field")), "{body}");

    // Tokens over HTTP: mint, grant, use, revoke.
    let (_, before) = api.get("/api/api-tokens", &admin).await;
    let count = before["tokens"].as_array().map_or(0, Vec::len);
    let (status, body) = api
        .post(
            "/api/api-tokens",
            &admin,
            &json!({"name": "gw2", "scopes": ["gateway"], "channelBindingIds": ["fake-main"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let minted = body["plaintext"].as_str().expect("plaintext").to_owned();
    let token_id = body["token"]["tokenId"].as_str().expect("token id").to_owned();
    assert!(body["token"].get("tokenHash").is_none() && !body["token"].to_string().contains(&minted));
    let (status, body) = api
        .post(&format!("/api/api-tokens/{token_id}/channel-bindings"), &admin, &json!({"channelBindingId": binding_id}))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut granted = vec![binding_id.clone(), "fake-main".to_owned()];
    granted.sort();
    assert_eq!(body["token"]["channelBindingIds"], json!(granted));
    assert_eq!(api.get("/api/channels/agents", &minted).await.0, 403, "the new token authenticates");
    let (status, body) = api.send("DELETE", &format!("/api/api-tokens/{token_id}"), Some(&admin), None).await;
    assert_eq!((status, body["revoked"].as_bool()), (200, Some(true)), "{body}");
    assert_eq!(api.get("/api/channels/agents", &minted).await.0, 401, "revoked: refused on the next request");

    // Bad input: a clear 4xx, and nothing stored.
    let huge = format!(r#"{{"name":"{}","scopes":["admin"]}}"#, "x".repeat(1024 * 1024));
    for (body, expected, code) in [
        ("{not json", 400, "request.invalid_json"),
        ("[1,2]", 400, "request.invalid_json"),
        (r#"{"name": 5, "scopes": ["admin"]}"#, 400, "request.invalid_field"),
        (r#"{"name": "x", "scopes": ["root"]}"#, 400, "request.invalid_field"),
        (r#"{"name": "x", "scopes": ["admin"], "expiresAt": "soon"}"#, 400, "request.invalid_field"),
        (r#"{"name": "x", "scopes": ["gateway"], "channelBindingIds": ["missing"]}"#, 404, "not_found"),
        (huge.as_str(), 413, "request.too_large"),
    ] {
        let (status, reply) = api.send("POST", "/api/api-tokens", Some(&admin), Some(body)).await;
        assert_eq!(
            (status, reply["code"].as_str()),
            (expected, Some(code)),
            "{}: {reply}",
            &body[..body.len().min(60)]
        );
    }
    let (_, after) = api.get("/api/api-tokens", &admin).await;
    assert_eq!(after["tokens"].as_array().map_or(0, Vec::len), count + 1, "only gw2 was added");
    let (status, body) = api.get("/api/nope", &admin).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = api.send("PUT", "/api/api-tokens", Some(&admin), None).await;
    assert_eq!((status, body["code"].as_str()), (405, Some("method_not_allowed")));

    // The command line sees what the API did, including when the admin token was last used.
    let listed = stdout(&setup(url, &["tokens", "list", "--json"]));
    let listed: Value = serde_json::from_str(&listed).expect("json");
    let root = listed["tokens"].as_array().and_then(|t| t.iter().find(|t| t["name"] == "root")).cloned();
    assert!(root.is_some_and(|root| root["lastUsedAt"].is_string()), "{listed}");
    let revoked = stdout(&setup(url, &["tokens", "revoke", &token_id]));
    assert!(revoked.contains(&token_id));
    assert_eq!(cloud.terminate().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_setup_then_administer_over_http() {
    setup_then_administer_over_http(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_setup_then_administer_over_http() {
    setup_then_administer_over_http(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_serves_no_api() {
    let test_db = TestDatabase::sqlite().await;
    let cloud = CloudProcess::start(&test_db.url, "worker");
    let (status, _) = cloud.get("/api/api-tokens").await;
    assert_eq!(status, 404);
}
