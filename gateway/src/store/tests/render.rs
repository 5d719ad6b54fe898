//! Render cursors and the atomic render commit.

use cowork_cloud::database::Database;
use cowork_cloud_client::SessionId;

use super::*;
use crate::store::DeliveryOutcome;

async fn outbox_keys(db: &Database) -> Vec<String> {
    cowork_cloud::with_reader!(db, |pool| {
        sqlx::query_scalar::<_, String>("SELECT dedupe_key FROM gw_outbox ORDER BY id").fetch_all(pool).await.unwrap()
    })
}

async fn ensure_cursor_keeps_an_existing_cursor(db: Database) {
    let s = store(db);
    s.ensure_cursor(&cursor("s1", "c1"), T0).await.unwrap();
    assert!(s.commit_render(step("s1", 0, 5), T0).await.unwrap());
    let mut moved = cursor("s1", "c9");
    moved.last_sequence = 2;
    s.ensure_cursor(&moved, T0 + 1).await.unwrap();
    let stored = s.cursor(&SessionId::new("s1")).await.unwrap().unwrap();
    assert_eq!(stored, RenderCursor { last_sequence: 5, ..cursor("s1", "c1") });
}

async fn cursors_are_found_and_listed(db: Database) {
    let s = store(db);
    assert_eq!(s.cursor(&SessionId::new("s1")).await.unwrap(), None);
    assert!(s.list_cursors().await.unwrap().is_empty());
    let mut threaded = cursor("s2", "c2");
    threaded.chat = thread("c2", "t2");
    s.ensure_cursor(&threaded, T0).await.unwrap();
    s.ensure_cursor(&cursor("s1", "c1"), T0).await.unwrap();
    assert_eq!(s.list_cursors().await.unwrap(), vec![cursor("s1", "c1"), threaded.clone()]);
    assert_eq!(s.cursor(&SessionId::new("s2")).await.unwrap(), Some(threaded));
}

async fn render_commit_advances_cursor_and_writes_everything(db: Database) {
    let s = store(db);
    s.ensure_cursor(&cursor("s1", "c1"), T0).await.unwrap();
    let commit = RenderCommit {
        outbound: vec![outbound("s1:1", chat("c1"), Some("m1"), send("hello"))],
        message_refs: vec![(binding(), "m1".into())],
        interactions: vec![interaction("abc", "s1", "perm-1", T0 + 60_000)],
        ..step("s1", 0, 3)
    };
    assert!(s.commit_render(commit, T0).await.unwrap());
    assert_eq!(s.cursor(&SessionId::new("s1")).await.unwrap().unwrap().last_sequence, 3);
    assert_eq!(s.message_ref(&binding(), "m1").await.unwrap(), Some(None), "not sent yet");
    assert!(s.find_interaction("abc").await.unwrap().is_some());
    let items = s.claim_outbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(items.iter().map(|i| i.dedupe_key.as_str()).collect::<Vec<_>>(), vec!["s1:1"]);
}

async fn render_commit_rejects_stale_cursor(db: Database) {
    let s = store(db.clone());
    s.ensure_cursor(&cursor("s1", "c1"), T0).await.unwrap();
    let first = RenderCommit { outbound: vec![outbound("a", chat("c1"), None, send("a"))], ..step("s1", 0, 3) };
    assert!(s.commit_render(first, T0).await.unwrap());
    let stale = RenderCommit {
        outbound: vec![outbound("b", chat("c1"), None, send("b"))],
        message_refs: vec![(binding(), "m9".into())],
        interactions: vec![interaction("zzz", "s1", "perm-9", T0 + 60_000)],
        ..step("s1", 0, 4)
    };
    assert!(!s.commit_render(stale, T0).await.unwrap());
    assert_eq!(s.cursor(&SessionId::new("s1")).await.unwrap().unwrap().last_sequence, 3);
    assert_eq!(outbox_keys(&db).await, vec!["a"]);
    assert_eq!(s.message_ref(&binding(), "m9").await.unwrap(), None);
    assert_eq!(s.find_interaction("zzz").await.unwrap(), None);
}

