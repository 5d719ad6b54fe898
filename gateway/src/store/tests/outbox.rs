//! Outbox: dedupe on enqueue, lane-ordered claims, delivery outcomes and message refs.

use std::collections::HashSet;

use cowork_cloud::database::Database;

use super::*;
use crate::store::{DeliveryOutcome, DeliveryState, OutboxId};

fn sent(id: &str) -> DeliveryOutcome {
    DeliveryOutcome::Sent { provider_message_id: id.to_owned() }
}

async fn claimed_ids(s: &GatewayStore, owner: &str, now: i64) -> Vec<OutboxId> {
    let items = s.claim_outbox(&worker(owner), now, LEASE, 100).await.unwrap();
    items.iter().map(|i| i.id).collect()
}

async fn an_edit_is_moot_while_a_later_edit_of_its_message_waits(db: Database) {
    let s = store(db);
    let rows = [
        outbound("k1", chat("c1"), Some("m1"), send("one")),
        outbound("k2", chat("c1"), Some("m1"), edit("one two")),
        outbound("k3", chat("c1"), Some("m1"), edit("one two three")),
        outbound("k4", chat("c2"), Some("m1"), edit("elsewhere")),
    ];
    s.enqueue_outbound(&rows, T0).await.unwrap();
    let heads = s.claim_outbox(&worker("w"), T0, LEASE, 10).await.unwrap();
    let send_row = heads.iter().find(|i| i.dedupe_key == "k1").unwrap().clone();
    assert!(s.later_edit_waiting(&send_row).await.unwrap(), "the send is followed by edits of its message");
    s.record_delivery(send_row.id, &worker("w"), sent("p1"), T0).await.unwrap();
    let second = s.claim_outbox(&worker("w"), T0, LEASE, 10).await.unwrap();
    let k2 = second.iter().find(|i| i.dedupe_key == "k2").unwrap().clone();
    assert!(s.later_edit_waiting(&k2).await.unwrap());
    s.record_delivery(k2.id, &worker("w"), sent("p1"), T0).await.unwrap();
    let third = s.claim_outbox(&worker("w"), T0, LEASE, 10).await.unwrap();
    let k3 = third.iter().find(|i| i.dedupe_key == "k3").unwrap().clone();
    assert!(!s.later_edit_waiting(&k3).await.unwrap(), "the last edit is never moot");
    let other_lane = heads.iter().find(|i| i.dedupe_key == "k4").unwrap().clone();
    assert!(!s.later_edit_waiting(&other_lane).await.unwrap(), "another lane does not count");
}

async fn enqueued_row_is_claimed_as_planned(db: Database) {
    let s = store(db);
    let op = PlannedOp::Send { text: "hi".into(), buttons: buttons() };
    let row = outbound("k1", thread("c1", "t1"), Some("m1"), op.clone());
    s.enqueue_outbound(std::slice::from_ref(&row), T0).await.unwrap();
    let items = s.claim_outbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!((item.dedupe_key.as_str(), &item.chat, &item.op), ("k1", &row.chat, &op));
    assert_eq!((item.message_key.as_deref(), item.attempts), (Some("m1"), 0));
    assert_eq!((&item.binding_id, &item.provider_id), (&binding(), &provider()));
}

async fn lane_rows_are_delivered_in_order(db: Database) {
    let s = store(db);
    let rows = [
        outbound("k1", chat("c1"), None, send("one")),
        outbound("k2", chat("c2"), None, send("other")),
        outbound("k3", chat("c1"), None, send("two")),
    ];
    s.enqueue_outbound(&rows, T0).await.unwrap();
    let first = claimed_ids(&s, "w1", T0).await;
    assert_eq!(first.len(), 2, "one head per lane");
    assert!(claimed_ids(&s, "w2", T0).await.is_empty());
    assert!(s.record_delivery(first[0], &worker("w1"), sent("p1"), T0).await.unwrap());
    let next = s.claim_outbox(&worker("w2"), T0, LEASE, 10).await.unwrap();
    assert_eq!(next.iter().map(|i| i.dedupe_key.as_str()).collect::<Vec<_>>(), vec!["k3"]);
}

