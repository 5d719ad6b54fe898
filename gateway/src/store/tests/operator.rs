//! Operator actions on the outbox: the attempt history, listing, retry with a fresh budget,
//! dead-lettering, redrive (and its dry run), and the per-binding backlog.

use cowork_cloud::database::Database;
use cowork_providers::BindingId;

use super::*;
use crate::store::{
    AttemptOutcome, DeliveryFilter, DeliveryOutcome, DeliveryState, OperatorChange, OutboxId, RedriveRequest,
};

fn retry(at: i64, error: &str) -> DeliveryOutcome {
    DeliveryOutcome::Retry { at, error: error.to_owned() }
}

fn dead(reason: &str) -> DeliveryOutcome {
    DeliveryOutcome::Dead { reason: reason.to_owned() }
}

fn sent(id: &str) -> DeliveryOutcome {
    DeliveryOutcome::Sent { provider_message_id: id.to_owned() }
}

/// Enqueues one row per chat (each its own lane) and returns their ids in order.
async fn seed(s: &GatewayStore, chats: &[&str]) -> Vec<OutboxId> {
    let rows: Vec<_> = chats.iter().map(|c| outbound(&format!("k-{c}"), chat(c), None, send(c))).collect();
    s.enqueue_outbound(&rows, T0).await.unwrap();
    let all = s.list_deliveries(&DeliveryFilter { limit: 100, ..DeliveryFilter::default() }).await.unwrap();
    let mut ids: Vec<_> = all.iter().map(|r| r.id).collect();
    ids.sort();
    ids
}

/// Claims everything due and records `outcome` for row `id`.
async fn settle(s: &GatewayStore, id: OutboxId, outcome: DeliveryOutcome, now: i64) {
    s.claim_outbox(&worker("w1"), now, LEASE, 100).await.unwrap();
    assert!(s.record_delivery(id, &worker("w1"), outcome, now).await.unwrap());
}

async fn state_of(s: &GatewayStore, id: OutboxId) -> DeliveryState {
    s.delivery(id).await.unwrap().unwrap().state
}

async fn every_attempt_is_recorded_with_its_outcome(db: Database) {
    let s = store(db);
    let id = seed(&s, &["c1"]).await[0];
    settle(&s, id, retry(T0 + 10, "HTTP 503"), T0).await;
    settle(&s, id, DeliveryOutcome::Defer { at: T0 + 20 }, T0 + 10).await;
    settle(&s, id, retry(T0 + 30, "HTTP 429"), T0 + 20).await;
    settle(&s, id, sent("p1"), T0 + 30).await;
    let history = s.delivery_attempts(id).await.unwrap();
    let got: Vec<_> = history.iter().map(|a| (a.attempt, a.at, a.outcome, a.error.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            (1, T0, AttemptOutcome::Retry, Some("HTTP 503")),
            (2, T0 + 10, AttemptOutcome::Deferred, None),
            (2, T0 + 20, AttemptOutcome::Retry, Some("HTTP 429")),
            (3, T0 + 30, AttemptOutcome::Sent, None),
        ]
    );
    let record = s.delivery(id).await.unwrap().unwrap();
    assert_eq!((record.state, record.attempts, record.next_attempt_at), (DeliveryState::Sent, 2, None));
    assert_eq!((record.provider_message_id.as_deref(), record.operation), (Some("p1"), "send"));
}

async fn an_outcome_without_the_claim_records_no_attempt(db: Database) {
    let s = store(db);
    let id = seed(&s, &["c1"]).await[0];
    s.claim_outbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert!(!s.record_delivery(id, &worker("intruder"), dead("nope"), T0).await.unwrap());
    assert!(s.delivery_attempts(id).await.unwrap().is_empty());
}

