//! Fencing by binding epoch: a fenced store claims only the rows of bindings it holds at their
//! current epochs, and commits a rendering only while the session's binding is still at the
//! epoch it was rendered under.

use std::sync::{Arc, Mutex};

use cowork_cloud::database::Database;
use cowork_cloud_client::SessionId;

use super::*;
use crate::store::{DeliveryOutcome, Fences, InboxOutcome, Incarnation, StoreError};

/// A held set the test sets by hand, recording refusals.
#[derive(Default)]
struct Held {
    held: Mutex<Vec<(String, i64)>>,
    refused: Mutex<Vec<String>>,
}

impl Fences for Held {
    fn held(&self) -> Vec<(String, i64)> {
        self.held.lock().unwrap().clone()
    }

    fn refused(&self, binding: &str) {
        self.refused.lock().unwrap().push(binding.to_owned());
    }
}

/// `b1` and `b2` owned by replica `a` at epoch 1; a store fenced on `b1` at epoch 1.
async fn fenced_store(db: &Database) -> (GatewayStore, Arc<Held>) {
    let plain = store(db.clone());
    let a = Incarnation { instance_id: "a", incarnation: "a1" };
    plain.register_member(a, &["b1".into(), "b2".into()]).await.unwrap();
    let now = plain.database_now().await.unwrap();
    for binding in ["b1", "b2"] {
        assert_eq!(plain.take_binding(a, binding, now, 60_000).await.unwrap(), Some(1));
    }
    let held = Arc::new(Held::default());
    held.held.lock().unwrap().push(("b1".into(), 1));
    (plain.with_fences(held.clone()), held)
}

fn on(binding: &str, key: &str, chat_id: &str) -> NewOutbound {
    NewOutbound { binding_id: BindingId::new(binding), ..outbound(key, chat(chat_id), None, send(key)) }
}

async fn a_fenced_claim_takes_only_rows_of_held_bindings_at_their_epochs(db: Database) {
    let (fenced, held) = fenced_store(&db).await;
    fenced.enqueue_outbound(&[on("b1", "k1", "c1"), on("b2", "k2", "c2")], T0).await.unwrap();
    let items = fenced.claim_outbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(items.iter().map(|i| i.dedupe_key.as_str()).collect::<Vec<_>>(), vec!["k1"]);

    // b2 is taken at a later epoch elsewhere; holding it at epoch 1 is not enough.
    held.held.lock().unwrap().push(("b2".into(), 1));
    execute(
        &db,
        "UPDATE gw_binding_owners SET epoch = 2, owner_id = 'b', owner_incarnation = 'b1' WHERE binding_id = 'b2'",
    )
    .await;
    assert!(fenced.claim_outbox(&worker("w1"), T0, LEASE, 10).await.unwrap().is_empty());
    // Released (owner cleared, epoch kept): not claimable either.
    execute(&db, "UPDATE gw_binding_owners SET epoch = 1, owner_id = NULL WHERE binding_id = 'b2'").await;
    assert!(fenced.claim_outbox(&worker("w1"), T0, LEASE, 10).await.unwrap().is_empty());
    // The unfenced store sees every binding.
    assert_eq!(store(db.clone()).claim_outbox(&worker("w2"), T0, LEASE, 10).await.unwrap().len(), 1);

    // The inbox is fenced the same way.
    let rows = [
        NewInbound { binding_id: BindingId::new("b1"), ..inbound("e1", chat("c1")) },
        NewInbound { binding_id: BindingId::new("b2"), ..inbound("e2", chat("c2")) },
    ];
    fenced.accept_inbound(&rows, T0).await.unwrap();
    let claimed = fenced.claim_inbox(&worker("w1"), T0, LEASE, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|i| i.binding_id.as_str()).collect::<Vec<_>>(), vec!["b1"]);
    assert!(held.refused.lock().unwrap().is_empty());
}

