//! Inbox: dedupe on accept, lane-ordered claims under leases, outcomes by the lease holder.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use cowork_cloud::database::Database;
use cowork_providers::BindingId;
use sqlx::PgPool;

use super::*;
use crate::store::queue::lane_lock_keys;
use crate::store::{InboxId, InboxItem, InboxOutcome, lane_key};

async fn accepted_event_is_claimed_with_its_payload(db: Database) {
    let s = store(db);
    let batch = [inbound("e1", thread("c1", "t1"))];
    let accepted = s.accept_inbound(&batch, T0).await.unwrap();
    assert_eq!(accepted.len(), 1);
    assert!(!accepted[0].duplicate);
    let items = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    let expected = InboxItem {
        id: accepted[0].id,
        binding_id: binding(),
        provider_id: provider(),
        event: batch[0].event.clone(),
        attempts: 0,
        trace: None,
    };
    assert_eq!(items, vec![expected]);
}

async fn empty_batch_accepts_nothing(db: Database) {
    let s = store(db);
    assert!(s.accept_inbound(&[], T0).await.unwrap().is_empty());
    assert_eq!(s.next_inbox_due().await.unwrap(), None);
}

async fn duplicate_event_is_stored_once(db: Database) {
    let s = store(db);
    let first = s.accept_inbound(&[inbound("e1", chat("c1"))], T0).await.unwrap();
    let again = [inbound_text("e1", chat("c1"), "changed"), inbound("e2", chat("c2"))];
    let second = s.accept_inbound(&again, T0 + 5).await.unwrap();
    assert_eq!(second[0].id, first[0].id);
    assert!(second[0].duplicate);
    assert!(!second[1].duplicate);
    let items = s.claim_inbox(&worker("w1"), T0 + 5, LEASE, 10).await.unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].event, inbound("e1", chat("c1")).event, "the original is kept");
}

async fn duplicates_within_a_batch_are_deduped(db: Database) {
    let s = store(db);
    let batch = [inbound("e1", chat("c1")), inbound("e1", chat("c1"))];
    let accepted = s.accept_inbound(&batch, T0).await.unwrap();
    assert!(!accepted[0].duplicate);
    assert!(accepted[1].duplicate);
    assert_eq!(accepted[0].id, accepted[1].id);
    assert_eq!(s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap().len(), 1);
}

async fn same_event_id_on_another_binding_is_distinct(db: Database) {
    let s = store(db);
    let mut other = inbound("e1", chat("c1"));
    other.binding_id = BindingId::new("b2");
    let accepted = s.accept_inbound(&[inbound("e1", chat("c1")), other], T0).await.unwrap();
    assert!(accepted.iter().all(|a| !a.duplicate));
    assert_ne!(accepted[0].id, accepted[1].id);
}

async fn lane_head_blocks_later_rows(db: Database) {
    let s = store(db);
    let batch = [inbound("e1", chat("c1")), inbound("e2", chat("c1")), inbound("e3", chat("c1"))];
    let ids: Vec<InboxId> = s.accept_inbound(&batch, T0).await.unwrap().iter().map(|a| a.id).collect();
    let first = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(first.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[0]]);
    assert!(s.claim_inbox(&worker("w2"), T0, LEASE, 10).await.unwrap().is_empty());
    assert!(s.record_inbox(ids[0], &worker("w1"), InboxOutcome::Done, T0 + 1).await.unwrap());
    let next = s.claim_inbox(&worker("w2"), T0 + 1, LEASE, 10).await.unwrap();
    assert_eq!(next.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[1]]);
}

async fn lanes_are_claimed_oldest_first_up_to_max(db: Database) {
    let s = store(db);
    let batch =
        [inbound("a1", chat("c1")), inbound("b1", chat("c2")), inbound("c1", chat("c3")), inbound("a2", chat("c1"))];
    let ids: Vec<InboxId> = s.accept_inbound(&batch, T0).await.unwrap().iter().map(|a| a.id).collect();
    let first = s.claim_inbox(&worker("w1"), T0, LEASE, 2).await.unwrap();
    assert_eq!(first.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[0], ids[1]]);
    let rest = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(rest.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[2]]);
    assert!(s.claim_inbox(&worker("w1"), T0, LEASE, 0).await.unwrap().is_empty());
}

