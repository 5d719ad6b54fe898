//! Interaction handles: lookup and the atomic single-winner decision.

use cowork_cloud::database::Database;

use super::*;
use crate::store::{DecideOutcome, Interaction, StoreError};

const EXPIRES: i64 = T0 + 60_000;

async fn interaction_round_trips(db: Database) {
    let s = store(db);
    let mut spec = interaction("abc", "s1", "perm-1", EXPIRES);
    spec.kind = InteractionKind::Permission;
    spec.options = Vec::new();
    seed_interactions(&s, vec![spec.clone(), interaction("def", "s1", "q-2", EXPIRES)]).await;
    let found = s.find_interaction("abc").await.unwrap();
    assert_eq!(found, Some(Interaction { spec, decision: None }));
    let question = s.find_interaction("def").await.unwrap().unwrap();
    assert_eq!(question.spec, interaction("def", "s1", "q-2", EXPIRES));
}

async fn unknown_interaction_is_not_found(db: Database) {
    let s = store(db);
    assert_eq!(s.find_interaction("nope").await.unwrap(), None);
    let outcome = s.decide_interaction("nope", decision("ada", "e1", T0), T0).await.unwrap();
    assert_eq!(outcome, DecideOutcome::Unknown);
}

async fn first_decision_wins(db: Database) {
    let s = store(db);
    seed_interactions(&s, vec![interaction("abc", "s1", "perm-1", EXPIRES)]).await;
    let outcome = s.decide_interaction("abc", decision("ada", "e1", T0 + 5), T0 + 5).await.unwrap();
    let DecideOutcome::Won(won) = outcome else { panic!("expected a win, got {outcome:?}") };
    assert_eq!(won.decision, Some(decision("ada", "e1", T0 + 5)));
    let stored = s.find_interaction("abc").await.unwrap().unwrap();
    assert_eq!(stored.decision, Some(decision("ada", "e1", T0 + 5)));
}

async fn later_decision_is_already_decided(db: Database) {
    let s = store(db);
    seed_interactions(&s, vec![interaction("abc", "s1", "perm-1", EXPIRES)]).await;
    s.decide_interaction("abc", decision("ada", "e1", T0), T0).await.unwrap();
    let outcome = s.decide_interaction("abc", decision("bob", "e2", T0 + 1), T0 + 1).await.unwrap();
    let DecideOutcome::AlreadyDecided(seen) = outcome else { panic!("got {outcome:?}") };
    assert_eq!(seen.decision, Some(decision("ada", "e1", T0)), "names who decided");
}

async fn retried_decision_wins_again(db: Database) {
    let s = store(db);
    seed_interactions(&s, vec![interaction("abc", "s1", "perm-1", EXPIRES)]).await;
    s.decide_interaction("abc", decision("ada", "e1", T0), T0).await.unwrap();
    let retry = s.decide_interaction("abc", decision("ada", "e1", EXPIRES + 9), EXPIRES + 9).await;
    let DecideOutcome::Won(won) = retry.unwrap() else { panic!("a retry must win again") };
    assert_eq!(won.decision, Some(decision("ada", "e1", T0)), "the original decision");
}

async fn expired_interaction_cannot_be_decided(db: Database) {
    let s = store(db);
    seed_interactions(&s, vec![interaction("abc", "s1", "perm-1", EXPIRES)]).await;
    let late = s.decide_interaction("abc", decision("ada", "e1", EXPIRES), EXPIRES).await.unwrap();
    assert_eq!(late, DecideOutcome::Expired);
    assert_eq!(s.find_interaction("abc").await.unwrap().unwrap().decision, None);
    let in_time = s.decide_interaction("abc", decision("ada", "e1", T0), EXPIRES - 1).await.unwrap();
    assert!(matches!(in_time, DecideOutcome::Won(_)));
}

async fn concurrent_decisions_have_one_winner(db: Database) {
    let s = store(db);
    seed_interactions(&s, vec![interaction("abc", "s1", "perm-1", EXPIRES)]).await;
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let s = s.clone();
            let d = decision(&format!("user{n}"), &format!("e{n}"), T0 + n);
            tokio::spawn(async move { s.decide_interaction("abc", d, T0).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            DecideOutcome::Won(i) => winners.push(i.decision),
            DecideOutcome::AlreadyDecided(i) => losers.push(i.decision),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner");
    assert!(losers.iter().all(|d| *d == winners[0]), "losers see the winner");
}

async fn undecodable_interaction_is_corrupt(db: Database) {
    let s = store(db.clone());
    seed_interactions(&s, vec![interaction("abc", "s1", "perm-1", EXPIRES)]).await;
    execute(&db, "UPDATE gw_interactions SET options = 'nope' WHERE code = 'abc'").await;
    assert!(matches!(s.find_interaction("abc").await, Err(StoreError::Corrupt(_))));
    execute(&db, "UPDATE gw_interactions SET options = '[]', kind = 'poll' WHERE code = 'abc'").await;
    assert!(matches!(s.find_interaction("abc").await, Err(StoreError::Corrupt(_))));
}

cowork_cloud::backend_tests!(
    interaction_round_trips,
    unknown_interaction_is_not_found,
    first_decision_wins,
    later_decision_is_already_decided,
    retried_decision_wins_again,
    expired_interaction_cannot_be_decided,
    concurrent_decisions_have_one_winner,
    undecodable_interaction_is_corrupt,
);