async fn deliveries_are_listed_newest_first_by_state_and_binding(db: Database) {
    let s = store(db);
    let ids = seed(&s, &["c1", "c2", "c3"]).await;
    let other = NewOutbound { binding_id: BindingId::new("b2"), ..outbound("k-b2", chat("x"), None, edit("e")) };
    s.enqueue_outbound(std::slice::from_ref(&other), T0).await.unwrap();
    settle(&s, ids[0], dead("gone"), T0).await;
    settle(&s, ids[1], retry(T0 + 99, "later"), T0).await;
    let list = |state, binding: Option<&str>, limit| {
        let filter =
            DeliveryFilter { state, binding_id: binding.map(BindingId::new), limit, ..DeliveryFilter::default() };
        let s = s.clone();
        async move { s.list_deliveries(&filter).await.unwrap() }
    };
    let all = list(None, None, 10).await;
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[0].operation, "edit");
    assert_eq!(list(None, None, 2).await.len(), 2);
    let failed = list(DeliveryState::parse("retrying"), None, 10).await;
    assert_eq!(failed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[1]]);
    assert_eq!(failed[0].next_attempt_at, Some(T0 + 99));
    assert_eq!(failed[0].last_error.as_deref(), Some("later"));
    let dead_rows = list(Some(DeliveryState::Dead), Some("b1"), 10).await;
    assert_eq!(dead_rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[0]]);
    assert_eq!(list(None, Some("b2"), 10).await.len(), 1);
    assert!(list(Some(DeliveryState::Sent), None, 10).await.is_empty());

    // By chat, by age, and a page after a given row.
    let by = |filter: DeliveryFilter| {
        let s = s.clone();
        async move { s.list_deliveries(&DeliveryFilter { limit: 10, ..filter }).await.unwrap() }
    };
    let in_c2 = by(DeliveryFilter { chat_id: Some("c2".into()), ..DeliveryFilter::default() }).await;
    assert_eq!(in_c2.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[1]]);
    assert_eq!(by(DeliveryFilter { created_before: Some(T0), ..DeliveryFilter::default() }).await.len(), 4);
    assert!(by(DeliveryFilter { created_before: Some(T0 - 1), ..DeliveryFilter::default() }).await.is_empty());
    let page = by(DeliveryFilter { before_id: Some(all[1].id), ..DeliveryFilter::default() }).await;
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), all[2..].iter().map(|r| r.id).collect::<Vec<_>>());
}

async fn retry_gives_a_dead_row_a_fresh_budget_and_rejoins_its_lane(db: Database) {
    let s = store(db);
    let id = seed(&s, &["c1"]).await[0];
    settle(&s, id, retry(T0 + 1, "503"), T0).await;
    settle(&s, id, dead("budget spent"), T0 + 1).await;
    let OperatorChange::Applied(record) = s.retry_delivery(id, T0 + 500).await.unwrap() else { panic!("not applied") };
    assert_eq!((record.state, record.attempts, record.next_attempt_at), (DeliveryState::Pending, 0, Some(T0 + 500)));
    assert_eq!((record.last_error, record.updated_at), (None, T0 + 500));
    assert!(s.claim_outbox(&worker("w2"), T0 + 499, LEASE, 10).await.unwrap().is_empty(), "due from now on");
    let again = s.claim_outbox(&worker("w2"), T0 + 500, LEASE, 10).await.unwrap();
    assert_eq!((again[0].id, again[0].attempts), (id, 0));
}

async fn retry_refuses_sent_claimed_and_pending_rows(db: Database) {
    let s = store(db);
    let ids = seed(&s, &["c1", "c2", "c3"]).await;
    settle(&s, ids[0], sent("p1"), T0).await;
    s.claim_outbox(&worker("w1"), T0, LEASE, 100).await.unwrap();
    assert_eq!(s.retry_delivery(ids[0], T0).await.unwrap(), OperatorChange::Conflict(DeliveryState::Sent));
    assert_eq!(s.retry_delivery(ids[1], T0).await.unwrap(), OperatorChange::Conflict(DeliveryState::Claimed));
    assert_eq!(s.retry_delivery(OutboxId(9_999), T0).await.unwrap(), OperatorChange::NotFound);
    settle(&s, ids[2], DeliveryOutcome::Defer { at: T0 + 5 }, T0).await;
    assert_eq!(s.retry_delivery(ids[2], T0).await.unwrap(), OperatorChange::Conflict(DeliveryState::Pending));
}

async fn dead_letter_applies_only_to_pending_and_failed_rows(db: Database) {
    let s = store(db);
    let ids = seed(&s, &["c1", "c2", "c3"]).await;
    let OperatorChange::Applied(record) = s.dead_letter_delivery(ids[0], "by hand", T0 + 1).await.unwrap() else {
        panic!("pending rows can be dead-lettered")
    };
    assert_eq!((record.state, record.last_error.as_deref()), (DeliveryState::Dead, Some("by hand")));
    s.claim_outbox(&worker("w1"), T0, LEASE, 100).await.unwrap();
    assert_eq!(
        s.dead_letter_delivery(ids[1], "x", T0).await.unwrap(),
        OperatorChange::Conflict(DeliveryState::Claimed)
    );
    assert!(s.record_delivery(ids[1], &worker("w1"), retry(T0 + 9, "503"), T0).await.unwrap());
    assert!(matches!(s.dead_letter_delivery(ids[1], "x", T0).await.unwrap(), OperatorChange::Applied(_)));
    assert!(s.record_delivery(ids[2], &worker("w1"), sent("p"), T0).await.unwrap());
    assert_eq!(s.dead_letter_delivery(ids[2], "x", T0).await.unwrap(), OperatorChange::Conflict(DeliveryState::Sent));
    assert_eq!(s.dead_letter_delivery(ids[0], "x", T0).await.unwrap(), OperatorChange::Conflict(DeliveryState::Dead));
    assert_eq!(s.dead_letter_delivery(OutboxId(9_999), "x", T0).await.unwrap(), OperatorChange::NotFound);
}

