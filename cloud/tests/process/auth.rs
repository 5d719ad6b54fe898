//! Human auth modes against the real binary: signed identity headers (admins administer,
//! members get 403, stale, replayed and forged headers 401), OIDC bearer JWTs from a local
//! issuer whose keys the test makes, and mode `none` only where it is safe.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::routing::get;
use cowork_cloud::auth::header::{self, sign};
use cowork_cloud::auth::oidc::testing::{TestKeys, claims};
use cowork_cloud::database::testing::TestDatabase;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::harness::{CloudProcess, command, setup, stdout};

const SECRET: &str = "header-auth-secret-of-32-bytes!!";

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Sends `method path` with extra `headers` (and a JSON body for writes).
async fn send(cloud: &CloudProcess, method: &str, path: &str, headers: &[(String, String)]) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = reqwest::Client::new().request(method.clone(), format!("{}{path}", cloud.base));
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if method == reqwest::Method::POST {
        let body = if path.ends_with("/agents") {
            json!({"agentId": format!("agent-{}", uuid::Uuid::new_v4().simple()), "name": "Support"})
        } else {
            json!({"agentId": "default", "provider": "fake", "displayName": "Fake"})
        };
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Identity headers for `role`, signed with `key` at `timestamp`.
fn identity(role: &str, timestamp: i64, key: &str) -> Vec<(String, String)> {
    let fields = ["default", "Acme", "u-1", "ada@example.com", role];
    let ts = timestamp.to_string();
    let mut headers: Vec<(String, String)> =
        [header::TENANT_ID, header::TENANT_NAME, header::USER_ID, header::USER_EMAIL, header::USER_ROLE]
            .into_iter()
            .zip(fields)
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
    headers.push((header::TIMESTAMP.to_owned(), ts.clone()));
    headers.push((header::SIGNATURE.to_owned(), sign(key.as_bytes(), &ts, fields)));
    headers
}

async fn binding_count(cloud: &CloudProcess, admin_token: &str) -> usize {
    let bearer = vec![("authorization".to_owned(), format!("Bearer {admin_token}"))];
    let (status, body) = send(cloud, "GET", "/api/channels/bindings", &bearer).await;
    assert_eq!(status, 200, "{body}");
    body["bindings"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_auth_admins_administer_and_bad_headers_are_refused() {
    let test_db = TestDatabase::sqlite().await;
    let url = test_db.url.as_str();
    stdout(&setup(url, &["bindings", "create", "--provider", "fake", "--binding-id", "fake-main"]));
    let token = stdout(&setup(url, &["tokens", "create", "--name", "root", "--scope", "admin"]));
    let vars = [("OPEN_COWORK_CLOUD_AUTH_MODE", "header"), ("OPEN_COWORK_CLOUD_HEADER_AUTH_SECRET", SECRET)];
    let cloud = CloudProcess::start_with(url, "all", &vars);
    let (_, ready) = cloud.get("/readyz").await;
    assert_eq!(ready["authMode"], "header", "{ready}");
    // Each signature is accepted once, so every request is signed afresh (a second apart).
    let now = now_secs();
    let admin_get = identity("admin", now, SECRET);
    let (status, body) = send(&cloud, "GET", "/api/channels/bindings", &admin_get).await;
    assert_eq!((status, body["bindings"].as_array().map(Vec::len)), (200, Some(1)), "{body}");
    let (status, body) = send(&cloud, "POST", "/api/channels/bindings", &identity("owner", now - 1, SECRET)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(&cloud, "POST", "/api/channels/agents", &identity("admin", now - 2, SECRET)).await;
    assert_eq!(status, 201, "{body}");
    let before = binding_count(&cloud, &token).await;
    assert_eq!(before, 2);

    // A member is a person, but not an administrator; no person uses the channel service routes.
    for (at, method, path) in [(now - 10, "GET", "/api/channels/agents"), (now - 11, "POST", "/api/channels/bindings")]
    {
        let (status, body) = send(&cloud, method, path, &identity("member", at, SECRET)).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("auth.admin_role_required")), "{path}: {body}");
    }
    let (status, _) =
        send(&cloud, "GET", "/api/channels/sessions/by-thread", &identity("owner", now - 4, SECRET)).await;
    assert_eq!(status, 403, "channel service routes are for gateways");

    // Replayed, stale, forged, unknown role, tampered: the same 401, nothing stored.
    let mut tampered = identity("member", now - 5, SECRET);
    tampered[4].1 = "owner".to_owned();
    let mut bad_token = identity("admin", now - 6, SECRET);
    bad_token.push(("authorization".to_owned(), "Bearer occ_tok_AAAAAAAAAAAAAAAA_wrong".to_owned()));
    for (what, headers) in [
        ("replayed", admin_get),
        ("stale", identity("admin", now - 301, SECRET)),
        ("forged", identity("admin", now - 7, "another-secret-another-secret-xx")),
        ("unknown role", identity("root", now - 8, SECRET)),
        ("tampered", tampered),
        ("a bad API token beside valid headers", bad_token),
    ] {
        let (status, body) = send(&cloud, "POST", "/api/channels/bindings", &headers).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("auth.unauthorized")), "{what}: {body}");
        assert!(!body.to_string().contains(SECRET));
    }
    assert_eq!(binding_count(&cloud, &token).await, before, "nothing stored on refusal");
}

