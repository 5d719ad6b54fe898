//! Replay keys: a signed request is accepted once; its redelivery is a duplicate, a replay with
//! new events is refused, and the key frees up after its window.

use cowork_cloud::database::Database;

use super::*;
use crate::store::{NewRequest, ReplayKey, RequestOutcome};

fn signed(events: Vec<NewInbound>, key: &str) -> NewRequest {
    NewRequest {
        events,
        replay: Some(ReplayKey { provider_id: provider(), key: key.to_owned(), expires_at: T0 + 600_000 }),
    }
}

fn accepted(outcome: &RequestOutcome) -> Vec<bool> {
    match outcome {
        RequestOutcome::Accepted(all) => all.iter().map(|a| a.duplicate).collect(),
        RequestOutcome::Replayed => panic!("replayed"),
    }
}

async fn signed_request_is_accepted_once_and_redelivery_is_a_duplicate(db: Database) {
    let s = store(db);
    let first = s.accept_requests(&[signed(vec![inbound("e1", chat("c1"))], "k1")], T0).await.unwrap();
    assert_eq!(accepted(&first[0]), [false]);
    let again = s.accept_requests(&[signed(vec![inbound("e1", chat("c1"))], "k1")], T0 + 1).await.unwrap();
    assert_eq!(accepted(&again[0]), [true], "the sender lost our answer: a 2xx no-op");
}

async fn replay_with_new_events_is_refused_and_stores_nothing(db: Database) {
    let s = store(db);
    s.accept_requests(&[signed(vec![inbound("e1", chat("c1"))], "k1")], T0).await.unwrap();
    let replay = s.accept_requests(&[signed(vec![inbound("e2", chat("c1"))], "k1")], T0 + 1).await.unwrap();
    assert_eq!(replay, vec![RequestOutcome::Replayed]);
    let claimed = s.claim_inbox(&worker("w"), T0 + 2, LEASE, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|i| i.event.provider_event_id.as_str()).collect::<Vec<_>>(), ["e1"]);
}

async fn requests_in_one_group_are_judged_in_order(db: Database) {
    let s = store(db);
    let group = [
        signed(vec![inbound("a", chat("c1"))], "k1"),
        signed(vec![inbound("b", chat("c2"))], "k1"),
        NewRequest { events: vec![inbound("c", chat("c3"))], replay: None },
    ];
    let outcomes = s.accept_requests(&group, T0).await.unwrap();
    assert_eq!(accepted(&outcomes[0]), [false]);
    assert_eq!(outcomes[1], RequestOutcome::Replayed);
    assert_eq!(accepted(&outcomes[2]), [false]);
}

async fn expired_replay_key_is_taken_again_and_pruned(db: Database) {
    let s = store(db);
    s.accept_requests(&[signed(vec![inbound("e1", chat("c1"))], "k1")], T0).await.unwrap();
    let later = T0 + 600_000;
    let outcome = s.accept_requests(&[signed(vec![inbound("e2", chat("c1"))], "k1")], later).await.unwrap();
    assert_eq!(accepted(&outcome[0]), [false]);
    assert_eq!(s.prune_replay_keys(later + 600_001).await.unwrap(), 1);
}

cowork_cloud::backend_tests!(
    signed_request_is_accepted_once_and_redelivery_is_a_duplicate,
    replay_with_new_events_is_refused_and_stores_nothing,
    requests_in_one_group_are_judged_in_order,
    expired_replay_key_is_taken_again_and_pruned,
);