async fn known_dedupe_key_is_ignored(db: Database) {
    let s = store(db);
    s.enqueue_outbound(&[outbound("k1", chat("c1"), None, send("first"))], T0).await.unwrap();
    let again = [outbound("k1", chat("c1"), None, send("second")), outbound("k1", chat("c1"), None, send("third"))];
    s.enqueue_outbound(&again, T0).await.unwrap();
    let items = s.claim_outbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].op, send("first"));
    assert_eq!(claimed_ids(&s, "w1", T0 + LEASE).await.len(), 1, "no second row in the lane");
}

async fn rows_are_found_by_dedupe_key_with_their_state(db: Database) {
    let s = store(db);
    assert!(s.outbox_standing(&[]).await.unwrap().is_empty());
    let rows = [outbound("k1", chat("c1"), None, send("one")), outbound("k2", chat("c1"), None, send("two"))];
    s.enqueue_outbound(&rows, T0).await.unwrap();
    let id = claimed_ids(&s, "w1", T0).await[0];
    let dead = DeliveryOutcome::Dead { reason: "HTTP 400".into() };
    assert!(s.record_delivery(id, &worker("w1"), dead, T0).await.unwrap());
    let keys = ["k1".to_owned(), "k2".to_owned(), "unknown".to_owned()];
    let found = s.outbox_standing(&keys).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found["k1"].id, found["k1"].state, found["k1"].last_error.as_deref()),
        (id, DeliveryState::Dead, Some("HTTP 400"))
    );
    assert_eq!((found["k2"].state, found["k2"].last_error.as_deref()), (DeliveryState::Pending, None));
}

async fn sent_send_remembers_its_message_id(db: Database) {
    let s = store(db);
    s.enqueue_outbound(&[outbound("k1", chat("c1"), Some("m1"), send("hi"))], T0).await.unwrap();
    let id = claimed_ids(&s, "w1", T0).await[0];
    assert!(s.record_delivery(id, &worker("w1"), sent("p1"), T0 + 1).await.unwrap());
    assert_eq!(s.message_ref(&binding(), "m1").await.unwrap(), Some(Some("p1".into())));
    assert_eq!(s.next_outbox_due().await.unwrap(), None);
}

async fn sent_edit_keeps_the_message_ref(db: Database) {
    let s = store(db);
    let rows =
        [outbound("k1", chat("c1"), Some("m1"), send("hi")), outbound("k2", chat("c1"), Some("m1"), edit("hi!"))];
    s.enqueue_outbound(&rows, T0).await.unwrap();
    let id = claimed_ids(&s, "w1", T0).await[0];
    s.record_delivery(id, &worker("w1"), sent("p1"), T0).await.unwrap();
    let id = claimed_ids(&s, "w1", T0).await[0];
    assert!(s.record_delivery(id, &worker("w1"), sent("p1-edited"), T0).await.unwrap());
    assert_eq!(s.message_ref(&binding(), "m1").await.unwrap(), Some(Some("p1".into())));
}

async fn unknown_message_ref_is_none(db: Database) {
    let s = store(db);
    assert_eq!(s.message_ref(&binding(), "nope").await.unwrap(), None);
}

async fn sent_is_recorded_after_lease_loss(db: Database) {
    let s = store(db);
    s.enqueue_outbound(&[outbound("k1", chat("c1"), Some("m1"), send("hi"))], T0).await.unwrap();
    let id = claimed_ids(&s, "w1", T0).await[0];
    assert_eq!(claimed_ids(&s, "w2", T0 + LEASE).await, vec![id], "w1's lease expired");
    assert!(s.record_delivery(id, &worker("w1"), sent("p1"), T0 + LEASE + 1).await.unwrap());
    let retry = DeliveryOutcome::Retry { at: T0 + LEASE + 9, error: "timeout".into() };
    assert!(!s.record_delivery(id, &worker("w2"), retry, T0 + LEASE + 2).await.unwrap());
    assert!(!s.record_delivery(id, &worker("w2"), sent("p2"), T0 + LEASE + 3).await.unwrap());
    assert_eq!(s.message_ref(&binding(), "m1").await.unwrap(), Some(Some("p1".into())));
    assert!(claimed_ids(&s, "w3", T0 + 10 * LEASE).await.is_empty());
}