async fn threads_of_one_chat_are_separate_lanes(db: Database) {
    let s = store(db);
    let batch = [inbound("e1", thread("c1", "t1")), inbound("e2", thread("c1", "t2"))];
    s.accept_inbound(&batch, T0).await.unwrap();
    assert_eq!(s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap().len(), 2);
}

async fn events_accepted_behind_a_busy_head_keep_their_lane_order(db: Database) {
    let s = store(db);
    let head = s.accept_inbound(&[inbound("e1", chat("c1"))], T0).await.unwrap()[0].id;
    assert_eq!(s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap()[0].id, head);
    // Accepted while the head is leased, and then while it waits to be retried.
    let second = s.accept_inbound(&[inbound("e2", chat("c1")), inbound("x1", chat("c2"))], T0 + 1).await.unwrap();
    assert_eq!(s.next_inbox_due().await.unwrap(), Some(T0 + 1), "accepted events are due at once");
    let claimed = s.claim_inbox(&worker("w2"), T0 + 2, LEASE, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|i| i.id).collect::<Vec<_>>(), vec![second[1].id], "only the other lane");
    let retry = InboxOutcome::Retry { at: T0 + 100, error: "later".into() };
    assert!(s.record_inbox(head, &worker("w1"), retry, T0 + 3).await.unwrap());
    let third = s.accept_inbound(&[inbound("e3", chat("c1"))], T0 + 4).await.unwrap()[0].id;
    assert!(s.claim_inbox(&worker("w2"), T0 + 5, LEASE, 10).await.unwrap().is_empty(), "the retrying head blocks");
    let retried = s.claim_inbox(&worker("w2"), T0 + 100, LEASE, 10).await.unwrap();
    assert_eq!(retried.iter().map(|i| i.id).collect::<Vec<_>>(), vec![head]);
    assert!(s.record_inbox(head, &worker("w2"), InboxOutcome::Done, T0 + 101).await.unwrap());
    let next = s.claim_inbox(&worker("w2"), T0 + 101, LEASE, 10).await.unwrap();
    assert_eq!(next.iter().map(|i| i.id).collect::<Vec<_>>(), vec![second[0].id]);
    assert!(s.record_inbox(second[0].id, &worker("w2"), InboxOutcome::Done, T0 + 102).await.unwrap());
    let last = s.claim_inbox(&worker("w2"), T0 + 102, LEASE, 10).await.unwrap();
    assert_eq!(last.iter().map(|i| i.id).collect::<Vec<_>>(), vec![third]);
}

async fn a_large_backlog_is_promoted_oldest_first_a_batch_per_claim(db: Database) {
    let s = store(db);
    let backlog: Vec<NewInbound> = (0..4096).map(|i| inbound(&format!("a{i}"), chat("c1"))).collect();
    let mut accepted = Vec::new();
    for group in backlog.chunks(512) {
        accepted.extend(s.accept_inbound(group, T0).await.unwrap());
    }
    let first = accepted[0].id;
    let late = s.accept_inbound(&[inbound("b1", chat("c2"))], T0).await.unwrap()[0].id;
    let claimed = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|i| i.id).collect::<Vec<_>>(), vec![first], "the later row waits as new");
    assert_eq!(s.next_inbox_due().await.unwrap(), Some(T0), "and is still due");
    let claimed = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|i| i.id).collect::<Vec<_>>(), vec![late], "promoted by the next claim");
}

async fn leased_head_is_not_reclaimed_before_expiry(db: Database) {
    let s = store(db);
    s.accept_inbound(&[inbound("e1", chat("c1"))], T0).await.unwrap();
    assert_eq!(s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap().len(), 1);
    let early = s.claim_inbox(&worker("w2"), T0 + LEASE - 1, LEASE, 10).await.unwrap();
    assert!(early.is_empty());
}

async fn expired_lease_is_reclaimed(db: Database) {
    let s = store(db);
    let id = s.accept_inbound(&[inbound("e1", chat("c1"))], T0).await.unwrap()[0].id;
    s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    let again = s.claim_inbox(&worker("w2"), T0 + LEASE, LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (id, 0));
    let late = s.record_inbox(id, &worker("w1"), InboxOutcome::Done, T0 + LEASE + 1).await;
    assert!(!late.unwrap(), "the old owner lost the claim");
    assert!(s.record_inbox(id, &worker("w2"), InboxOutcome::Done, T0 + LEASE + 1).await.unwrap());
}