async fn a_render_commit_is_refused_once_the_binding_moved(db: Database) {
    let (fenced, held) = fenced_store(&db).await;
    fenced.ensure_cursor(&cursor("s1", "c1"), T0).await.unwrap();
    let commit = RenderCommit { outbound: vec![on("b1", "r1", "c1")], epoch: Some(1), ..step("s1", 0, 1) };
    assert!(fenced.commit_render(commit, T0).await.unwrap());
    let unfenced = fenced.commit_render(step("s1", 1, 2), T0).await.unwrap_err();
    assert!(matches!(unfenced, StoreError::Corrupt(_)), "a fenced commit names its epoch");
    // Rendered under epoch 1, committed after the binding moved on (a pause): refused.
    execute(&db, "UPDATE gw_binding_owners SET epoch = 2, owner_id = 'b' WHERE binding_id = 'b1'").await;
    held.held.lock().unwrap().clear();
    let late = RenderCommit { outbound: vec![on("b1", "r2", "c1")], epoch: Some(1), ..step("s1", 1, 2) };
    let refused = fenced.commit_render(late, T0).await.unwrap_err();
    assert!(matches!(&refused, StoreError::Fenced(binding) if binding == "b1"), "{refused:?}");
    assert_eq!(*held.refused.lock().unwrap(), vec!["b1".to_owned()]);
    assert_eq!(fenced.cursor(&SessionId::new("s1")).await.unwrap().unwrap().last_sequence, 1, "not advanced");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM gw_outbox WHERE dedupe_key = 'r2'").await, 0, "nothing written");
    // A session without a cursor is the compare-and-set's to refuse, not the fence's.
    assert!(!fenced.commit_render(RenderCommit { epoch: Some(2), ..step("unknown", 0, 1) }, T0).await.unwrap());
}

async fn outcomes_of_claimed_rows_are_refused_once_the_binding_moved(db: Database) {
    let (fenced, held) = fenced_store(&db).await;
    fenced.enqueue_outbound(&[on("b1", "k1", "c1"), on("b1", "k2", "c2")], T0).await.unwrap();
    fenced
        .accept_inbound(&[NewInbound { binding_id: BindingId::new("b1"), ..inbound("e1", chat("c1")) }], T0)
        .await
        .unwrap();
    let owner = worker("w1");
    let claimed = fenced.claim_outbox(&owner, T0, LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let inbox = fenced.claim_inbox(&owner, T0, LEASE, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    // Still held: an outcome applies.
    let retry = DeliveryOutcome::Retry { at: T0 + 1, error: "HTTP 503".into() };
    assert!(fenced.record_delivery(claimed[0].id, &owner, retry.clone(), T0).await.unwrap());

    // Paused past the lease: b1 went to replica b at epoch 2, the claims are still this worker's.
    execute(&db, "UPDATE gw_binding_owners SET epoch = 2, owner_id = 'b' WHERE binding_id = 'b1'").await;
    held.held.lock().unwrap().clear();
    let late = fenced.record_delivery(claimed[1].id, &owner, retry, T0).await.unwrap_err();
    assert!(matches!(&late, StoreError::Fenced(binding) if binding == "b1"), "{late:?}");
    let late = fenced.record_inbox(inbox[0].id, &owner, InboxOutcome::Done, T0).await.unwrap_err();
    assert!(matches!(&late, StoreError::Fenced(binding) if binding == "b1"), "{late:?}");
    assert_eq!(*held.refused.lock().unwrap(), vec!["b1".to_owned(), "b1".to_owned()]);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM gw_outbox WHERE state = 'claimed'").await, 1, "left as claimed");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM gw_inbox WHERE state = 'claimed'").await, 1, "left as claimed");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM gw_delivery_attempts").await, 1, "no attempt recorded");

    // The new owner re-claimed the row meanwhile: still the fence's refusal, not a lost claim.
    execute(&db, "UPDATE gw_outbox SET lease_owner = 'w2' WHERE state = 'claimed'").await;
    let outcome = DeliveryOutcome::Dead { reason: "gone".into() };
    assert!(matches!(
        fenced.record_delivery(claimed[1].id, &owner, outcome.clone(), T0).await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(held.held.lock().unwrap().len(), 0);
    // Holding the binding at its epoch again, a claim lost to another worker is just lost.
    held.held.lock().unwrap().push(("b1".into(), 2));
    assert!(!fenced.record_delivery(claimed[1].id, &owner, outcome, T0).await.unwrap());
    assert_eq!(held.refused.lock().unwrap().len(), 3);
    // A delivered message is recorded as sent whoever holds the binding (it cannot be unsent).
    let sent = DeliveryOutcome::Sent { provider_message_id: "m-1".into() };
    assert!(fenced.record_delivery(claimed[1].id, &worker("w2"), sent, T0).await.unwrap());
}

cowork_cloud::backend_tests!(
    a_fenced_claim_takes_only_rows_of_held_bindings_at_their_epochs,
    a_render_commit_is_refused_once_the_binding_moved,
    outcomes_of_claimed_rows_are_refused_once_the_binding_moved,
);