async fn sent_overrides_a_dead_letter(db: Database) {
    let s = store(db.clone());
    s.enqueue_outbound(&[outbound("k1", chat("c1"), None, send("hi"))], T0).await.unwrap();
    let id = claimed_ids(&s, "w1", T0).await[0];
    claimed_ids(&s, "w2", T0 + LEASE).await;
    let dead = DeliveryOutcome::Dead { reason: "budget spent".into() };
    assert!(s.record_delivery(id, &worker("w2"), dead, T0 + LEASE).await.unwrap());
    assert!(s.record_delivery(id, &worker("w1"), sent("p1"), T0 + LEASE + 1).await.unwrap());
    let state = text(&db, &format!("SELECT state FROM gw_outbox WHERE id = {}", id.0)).await;
    assert_eq!(state, "sent");
}

async fn defer_does_not_spend_an_attempt(db: Database) {
    let s = store(db);
    s.enqueue_outbound(&[outbound("k1", chat("c1"), None, send("hi"))], T0).await.unwrap();
    let id = claimed_ids(&s, "w1", T0).await[0];
    let defer = DeliveryOutcome::Defer { at: T0 + 5_000 };
    assert!(s.record_delivery(id, &worker("w1"), defer, T0).await.unwrap());
    assert_eq!(s.next_outbox_due().await.unwrap(), Some(T0 + 5_000));
    assert!(claimed_ids(&s, "w1", T0 + 4_999).await.is_empty());
    let again = s.claim_outbox(&worker("w1"), T0 + 5_000, LEASE, 10).await.unwrap();
    assert_eq!((again[0].id, again[0].attempts), (id, 0));
}

async fn retry_spends_an_attempt_and_holds_the_lane(db: Database) {
    let s = store(db);
    let rows = [outbound("k1", chat("c1"), None, send("one")), outbound("k2", chat("c1"), None, send("two"))];
    s.enqueue_outbound(&rows, T0).await.unwrap();
    let id = claimed_ids(&s, "w1", T0).await[0];
    let retry = DeliveryOutcome::Retry { at: T0 + 2_000, error: "429".into() };
    assert!(s.record_delivery(id, &worker("w1"), retry, T0).await.unwrap());
    assert!(claimed_ids(&s, "w1", T0 + 1_999).await.is_empty(), "k2 must not overtake k1");
    assert_eq!(s.next_outbox_due().await.unwrap(), Some(T0 + 2_000));
    let again = s.claim_outbox(&worker("w1"), T0 + 2_000, LEASE, 10).await.unwrap();
    assert_eq!((again[0].id, again[0].attempts), (id, 1));
}

async fn dead_letter_needs_the_claim(db: Database) {
    let s = store(db);
    let rows = [outbound("k1", chat("c1"), None, send("one")), outbound("k2", chat("c1"), None, send("two"))];
    s.enqueue_outbound(&rows, T0).await.unwrap();
    let id = claimed_ids(&s, "w1", T0).await[0];
    let dead = || DeliveryOutcome::Dead { reason: "403 forbidden".into() };
    assert!(!s.record_delivery(id, &worker("w2"), dead(), T0).await.unwrap());
    assert!(s.record_delivery(id, &worker("w1"), dead(), T0).await.unwrap());
    assert!(!s.record_delivery(id, &worker("w1"), dead(), T0).await.unwrap(), "already dead");
    let next = s.claim_outbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(next[0].dedupe_key, "k2");
}

async fn next_outbox_due_follows_lane_heads(db: Database) {
    let s = store(db);
    assert_eq!(s.next_outbox_due().await.unwrap(), None);
    s.enqueue_outbound(&[outbound("k1", chat("c1"), None, send("a"))], T0 + 7).await.unwrap();
    s.enqueue_outbound(&[outbound("k2", chat("c1"), None, send("b"))], T0 + 3).await.unwrap();
    assert_eq!(s.next_outbox_due().await.unwrap(), Some(T0 + 7), "only the head counts");
    s.claim_outbox(&worker("w1"), T0 + 7, LEASE, 10).await.unwrap();
    assert_eq!(s.next_outbox_due().await.unwrap(), Some(T0 + 7 + LEASE));
}

