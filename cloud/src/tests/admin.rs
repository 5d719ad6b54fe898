//! Agents, bindings and API tokens over both databases: minting, authenticating, revoking,
//! expiry, grants, validation that stores nothing, and the audit trail.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use crate::admin::Admin;
use crate::admin::agents::NewAgent;
use crate::admin::bindings::{BindingPatch, NewBinding};
use crate::api::ApiError;
use crate::auth::Principal;
use crate::config::Secret;
use crate::database::Database;
use crate::store::CloudStore;
use crate::{Clock, ManualClock};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

async fn admin(db: Database) -> (Admin, ManualClock, CloudStore) {
    let clock = ManualClock::at(1_800_000_000_000);
    let store = CloudStore::new(db);
    let admin =
        Admin::open(store.clone(), Arc::new(clock.clone()), None).await.unwrap_or_else(|e| panic!("open admin: {e}"));
    (admin, clock, store)
}

fn ms(value: i64) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(value).unwrap_or(0))
}

fn status(result: Result<impl std::fmt::Debug, ApiError>) -> StatusCode {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error.status(),
    }
}

/// An agent `agent-1` and an active binding `slack-main` made from the command line.
async fn set_up(admin: &Admin) {
    let agent = NewAgent { agent_id: Some("agent-1".into()), name: Some("Support".into()), ..NewAgent::default() };
    admin.create_agent(&Principal::CommandLine, agent).await.unwrap_or_else(|e| panic!("agent: {e}"));
    let binding = NewBinding {
        binding_id: Some("slack-main".into()),
        agent_id: Some("agent-1".into()),
        provider: Some("slack".into()),
        display_name: Some("Slack".into()),
        credential_ref: Some("env:SLACK_BOT_TOKEN".into()),
        ..NewBinding::default()
    };
    admin.create_binding(&Principal::CommandLine, binding).await.unwrap_or_else(|e| panic!("binding: {e}"));
}

async fn a_token_authenticates_until_revoked_or_expired(db: Database) {
    let (admin, clock, _) = admin(db).await;
    set_up(&admin).await;
    let scopes = ["gateway".to_owned()];
    let bindings = ["slack-main".to_owned()];
    let issued = admin
        .issue_token(&Principal::CommandLine, Some("gw"), &scopes, None, &bindings)
        .await
        .unwrap_or_else(|e| panic!("issue: {e}"));
    assert_eq!(issued.token["channelBindingIds"], json!(["slack-main"]));
    assert_eq!(issued.token["scopes"], json!(["gateway"]));
    assert!(issued.token.get("tokenHash").is_none());
    let header = format!("Bearer {}", issued.plaintext.expose());
    let principal = admin.authenticate(Some(&header)).await.unwrap_or_else(|e| panic!("authenticate: {e}"));
    assert!(matches!(&principal, Principal::Token { id, .. } if id.as_str() == issued.token["tokenId"]));
    // A gateway token may not administer.
    assert_eq!(status(admin.list_tokens(&principal, 10).await), StatusCode::FORBIDDEN);
    // The same id with another secret is refused, as is any malformed header.
    let forged = format!("{}X", &header[..header.len() - 1]);
    let forged = if forged == header { format!("{}Y", &header[..header.len() - 1]) } else { forged };
    for bad in [Some(forged.as_str()), None, Some("Bearer"), Some("Basic abc"), Some("Bearer occ_nope")] {
        assert_eq!(status(admin.authenticate(bad).await), StatusCode::UNAUTHORIZED, "{bad:?}");
    }
    // Expiry: valid a moment before, refused at the expiry.
    clock.advance(ms(90 * DAY_MS - 1));
    assert!(admin.authenticate(Some(&header)).await.is_ok());
    clock.advance(ms(1));
    assert_eq!(status(admin.authenticate(Some(&header)).await), StatusCode::UNAUTHORIZED);

    // Revocation counts on the very next request.
    let second = admin
        .issue_token(&Principal::CommandLine, Some("gw2"), &scopes, None, &[])
        .await
        .unwrap_or_else(|e| panic!("issue: {e}"));
    let header = format!("Bearer {}", second.plaintext.expose());
    assert!(admin.authenticate(Some(&header)).await.is_ok());
    let id = second.token["tokenId"].as_str().unwrap_or_default().to_owned();
    let revoked = admin.revoke_token(&Principal::CommandLine, &id).await.unwrap_or_else(|e| panic!("revoke: {e}"));
    assert_eq!(revoked["revoked"], true);
    assert!(revoked["token"]["revokedAt"].is_string());
    assert_eq!(status(admin.authenticate(Some(&header)).await), StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(admin.revoke_token(&Principal::CommandLine, "tok_AAAAAAAAAAAAAAAA").await),
        StatusCode::NOT_FOUND
    );
}

/// A token request (name, scopes, expiry, grants) and the status it must get.
type TokenCase<'a> = (Option<&'a str>, Vec<String>, Option<i64>, Vec<String>, StatusCode);

