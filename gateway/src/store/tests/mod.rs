//! The store's conformance suite: every behaviour, named for what it guarantees, runs on SQLite
//! and on Postgres (`sqlite::` and `postgres::` variants declared by `backend_tests!`).

mod availability;
mod burst;
mod fence;
mod inbox;
mod interactions;
mod model;
mod operator;
mod outbox;
mod render;
mod replay;
mod retention;
mod thread_context;
mod transcript;

use cowork_cloud::database::Database;
use cowork_cloud::{with_reader, with_writer};
use cowork_cloud_client::SessionId;
use cowork_providers::{BindingId, Button, ButtonStyle, ChatRef, InboundBody, InboundEvent, ProviderId, Sender};

use super::{
    Decision, GatewayStore, InteractionKind, NewInbound, NewInteraction, NewOutbound, PlannedOp, RenderCommit,
    RenderCursor, WorkerId,
};

/// A start time far from zero, so "before" and "after" are both valid times.
pub(super) const T0: i64 = 1_700_000_000_000;
/// The lease used by the tests.
pub(super) const LEASE: i64 = 30_000;

pub(super) fn store(db: Database) -> GatewayStore {
    GatewayStore::new(db)
}

pub(super) fn binding() -> BindingId {
    BindingId::new("b1")
}

pub(super) fn provider() -> ProviderId {
    ProviderId::new("fake")
}

pub(super) fn worker(name: &str) -> WorkerId {
    WorkerId(name.to_owned())
}

pub(super) fn chat(chat_id: &str) -> ChatRef {
    ChatRef { chat_id: chat_id.to_owned(), thread_id: None }
}

pub(super) fn thread(chat_id: &str, thread_id: &str) -> ChatRef {
    ChatRef { chat_id: chat_id.to_owned(), thread_id: Some(thread_id.to_owned()) }
}

/// An inbound message `event_id` in `chat` on binding `b1`.
pub(super) fn inbound(event_id: &str, chat: ChatRef) -> NewInbound {
    inbound_text(event_id, chat, &format!("text of {event_id}"))
}

pub(super) fn inbound_text(event_id: &str, chat: ChatRef, text: &str) -> NewInbound {
    NewInbound {
        binding_id: binding(),
        provider_id: provider(),
        event: InboundEvent {
            provider_event_id: event_id.to_owned(),
            chat,
            sender: Sender { user_id: "u1".into(), display_name: Some("Ada".into()) },
            body: InboundBody::Message { text: text.to_owned() },
            reply_context: None,
        },
        trace: None,
    }
}

pub(super) fn send(text: &str) -> PlannedOp {
    PlannedOp::Send { text: text.to_owned(), buttons: Vec::new() }
}

pub(super) fn edit(text: &str) -> PlannedOp {
    PlannedOp::Edit { text: text.to_owned(), buttons: Vec::new() }
}

pub(super) fn buttons() -> Vec<Vec<Button>> {
    vec![vec![
        Button { label: "Approve".into(), handle: "abc:y".into(), style: ButtonStyle::Success },
        Button { label: "Deny".into(), handle: "abc:n".into(), style: ButtonStyle::Danger },
    ]]
}

/// An outbox row with dedupe key `key` in `chat`.
pub(super) fn outbound(key: &str, chat: ChatRef, message_key: Option<&str>, op: PlannedOp) -> NewOutbound {
    NewOutbound {
        dedupe_key: key.to_owned(),
        binding_id: binding(),
        provider_id: provider(),
        chat,
        message_key: message_key.map(str::to_owned),
        op,
        trace: None,
    }
}

pub(super) fn cursor(session: &str, chat_id: &str) -> RenderCursor {
    RenderCursor {
        session_id: SessionId::new(session),
        binding_id: binding(),
        provider_id: provider(),
        chat: chat(chat_id),
        last_sequence: 0,
    }
}

pub(super) fn interaction(code: &str, session: &str, target: &str, expires_at: i64) -> NewInteraction {
    NewInteraction {
        code: code.to_owned(),
        binding_id: binding(),
        provider_id: provider(),
        session_id: SessionId::new(session),
        chat: thread("c1", "t1"),
        kind: InteractionKind::Question,
        target_id: target.to_owned(),
        prompt_text: "Which one?".into(),
        options: vec!["red".into(), "blue".into()],
        message_key: format!("buttons-{target}"),
        expires_at,
    }
}

pub(super) fn decision(by: &str, event_key: &str, at: i64) -> Decision {
    Decision { by: by.to_owned(), choice: "0".into(), event_key: event_key.to_owned(), at }
}

/// A render commit that only moves the cursor.
pub(super) fn step(session: &str, expected: i64, new: i64) -> RenderCommit {
    RenderCommit {
        session_id: SessionId::new(session),
        expected_sequence: expected,
        new_sequence: new,
        outbound: Vec::new(),
        message_refs: Vec::new(),
        interactions: Vec::new(),
        epoch: None,
    }
}

/// Stores interactions the way the renderer does: through a render commit of their session.
pub(super) async fn seed_interactions(store: &GatewayStore, specs: Vec<NewInteraction>) {
    for spec in specs {
        let session = spec.session_id.as_str().to_owned();
        store.ensure_cursor(&cursor(&session, "c1"), T0).await.unwrap();
        let at = store.cursor(&spec.session_id).await.unwrap().unwrap().last_sequence;
        let commit = RenderCommit { interactions: vec![spec], ..step(&session, at, at + 1) };
        assert!(store.commit_render(commit, T0).await.unwrap());
    }
}

/// Runs raw SQL (to damage rows on purpose).
pub(super) async fn execute(db: &Database, sql: &str) {
    with_writer!(db, |pool| {
        sqlx::query(sql).execute(pool).await.unwrap();
    });
}

/// Reads one text value with raw SQL.
pub(super) async fn text(db: &Database, sql: &str) -> String {
    with_reader!(db, |pool| sqlx::query_scalar::<_, String>(sql).fetch_one(pool).await.unwrap())
}

/// Counts rows with raw SQL.
pub(super) async fn count(db: &Database, sql: &str) -> i64 {
    with_reader!(db, |pool| sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap())
}