async fn undecodable_outbox_row_is_dead_lettered(db: Database) {
    let s = store(db.clone());
    let rows = [outbound("k1", chat("c1"), None, send("a")), outbound("k2", chat("c2"), None, send("b"))];
    s.enqueue_outbound(&rows, T0).await.unwrap();
    execute(&db, "UPDATE gw_outbox SET operation = '{\"type\":\"explode\"}' WHERE dedupe_key = 'k1'").await;
    let items = s.claim_outbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(items.iter().map(|i| i.dedupe_key.as_str()).collect::<Vec<_>>(), vec!["k2"]);
    let error = text(&db, "SELECT last_error FROM gw_outbox WHERE dedupe_key = 'k1'").await;
    assert!(error.starts_with("undecodable row"), "{error}");
}

async fn concurrent_outbox_claims_never_share_a_row(db: Database) {
    let s = store(db);
    let rows: Vec<_> =
        (0..30).map(|n| outbound(&format!("k{n}"), chat(&format!("c{}", n % 10)), None, send("x"))).collect();
    s.enqueue_outbound(&rows, T0).await.unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|n| {
            let s = s.clone();
            tokio::spawn(async move { s.claim_outbox(&worker(&format!("w{n}")), T0, LEASE, 4).await })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        for item in task.await.unwrap().unwrap() {
            assert!(seen.insert(item.id), "{:?} claimed twice", item.id);
        }
    }
    let rest = claimed_ids(&s, "w9", T0).await;
    assert_eq!(seen.len() + rest.len(), 10, "exactly one head per lane");
}

/// Found by the queue model (`model.rs`): a dead row redriven while a later row of its lane is
/// being delivered must wait for it, not go out beside it.
async fn a_redriven_row_waits_for_the_row_in_flight_in_its_lane(db: Database) {
    use crate::store::RedriveRequest;
    let s = store(db);
    s.enqueue_outbound(&[outbound("a", chat("c1"), None, send("a")), outbound("b", chat("c1"), None, send("b"))], T0)
        .await
        .unwrap();
    let first = s.claim_outbox(&worker("w"), T0, LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    let dead = DeliveryOutcome::Dead { reason: "400".into() };
    assert!(s.record_delivery(first[0].id, &worker("w"), dead, T0).await.unwrap());
    let second = s.claim_outbox(&worker("w"), T0, LEASE, 10).await.unwrap();
    assert_eq!(second.iter().map(|i| i.dedupe_key.as_str()).collect::<Vec<_>>(), ["b"]);
    let request = RedriveRequest { state: DeliveryState::Dead, binding_id: None, limit: 10, dry_run: false };
    assert_eq!(s.redrive_deliveries(&request, T0).await.unwrap(), vec![first[0].id]);
    assert!(claimed_ids(&s, "w2", T0).await.is_empty(), "b is in flight: the lane waits");
    assert!(s.record_delivery(second[0].id, &worker("w"), sent("p-b"), T0).await.unwrap());
    assert_eq!(claimed_ids(&s, "w2", T0).await, vec![first[0].id], "then the redriven row goes out");
}

cowork_cloud::backend_tests!(
    a_redriven_row_waits_for_the_row_in_flight_in_its_lane,
    an_edit_is_moot_while_a_later_edit_of_its_message_waits,
    enqueued_row_is_claimed_as_planned,
    lane_rows_are_delivered_in_order,
    known_dedupe_key_is_ignored,
    rows_are_found_by_dedupe_key_with_their_state,
    sent_send_remembers_its_message_id,
    sent_edit_keeps_the_message_ref,
    unknown_message_ref_is_none,
    sent_is_recorded_after_lease_loss,
    sent_overrides_a_dead_letter,
    defer_does_not_spend_an_attempt,
    retry_spends_an_attempt_and_holds_the_lane,
    dead_letter_needs_the_claim,
    next_outbox_due_follows_lane_heads,
    undecodable_outbox_row_is_dead_lettered,
    concurrent_outbox_claims_never_share_a_row,
);