async fn redrive_dry_run_changes_nothing(db: Database) {
    let s = store(db);
    let ids = seed(&s, &["c1", "c2"]).await;
    for id in &ids {
        settle(&s, *id, dead("x"), T0).await;
    }
    let before = s.delivery(ids[0]).await.unwrap();
    let request = RedriveRequest { state: DeliveryState::Dead, binding_id: None, limit: 10, dry_run: true };
    assert_eq!(s.redrive_deliveries(&request, T0 + 5).await.unwrap(), ids);
    assert_eq!(s.delivery(ids[0]).await.unwrap(), before);
    assert_eq!(state_of(&s, ids[1]).await, DeliveryState::Dead);
}

async fn redrive_resets_matching_rows_oldest_first_up_to_the_limit(db: Database) {
    let s = store(db);
    let ids = seed(&s, &["c1", "c2", "c3", "c4"]).await;
    settle(&s, ids[0], dead("x"), T0).await;
    settle(&s, ids[1], dead("x"), T0).await;
    settle(&s, ids[2], retry(T0 + 50, "503"), T0).await;
    settle(&s, ids[3], dead("x"), T0).await;
    let limited = RedriveRequest { state: DeliveryState::Dead, binding_id: None, limit: 2, dry_run: false };
    assert_eq!(s.redrive_deliveries(&limited, T0 + 5).await.unwrap(), vec![ids[0], ids[1]]);
    assert_eq!(state_of(&s, ids[0]).await, DeliveryState::Pending);
    assert_eq!(state_of(&s, ids[3]).await, DeliveryState::Dead);
    let elsewhere = RedriveRequest {
        state: DeliveryState::Dead,
        binding_id: Some(BindingId::new("b2")),
        limit: 10,
        dry_run: false,
    };
    assert!(s.redrive_deliveries(&elsewhere, T0 + 5).await.unwrap().is_empty());
    let failed = RedriveRequest { state: DeliveryState::Failed, binding_id: None, limit: 10, dry_run: false };
    assert_eq!(s.redrive_deliveries(&failed, T0 + 6).await.unwrap(), vec![ids[2]]);
    let record = s.delivery(ids[2]).await.unwrap().unwrap();
    assert_eq!((record.state, record.attempts, record.next_attempt_at), (DeliveryState::Pending, 0, Some(T0 + 6)));
}

async fn backlog_counts_rows_per_binding_and_state(db: Database) {
    let s = store(db);
    assert!(s.delivery_backlog().await.unwrap().is_empty());
    let ids = seed(&s, &["c1", "c2", "c3", "c4"]).await;
    let other = NewOutbound { binding_id: BindingId::new("a0"), ..outbound("k-a0", chat("x"), None, send("e")) };
    s.enqueue_outbound(std::slice::from_ref(&other), T0 + 7).await.unwrap();
    settle(&s, ids[0], sent("p"), T0).await;
    s.claim_outbox(&worker("w1"), T0, LEASE, 100).await.unwrap();
    s.record_delivery(ids[1], &worker("w1"), retry(T0 + 9, "503"), T0).await.unwrap();
    s.record_delivery(ids[2], &worker("w1"), dead("x"), T0).await.unwrap();
    let backlog = s.delivery_backlog().await.unwrap();
    let summary: Vec<_> = backlog
        .iter()
        .map(|b| (b.binding_id.as_str(), b.pending, b.claimed, b.retrying, b.dead, b.oldest_open_created_at))
        .collect();
    assert_eq!(summary, vec![("a0", 1, 0, 0, 0, Some(T0 + 7)), ("b1", 0, 1, 1, 1, Some(T0))], "a0 is not due yet");
}

async fn pruning_a_row_prunes_its_attempts(db: Database) {
    let s = store(db.clone());
    let id = seed(&s, &["c1"]).await[0];
    settle(&s, id, retry(T0 + 1, "503"), T0).await;
    settle(&s, id, sent("p"), T0 + 1).await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM gw_delivery_attempts").await, 2);
    s.prune_finished(T0 + 10).await.unwrap();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM gw_delivery_attempts").await, 0);
}

cowork_cloud::backend_tests!(
    every_attempt_is_recorded_with_its_outcome,
    an_outcome_without_the_claim_records_no_attempt,
    deliveries_are_listed_newest_first_by_state_and_binding,
    retry_gives_a_dead_row_a_fresh_budget_and_rejoins_its_lane,
    retry_refuses_sent_claimed_and_pending_rows,
    dead_letter_applies_only_to_pending_and_failed_rows,
    redrive_dry_run_changes_nothing,
    redrive_resets_matching_rows_oldest_first_up_to_the_limit,
    backlog_counts_rows_per_binding_and_state,
    pruning_a_row_prunes_its_attempts,
);