/// A local issuer: discovery and JWKS on loopback, counting fetches.
struct Issuer {
    url: String,
    discovery_fetches: Arc<AtomicUsize>,
    jwks_fetches: Arc<AtomicUsize>,
    /// The JWKS it serves (replace it to rotate keys).
    published: Arc<Mutex<Value>>,
}

async fn start_issuer() -> Issuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let url = format!("http://{addr}");
    let (discovery_fetches, jwks_fetches) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let document = json!({"issuer": url, "jwks_uri": format!("{url}/jwks")});
    let (discoveries, jwks) = (discovery_fetches.clone(), jwks_fetches.clone());
    let published = Arc::new(Mutex::new(TestKeys::shared().jwks()));
    let serving = published.clone();
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move {
                discoveries.fetch_add(1, Ordering::SeqCst);
                Json(document)
            }),
        )
        .route(
            "/jwks",
            get(move || async move {
                jwks.fetch_add(1, Ordering::SeqCst);
                Json(serving.lock().expect("keys").clone())
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Issuer { url, discovery_fetches, jwks_fetches, published }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_bearer_tokens_are_checked_against_the_issuer() {
    let keys = TestKeys::shared();
    let issuer = start_issuer().await;
    let test_db = TestDatabase::sqlite().await;
    let url = test_db.url.as_str();
    stdout(&setup(url, &["bindings", "create", "--provider", "fake", "--binding-id", "fake-main"]));
    let token = stdout(&setup(url, &["tokens", "create", "--name", "root", "--scope", "admin"]));
    let vars = [
        ("OPEN_COWORK_CLOUD_AUTH_MODE", "oidc"),
        ("OPEN_COWORK_CLOUD_OIDC_ISSUER", issuer.url.as_str()),
        ("OPEN_COWORK_CLOUD_OIDC_CLIENT_ID", "cowork"),
        ("OPEN_COWORK_CLOUD_OIDC_ALLOWED_EMAIL_DOMAINS", "example.com"),
    ];
    let cloud = CloudProcess::start_with(url, "all", &vars);
    let bearer = |jwt: String| vec![("authorization".to_owned(), format!("Bearer {jwt}"))];
    let now = now_secs();
    let good = claims(&issuer.url, "cowork", now, "admin");
    let with = |changes: Value| {
        let mut claims = good.clone();
        for (key, value) in changes.as_object().expect("object") {
            claims[key] = value.clone();
        }
        claims
    };

    let admin = bearer(keys.sign(Algorithm::RS256, &good));
    let (status, body) = send(&cloud, "GET", "/api/channels/bindings", &admin).await;
    assert_eq!((status, body["bindings"].as_array().map(Vec::len)), (200, Some(1)), "{body}");
    let (status, body) = send(&cloud, "POST", "/api/channels/bindings", &admin).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(&cloud, "GET", "/api/channels/agents", &bearer(keys.sign(Algorithm::RS512, &good))).await;
    assert_eq!(status, 200, "{body}");
    let member = bearer(keys.sign(Algorithm::RS256, &with(json!({"role": "member"}))));
    assert_eq!(send(&cloud, "GET", "/api/channels/agents", &member).await.0, 403);
    let before = binding_count(&cloud, &token).await;

    for (what, jwt) in [
        ("wrong issuer", keys.sign(Algorithm::RS256, &with(json!({"iss": "https://evil.example.com"})))),
        ("wrong audience", keys.sign(Algorithm::RS256, &with(json!({"aud": "someone-else"})))),
        ("alg none", TestKeys::unsigned(&good)),
        ("HS256 keyed with the public key", keys.sign_hs256_with_public_key(&good)),
        ("expired", keys.sign(Algorithm::RS256, &with(json!({"exp": now - 120})))),
        ("not yet valid", keys.sign(Algorithm::RS256, &with(json!({"nbf": now + 120})))),
        ("email unverified", keys.sign(Algorithm::RS256, &with(json!({"email_verified": false})))),
        ("domain not allowed", keys.sign(Algorithm::RS256, &with(json!({"email": "eve@evil.example"})))),
    ] {
        let (status, body) = send(&cloud, "POST", "/api/channels/bindings", &bearer(jwt)).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("auth.unauthorized")), "{what}: {body}");
    }
    assert_eq!(binding_count(&cloud, &token).await, before, "nothing stored on refusal");
    // Discovery and keys were fetched once and then served from the cache.
    assert_eq!(issuer.discovery_fetches.load(Ordering::SeqCst), 1);
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1);

    // The issuer rotates its key: a token under the new key id refetches the JWKS once.
    let rotated = TestKeys::generate().with_kid("test-key-2");
    *issuer.published.lock().expect("keys") = rotated.jwks();
    let (status, body) =
        send(&cloud, "GET", "/api/channels/agents", &bearer(rotated.sign(Algorithm::RS256, &good))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 2);
    // Another unknown key id right after does not make the cloud fetch again.
    let ghost = TestKeys::generate().with_kid("ghost");
    let (status, _) = send(&cloud, "GET", "/api/channels/agents", &bearer(ghost.sign(Algorithm::RS256, &good))).await;
    assert_eq!(status, 401);
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 2, "refetches for unknown key ids are rate-limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_issuer_is_a_401_not_a_5xx() {
    let test_db = TestDatabase::sqlite().await;
    let vars = [
        ("OPEN_COWORK_CLOUD_AUTH_MODE", "oidc"),
        // Nothing listens on port 1.
        ("OPEN_COWORK_CLOUD_OIDC_ISSUER", "http://127.0.0.1:1"),
        ("OPEN_COWORK_CLOUD_OIDC_CLIENT_ID", "cowork"),
    ];
    let cloud = CloudProcess::start_with(&test_db.url, "all", &vars);
    let jwt = TestKeys::shared().sign(Algorithm::RS256, &claims("http://127.0.0.1:1", "cowork", now_secs(), "admin"));
    let (status, body) =
        send(&cloud, "GET", "/api/channels/agents", &[("authorization".to_owned(), format!("Bearer {jwt}"))]).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("auth.unauthorized")), "{body}");
    assert!(!body.to_string().contains("127.0.0.1"), "the reason is logged, not sent: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_none_is_refused_off_loopback_unless_allowed() {
    let test_db = TestDatabase::sqlite().await;
    let url = test_db.url.as_str();
    let output = command(&["serve", "--listen", "0.0.0.0:0", "--database-url", url])
        .env("OPEN_COWORK_CLOUD_AUTH_MODE", "none")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OPEN_COWORK_CLOUD_AUTH_MODE") && stderr.contains("ALLOW_INSECURE_AUTH"), "{stderr}");
    let output = command(&["serve", "--listen", "127.0.0.1:0", "--database-url", url])
        .env("OPEN_COWORK_CLOUD_AUTH_MODE", "none")
        .env("OPEN_COWORK_CLOUD_PUBLIC_URL", "https://cloud.example.com")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));

    let allowed = [("OPEN_COWORK_CLOUD_AUTH_MODE", "none"), ("OPEN_COWORK_CLOUD_ALLOW_INSECURE_AUTH", "true")];
    drop(CloudProcess::start_on("0.0.0.0:0", url, "web", &allowed));

    // On loopback the local owner administers without credentials, but not the channel routes.
    let cloud = CloudProcess::start_with(url, "all", &[("OPEN_COWORK_CLOUD_AUTH_MODE", "none")]);
    let (status, body) = send(&cloud, "POST", "/api/channels/agents", &[]).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(&cloud, "GET", "/api/channels/agents", &[]).await;
    assert_eq!((status, body["agents"].as_array().map(Vec::len)), (200, Some(1)), "{body}");
    assert_eq!(send(&cloud, "GET", "/api/channels/sessions/by-thread", &[]).await.0, 403);
    // A bad API token is still refused, not treated as the owner.
    let bad = [("authorization".to_owned(), "Bearer occ_tok_AAAAAAAAAAAAAAAA_wrong".to_owned())];
    assert_eq!(send(&cloud, "GET", "/api/channels/agents", &bad).await.0, 401);
}