async fn bad_token_requests_store_nothing(db: Database) {
    let (admin, _, store) = admin(db).await;
    set_up(&admin).await;
    let cli = Principal::CommandLine;
    let gateway = ["gateway".to_owned()];
    let cases: Vec<TokenCase<'_>> = vec![
        (None, gateway.to_vec(), None, vec![], StatusCode::BAD_REQUEST),
        (Some("x"), vec!["desktop".into()], None, vec![], StatusCode::BAD_REQUEST),
        (Some("x"), vec![], None, vec![], StatusCode::BAD_REQUEST),
        (Some("x"), gateway.to_vec(), Some(1), vec![], StatusCode::BAD_REQUEST),
        (Some("x"), gateway.to_vec(), Some(1_800_000_000_000 + 366 * DAY_MS), vec![], StatusCode::BAD_REQUEST),
        (Some("x"), vec!["admin".into()], None, vec!["slack-main".into()], StatusCode::BAD_REQUEST),
        (Some("x"), gateway.to_vec(), None, vec!["no-such-binding".into()], StatusCode::NOT_FOUND),
    ];
    for (name, scopes, expires_at, bindings, expected) in cases {
        let result = admin.issue_token(&cli, name, &scopes, expires_at, &bindings).await;
        assert_eq!(status(result), expected, "{name:?} {scopes:?} {expires_at:?} {bindings:?}");
    }
    assert!(store.tokens(10).await.unwrap_or_else(|e| panic!("tokens: {e}")).is_empty());
    let events = store.audit_events(100).await.unwrap_or_else(|e| panic!("audit: {e}"));
    assert!(events.iter().all(|e| !e.event_type.starts_with("api_token")), "{events:?}");
}

async fn grants_need_a_gateway_token_and_a_binding(db: Database) {
    let (admin, _, store) = admin(db).await;
    set_up(&admin).await;
    let cli = Principal::CommandLine;
    let gateway = admin
        .issue_token(&cli, Some("gw"), &["gateway".to_owned()], None, &[])
        .await
        .unwrap_or_else(|e| panic!("issue: {e}"));
    let operator = admin
        .issue_token(&cli, Some("ops"), &["operator".to_owned()], None, &[])
        .await
        .unwrap_or_else(|e| panic!("issue: {e}"));
    let gateway_id = gateway.token["tokenId"].as_str().unwrap_or_default();
    let operator_id = operator.token["tokenId"].as_str().unwrap_or_default();
    assert_eq!(status(admin.grant_binding(&cli, operator_id, Some("slack-main")).await), StatusCode::BAD_REQUEST);
    assert_eq!(status(admin.grant_binding(&cli, gateway_id, Some("nope")).await), StatusCode::NOT_FOUND);
    assert_eq!(status(admin.grant_binding(&cli, gateway_id, None).await), StatusCode::BAD_REQUEST);
    assert_eq!(status(admin.grant_binding(&cli, "tok_nope", Some("slack-main")).await), StatusCode::NOT_FOUND);
    for _ in 0..2 {
        let granted =
            admin.grant_binding(&cli, gateway_id, Some("slack-main")).await.unwrap_or_else(|e| panic!("grant: {e}"));
        assert_eq!(granted["token"]["channelBindingIds"], json!(["slack-main"]));
        assert_eq!(granted["grant"]["channelBindingId"], "slack-main");
    }
    let events = store.audit_events(100).await.unwrap_or_else(|e| panic!("audit: {e}"));
    let grants = events.iter().filter(|e| e.event_type == "api_token.channel_binding_granted").count();
    assert_eq!(grants, 1, "granting twice is one grant: {events:?}");
    // Nothing in the audit trail holds a token's secret.
    for event in &events {
        assert!(!event.metadata.contains(gateway.plaintext.expose()), "{event:?}");
    }
}