async fn render_commit_without_cursor_is_rejected(db: Database) {
    let s = store(db.clone());
    let commit = RenderCommit { outbound: vec![outbound("a", chat("c1"), None, send("a"))], ..step("s1", 0, 1) };
    assert!(!s.commit_render(commit, T0).await.unwrap());
    assert!(outbox_keys(&db).await.is_empty());
}

async fn rendering_again_ignores_known_rows(db: Database) {
    let s = store(db.clone());
    s.ensure_cursor(&cursor("s1", "c1"), T0).await.unwrap();
    let first = RenderCommit {
        outbound: vec![outbound("a", chat("c1"), Some("m1"), send("a"))],
        message_refs: vec![(binding(), "m1".into())],
        interactions: vec![interaction("abc", "s1", "perm-1", T0 + 60_000)],
        ..step("s1", 0, 3)
    };
    assert!(s.commit_render(first, T0).await.unwrap());
    let id = s.claim_outbox(&worker("w1"), T0, LEASE, 10).await.unwrap()[0].id;
    let delivered = DeliveryOutcome::Sent { provider_message_id: "p1".into() };
    s.record_delivery(id, &worker("w1"), delivered, T0).await.unwrap();
    let again = RenderCommit {
        outbound: vec![outbound("a", chat("c1"), Some("m1"), send("a")), outbound("b", chat("c1"), None, send("b"))],
        message_refs: vec![(binding(), "m1".into())],
        interactions: vec![interaction("xyz", "s1", "perm-1", T0 + 90_000)],
        ..step("s1", 3, 6)
    };
    assert!(s.commit_render(again, T0 + 1).await.unwrap());
    assert_eq!(outbox_keys(&db).await, vec!["a", "b"]);
    assert_eq!(s.message_ref(&binding(), "m1").await.unwrap(), Some(Some("p1".into())));
    assert_eq!(s.find_interaction("xyz").await.unwrap(), None, "the first interaction stays");
    assert!(s.find_interaction("abc").await.unwrap().is_some());
}

async fn failed_render_commit_changes_nothing(db: Database) {
    let s = store(db.clone());
    seed_interactions(&s, vec![interaction("abc", "s0", "perm-0", T0 + 60_000)]).await;
    s.ensure_cursor(&cursor("s1", "c1"), T0).await.unwrap();
    let clash = RenderCommit {
        outbound: vec![outbound("a", chat("c1"), None, send("a"))],
        interactions: vec![interaction("abc", "s1", "perm-1", T0 + 60_000)],
        ..step("s1", 0, 2)
    };
    let error = s.commit_render(clash, T0).await.unwrap_err();
    assert!(error.is_conflict(), "{error:?}");
    assert!(!error.is_unavailable());
    assert_eq!(s.cursor(&SessionId::new("s1")).await.unwrap().unwrap().last_sequence, 0);
    assert!(outbox_keys(&db).await.is_empty());
}

async fn concurrent_render_commits_have_one_winner(db: Database) {
    let s = store(db);
    s.ensure_cursor(&cursor("s1", "c1"), T0).await.unwrap();
    let commit = |key: &str, new| RenderCommit {
        outbound: vec![outbound(key, chat("c1"), None, send(key))],
        ..step("s1", 0, new)
    };
    let (a, b) = tokio::join!(s.commit_render(commit("a", 1), T0), s.commit_render(commit("b", 2), T0));
    assert!(a.unwrap() ^ b.unwrap(), "exactly one commit applies");
}

cowork_cloud::backend_tests!(
    ensure_cursor_keeps_an_existing_cursor,
    cursors_are_found_and_listed,
    render_commit_advances_cursor_and_writes_everything,
    render_commit_rejects_stale_cursor,
    render_commit_without_cursor_is_rejected,
    rendering_again_ignores_known_rows,
    failed_render_commit_changes_nothing,
    concurrent_render_commits_have_one_winner,
);