async fn retry_waits_until_due(db: Database) {
    let s = store(db);
    let id = s.accept_inbound(&[inbound("e1", chat("c1"))], T0).await.unwrap()[0].id;
    s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    let retry = InboxOutcome::Retry { at: T0 + 5_000, error: "cloud unavailable".into() };
    assert!(s.record_inbox(id, &worker("w1"), retry, T0 + 1).await.unwrap());
    assert_eq!(s.next_inbox_due().await.unwrap(), Some(T0 + 5_000));
    assert!(s.claim_inbox(&worker("w1"), T0 + 4_999, LEASE, 10).await.unwrap().is_empty());
    let due = s.claim_inbox(&worker("w1"), T0 + 5_000, LEASE, 10).await.unwrap();
    assert_eq!((due[0].id, due[0].attempts), (id, 1));
}

async fn retrying_head_blocks_its_lane(db: Database) {
    let s = store(db);
    let batch = [inbound("e1", chat("c1")), inbound("e2", chat("c1"))];
    let id = s.accept_inbound(&batch, T0).await.unwrap()[0].id;
    s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    let retry = InboxOutcome::Retry { at: T0 + 5_000, error: "boom".into() };
    s.record_inbox(id, &worker("w1"), retry, T0).await.unwrap();
    assert!(s.claim_inbox(&worker("w1"), T0 + 1_000, LEASE, 10).await.unwrap().is_empty());
}

async fn dead_head_unblocks_its_lane(db: Database) {
    let s = store(db);
    let batch = [inbound("e1", chat("c1")), inbound("e2", chat("c1"))];
    let ids: Vec<InboxId> = s.accept_inbound(&batch, T0).await.unwrap().iter().map(|a| a.id).collect();
    s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    let dead = InboxOutcome::Dead { reason: "unknown sender".into() };
    assert!(s.record_inbox(ids[0], &worker("w1"), dead, T0).await.unwrap());
    let next = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(next.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[1]]);
}

async fn record_by_another_worker_is_rejected(db: Database) {
    let s = store(db);
    let id = s.accept_inbound(&[inbound("e1", chat("c1"))], T0).await.unwrap()[0].id;
    s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert!(!s.record_inbox(id, &worker("w2"), InboxOutcome::Done, T0).await.unwrap());
    assert!(s.claim_inbox(&worker("w2"), T0 + 1, LEASE, 10).await.unwrap().is_empty());
    assert!(s.record_inbox(id, &worker("w1"), InboxOutcome::Done, T0).await.unwrap());
}

async fn finished_row_cannot_be_recorded_again(db: Database) {
    let s = store(db);
    let id = s.accept_inbound(&[inbound("e1", chat("c1"))], T0).await.unwrap()[0].id;
    assert!(!s.record_inbox(id, &worker("w1"), InboxOutcome::Done, T0).await.unwrap());
    s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert!(s.record_inbox(id, &worker("w1"), InboxOutcome::Done, T0).await.unwrap());
    assert!(!s.record_inbox(id, &worker("w1"), InboxOutcome::Done, T0).await.unwrap());
    let retry = InboxOutcome::Retry { at: T0, error: "late".into() };
    assert!(!s.record_inbox(id, &worker("w1"), retry, T0).await.unwrap());
    assert!(!s.record_inbox(InboxId(9_999), &worker("w1"), InboxOutcome::Done, T0).await.unwrap());
}

async fn next_inbox_due_follows_lane_heads(db: Database) {
    let s = store(db);
    assert_eq!(s.next_inbox_due().await.unwrap(), None);
    let id = s.accept_inbound(&[inbound("e1", chat("c1"))], T0).await.unwrap()[0].id;
    s.accept_inbound(&[inbound("e2", chat("c1"))], T0 + 10).await.unwrap();
    assert_eq!(s.next_inbox_due().await.unwrap(), Some(T0));
    s.claim_inbox(&worker("w1"), T0 + 20, LEASE, 10).await.unwrap();
    assert_eq!(s.next_inbox_due().await.unwrap(), Some(T0 + 20 + LEASE), "the lease expiry");
    s.record_inbox(id, &worker("w1"), InboxOutcome::Done, T0 + 30).await.unwrap();
    assert_eq!(s.next_inbox_due().await.unwrap(), Some(T0 + 10), "the next head");
    let next = s.claim_inbox(&worker("w1"), T0 + 30, LEASE, 10).await.unwrap();
    s.record_inbox(next[0].id, &worker("w1"), InboxOutcome::Done, T0 + 40).await.unwrap();
    assert_eq!(s.next_inbox_due().await.unwrap(), None);
}

