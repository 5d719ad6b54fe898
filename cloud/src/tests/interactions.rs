//! Channel interactions under a manual clock, over both databases: a token is good until its
//! expiry (ten minutes by default) and then answers the same 404 as a token that never existed,
//! and the row is marked expired.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::admin::Admin;
use crate::admin::agents::NewAgent;
use crate::admin::bindings::NewBinding;
use crate::api::ApiError;
use crate::auth::Principal;
use crate::channels::interactions::{CreateInteraction, ResolveInteraction};
use crate::channels::{BindSession, ChannelPolicy, Channels, Quotas, ResolveIdentity};
use crate::database::Database;
use crate::store::CloudStore;
use crate::{CloudService, DemoRuntime, ManualClock};

const TEN_MINUTES: Duration = Duration::from_secs(600);

/// Channels allowing remote approvals, a gateway principal granted `fake-main`, and the
/// session binding and session of thread `C1/T1` (member `U1`).
struct Gateway {
    channels: Channels,
    clock: ManualClock,
    principal: Principal,
    binding: String,
    session: String,
}

impl Gateway {
    async fn new(db: Database) -> Self {
        let clock = ManualClock::at(1_800_000_000_000);
        let store = CloudStore::new(db.clone());
        let admin = Admin::open(store, Arc::new(clock.clone()), None).await.unwrap_or_else(|e| panic!("admin: {e}"));
        let agent = NewAgent { agent_id: Some("agent-1".into()), name: Some("Agent".into()), ..NewAgent::default() };
        admin.create_agent(&Principal::CommandLine, agent).await.unwrap_or_else(|e| panic!("agent: {e}"));
        let binding = NewBinding {
            binding_id: Some("fake-main".into()),
            agent_id: Some("agent-1".into()),
            provider: Some("fake".into()),
            display_name: Some("Fake".into()),
            ..NewBinding::default()
        };
        admin.create_binding(&Principal::CommandLine, binding).await.unwrap_or_else(|e| panic!("binding: {e}"));
        let issued = admin
            .issue_token(&Principal::CommandLine, Some("gw"), &["gateway".to_owned()], None, &["fake-main".to_owned()])
            .await
            .unwrap_or_else(|e| panic!("token: {e}"));
        let header = format!("Bearer {}", issued.plaintext.expose());
        let principal = admin.authenticate(Some(&header)).await.unwrap_or_else(|e| panic!("authenticate: {e}"));
        let runtime = Arc::new(DemoRuntime::new(Duration::from_millis(1)));
        let (service, _worker) = CloudService::new(db, super::test_settings(), runtime, Arc::new(clock.clone()));
        let channels = Channels::new(service, Quotas::default(), admin.hasher().clone())
            .with_policy(ChannelPolicy { allow_remote_approvals: true, ..ChannelPolicy::default() });
        let identity = ResolveIdentity {
            provider: Some("fake".into()),
            external_user_id: Some("U1".into()),
            ..ResolveIdentity::default()
        };
        channels.resolve_identity(&principal, identity).await.unwrap_or_else(|e| panic!("identity: {e}"));
        let bind = BindSession {
            channel_binding_id: Some("fake-main".into()),
            provider: Some("fake".into()),
            external_chat_id: Some("C1".into()),
            external_thread_id: Some("T1".into()),
            ..BindSession::default()
        };
        let bound = channels.bind(&principal, bind).await.unwrap_or_else(|e| panic!("bind: {e}"));
        let text = |v: &Value| v.as_str().unwrap_or_else(|| panic!("{bound}")).to_owned();
        let (binding, session) = (text(&bound["binding"]["bindingId"]), text(&bound["binding"]["sessionId"]));
        Self { channels, clock, principal, binding, session }
    }

    /// Issues an interaction for `target` with the default expiry: (id, token).
    async fn issue(&self, target: &str) -> (String, String) {
        let request = CreateInteraction {
            agent_id: Some("agent-1".into()),
            session_binding_id: Some(self.binding.clone()),
            session_id: Some(self.session.clone()),
            provider: Some("fake".into()),
            kind: Some("permission".into()),
            target_id: Some(target.into()),
            ..CreateInteraction::default()
        };
        let created =
            self.channels.create_interaction(&self.principal, request).await.unwrap_or_else(|e| panic!("create: {e}"));
        let text = |v: &Value| v.as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
        (text(&created["interaction"]["interactionId"]), text(&created["plaintextToken"]))
    }

    async fn resolve(&self, token: &str) -> Result<Value, ApiError> {
        let request = ResolveInteraction {
            token: Some(token.into()),
            provider: Some("fake".into()),
            external_user_id: Some("U1".into()),
            external_chat_id: Some("C1".into()),
            response: Some(json!("once")),
            ..ResolveInteraction::default()
        };
        self.channels.resolve_interaction(&self.principal, request).await
    }
}

fn refusal(result: Result<Value, ApiError>) -> (u16, Value) {
    match result {
        Ok(body) => panic!("expected a refusal, got {body}"),
        Err(error) => (error.status().as_u16(), error.body()),
    }
}

async fn an_interaction_lapses_at_its_expiry(db: Database) {
    let gateway = Gateway::new(db).await;
    let (_, early) = gateway.issue("perm-1").await;
    let (late_id, late) = gateway.issue("perm-2").await;
    let made_up = format!("occi_channel_interaction_{}_{}", "0".repeat(32), "s".repeat(32));
    let not_found = refusal(gateway.resolve(&made_up).await);
    assert_eq!(not_found.0, 404);

    // A millisecond before the default ten minutes are up, the token still works.
    gateway.clock.advance(TEN_MINUTES - Duration::from_millis(1));
    let resolved = gateway.resolve(&early).await.unwrap_or_else(|e| panic!("resolve before expiry: {e}"));
    assert_eq!(
        (resolved["interaction"]["status"].as_str(), resolved["command"]["kind"].as_str()),
        (Some("used"), Some("permission.respond"))
    );

    // At the expiry it is the same 404 as a token that never existed, and stays so.
    gateway.clock.advance(Duration::from_millis(1));
    assert_eq!(refusal(gateway.resolve(&late).await), not_found, "expired");
    let stored = gateway.channels.service().store().interaction(&late_id).await.ok().flatten();
    assert_eq!(stored.map(|i| (i.status, i.used_at)), Some(("expired".to_owned(), None)));
    assert_eq!(refusal(gateway.resolve(&late).await), not_found, "expired, again");
}

crate::backend_tests!(an_interaction_lapses_at_its_expiry);