async fn bindings_are_validated_changed_and_audited(db: Database) {
    let (admin, clock, store) = admin(db).await;
    set_up(&admin).await;
    let cli = Principal::CommandLine;
    let missing_agent = NewBinding {
        agent_id: Some("ghost".into()),
        provider: Some("slack".into()),
        display_name: Some("x".into()),
        ..NewBinding::default()
    };
    assert_eq!(status(admin.create_binding(&cli, missing_agent).await), StatusCode::NOT_FOUND);
    let bad_provider = NewBinding {
        agent_id: Some("agent-1".into()),
        provider: Some("Mastodon".into()),
        display_name: Some("x".into()),
        ..NewBinding::default()
    };
    assert_eq!(status(admin.create_binding(&cli, bad_provider).await), StatusCode::BAD_REQUEST);
    let huge = NewBinding {
        agent_id: Some("agent-1".into()),
        provider: Some("webhook".into()),
        display_name: Some("x".into()),
        settings: Some(json!({"blob": "x".repeat(20_000)})),
        ..NewBinding::default()
    };
    assert_eq!(status(admin.create_binding(&cli, huge).await), StatusCode::BAD_REQUEST);
    let listed = admin.list_bindings(&cli, None, 100).await.unwrap_or_else(|e| panic!("list: {e}"));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["credentialRefKind"], "env");
    assert!(!listed[0].to_string().contains("SLACK_BOT_TOKEN"));

    clock.advance(ms(5));
    let patch = BindingPatch { status: Some("disabled".into()), credential_ref: Some(None), ..BindingPatch::default() };
    let changed = admin.update_binding(&cli, "slack-main", patch).await.unwrap_or_else(|e| panic!("patch: {e}"));
    assert_eq!(changed["status"], "disabled");
    assert_eq!(changed["credentialRefConfigured"], false);
    assert_ne!(changed["updatedAt"], changed["createdAt"]);
    let bad = BindingPatch { status: Some("paused".into()), ..BindingPatch::default() };
    assert_eq!(status(admin.update_binding(&cli, "slack-main", bad).await), StatusCode::BAD_REQUEST);
    let none = BindingPatch::default();
    assert_eq!(status(admin.update_binding(&cli, "ghost", none).await), StatusCode::NOT_FOUND);

    let events = store.audit_events(100).await.unwrap_or_else(|e| panic!("audit: {e}"));
    let types: Vec<&str> = events.iter().rev().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["headless_agent.created", "channel_binding.created", "channel_binding.updated"]);
    assert!(events.iter().all(|e| e.actor_type == "system" && e.actor_id == "command-line"));
}

async fn api_ids_are_seeds_and_creating_twice_answers_the_stored_record(db: Database) {
    let (admin, _, _) = admin(db).await;
    set_up(&admin).await;
    let issued = admin
        .issue_token(&Principal::CommandLine, Some("admin"), &["admin".to_owned()], None, &[])
        .await
        .unwrap_or_else(|e| panic!("issue: {e}"));
    let header = format!("Bearer {}", issued.plaintext.expose());
    let principal = admin.authenticate(Some(&header)).await.unwrap_or_else(|e| panic!("authenticate: {e}"));
    let agent = || NewAgent { agent_id: Some("seed".into()), name: Some("A".into()), ..NewAgent::default() };
    let first = admin.create_agent(&principal, agent()).await.unwrap_or_else(|e| panic!("agent: {e}"));
    let id = first["agentId"].as_str().unwrap_or_default();
    assert!(id.starts_with("channel_agent_") && id.len() == "channel_agent_".len() + 32, "{id}");
    let again = admin.create_agent(&principal, agent()).await.unwrap_or_else(|e| panic!("agent: {e}"));
    assert_eq!(again, first);
    // The command line names ids itself, and only with plain characters.
    let odd = NewAgent { agent_id: Some("a b".into()), name: Some("A".into()), ..NewAgent::default() };
    assert_eq!(status(admin.create_agent(&Principal::CommandLine, odd).await), StatusCode::BAD_REQUEST);
    let other_profile = NewAgent { name: Some("A".into()), profile_name: Some("gpu".into()), ..NewAgent::default() };
    assert_eq!(status(admin.create_agent(&principal, other_profile).await), StatusCode::BAD_REQUEST);
}

async fn the_token_key_is_made_once_and_a_configured_one_must_be_long(db: Database) {
    let store = CloudStore::new(db);
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(1));
    let (a, b) = tokio::join!(store.token_key(1), store.token_key(1));
    let (a, b) = (a.unwrap_or_else(|e| panic!("key: {e}")), b.unwrap_or_else(|e| panic!("key: {e}")));
    assert_eq!(a, b);
    let short = Secret::new("too-short".into());
    assert!(Admin::open(store.clone(), clock.clone(), Some(&short)).await.is_err());
    // A token minted under one key does not verify under another.
    let first = Admin::open(store.clone(), clock.clone(), None).await.unwrap_or_else(|e| panic!("open: {e}"));
    let issued = first
        .issue_token(&Principal::CommandLine, Some("a"), &["admin".to_owned()], Some(DAY_MS), &[])
        .await
        .unwrap_or_else(|e| panic!("issue: {e}"));
    let header = format!("Bearer {}", issued.plaintext.expose());
    assert!(first.authenticate(Some(&header)).await.is_ok());
    let other_key = Secret::new("k".repeat(40));
    let second = Admin::open(store, clock, Some(&other_key)).await.unwrap_or_else(|e| panic!("open: {e}"));
    assert_eq!(status(second.authenticate(Some(&header)).await), StatusCode::UNAUTHORIZED);
}

crate::backend_tests!(
    a_token_authenticates_until_revoked_or_expired,
    bad_token_requests_store_nothing,
    grants_need_a_gateway_token_and_a_binding,
    bindings_are_validated_changed_and_audited,
    api_ids_are_seeds_and_creating_twice_answers_the_stored_record,
    the_token_key_is_made_once_and_a_configured_one_must_be_long,
);