async fn undecodable_inbox_row_is_dead_lettered(db: Database) {
    let s = store(db.clone());
    let batch = [inbound("e1", chat("c1")), inbound("e2", chat("c2")), inbound("e3", chat("c1"))];
    let ids: Vec<InboxId> = s.accept_inbound(&batch, T0).await.unwrap().iter().map(|a| a.id).collect();
    execute(&db, &format!("UPDATE gw_inbox SET payload = 'not json' WHERE id = {}", ids[0].0)).await;
    let items = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[1]]);
    let state = text(&db, &format!("SELECT state FROM gw_inbox WHERE id = {}", ids[0].0)).await;
    assert_eq!(state, "dead");
    let next = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(next.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[2]], "the lane moves on");
}

async fn concurrent_inbox_claims_never_share_a_row(db: Database) {
    let s = store(db);
    let batch: Vec<_> = (0..24).map(|n| inbound(&format!("e{n}"), chat(&format!("c{}", n % 12)))).collect();
    s.accept_inbound(&batch, T0).await.unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|n| {
            let s = s.clone();
            tokio::spawn(async move { s.claim_inbox(&worker(&format!("w{n}")), T0, LEASE, 5).await })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        for item in task.await.unwrap().unwrap() {
            assert!(seen.insert(item.id), "{:?} claimed twice", item.id);
        }
    }
    assert!(seen.len() <= 12, "only lane heads are claimed");
    let rest = s.claim_inbox(&worker("w9"), T0, LEASE, 100).await.unwrap();
    assert_eq!(seen.len() + rest.len(), 12);
}

async fn later_insert_waits_for_an_open_insert_in_its_lane(db: Database) {
    // SQLite has one writer connection: an open insert already excludes every other write.
    let Database::Postgres(pool) = db.clone() else { return };
    let s = store(db);
    let first = inbound("e1", chat("c1"));
    let lane = lane_key(&first.binding_id, &first.event.chat);
    let key = lane_lock_keys([lane.as_str()])[0];
    let mut open = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut *open).await.unwrap();
    sqlx::query(
        "INSERT INTO gw_inbox (binding_id, provider_id, provider_event_id, lane, payload, \
         next_attempt_at, received_at, updated_at) VALUES ('b1', 'fake', 'e1', $1, $2, $3, $3, $3)",
    )
    .bind(&lane)
    .bind(serde_json::to_string(&first.event).unwrap())
    .bind(T0)
    .execute(&mut *open)
    .await
    .unwrap();
    let accept = tokio::spawn({
        let s = s.clone();
        async move { s.accept_inbound(&[inbound("e2", chat("c1"))], T0).await }
    });
    wait_for_lock_waiter(&pool, key).await;
    let early = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert!(early.is_empty(), "e2 must not become visible before e1");
    open.commit().await.unwrap();
    accept.await.unwrap().unwrap();
    let items = s.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(items[0].event.provider_event_id, "e1");
}

/// Waits (with a deadline) until some session waits for the advisory lock `key`.
async fn wait_for_lock_waiter(pool: &PgPool, key: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1",
        )
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the insert never waited for its lane lock");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

cowork_cloud::backend_tests!(
    accepted_event_is_claimed_with_its_payload,
    empty_batch_accepts_nothing,
    duplicate_event_is_stored_once,
    duplicates_within_a_batch_are_deduped,
    same_event_id_on_another_binding_is_distinct,
    lane_head_blocks_later_rows,
    lanes_are_claimed_oldest_first_up_to_max,
    events_accepted_behind_a_busy_head_keep_their_lane_order,
    a_large_backlog_is_promoted_oldest_first_a_batch_per_claim,
    threads_of_one_chat_are_separate_lanes,
    leased_head_is_not_reclaimed_before_expiry,
    expired_lease_is_reclaimed,
    retry_waits_until_due,
    retrying_head_blocks_its_lane,
    dead_head_unblocks_its_lane,
    record_by_another_worker_is_rejected,
    finished_row_cannot_be_recorded_again,
    next_inbox_due_follows_lane_heads,
    undecodable_inbox_row_is_dead_lettered,
    concurrent_inbox_claims_never_share_a_row,
    later_insert_waits_for_an_open_insert_in_its_lane,
);
