//! Ownership on both engines: spreading and hand-off, the race for a lapsed binding, fencing of a
//! second process with the same instance id, trust running out without renewals, operator moves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cowork_cloud::clock::ManualClock;
use cowork_cloud::database::Database;
use cowork_cloud::with_writer;

use super::*;

fn bindings() -> Vec<String> {
    (0..12).map(|i| format!("binding-{i}")).collect()
}

fn replica(db: &Database, id: &str, clock: &ManualClock) -> Arc<Ownership> {
    Ownership::new(
        GatewayStore::new(db.clone()),
        Arc::new(clock.clone()),
        OwnershipSettings::new(id.into()),
        bindings(),
    )
}

async fn started(db: &Database, id: &str, clock: &ManualClock) -> Arc<Ownership> {
    let ownership = replica(db, id, clock);
    ownership.register().await.expect("register");
    ownership
}

/// Runs rounds of every replica until nothing changes.
async fn settle(replicas: &[&Arc<Ownership>]) {
    for _ in 0..10 {
        let mut changed = false;
        for replica in replicas {
            let report = replica.round().await.expect("round");
            changed |= report != RoundReport::default();
        }
        if !changed {
            return;
        }
    }
    panic!("ownership did not settle");
}

/// Who holds each binding, by the database.
async fn owners(db: &Database) -> HashMap<String, (Option<String>, i64)> {
    let rows = GatewayStore::new(db.clone()).binding_owners().await.expect("owners");
    rows.into_iter().map(|row| (row.binding_id, (row.owner_id, row.epoch))).collect()
}

async fn bindings_spread_over_the_live_replicas_and_a_join_moves_only_its_share(db: Database) {
    let clock = ManualClock::new();
    let a = started(&db, "gw-a", &clock).await;
    settle(&[&a]).await;
    assert_eq!(a.held().len(), 12, "alone, a replica holds every binding");
    assert!(a.held().iter().all(|(_, epoch)| *epoch == 1));

    let b = started(&db, "gw-b", &clock).await;
    settle(&[&a, &b]).await;
    let (held_a, held_b) = (a.held(), b.held());
    assert_eq!(held_a.len() + held_b.len(), 12, "{held_a:?} {held_b:?}");
    assert!(!held_b.is_empty() && !held_a.is_empty());
    let by_db = owners(&db).await;
    for (binding, epoch) in &held_b {
        assert_eq!(by_db[binding], (Some("gw-b".to_owned()), *epoch));
        assert_eq!(*epoch, 2, "taken once by a, handed to b: {binding}");
    }
    for (binding, epoch) in &held_a {
        assert_eq!((by_db[binding].0.as_deref(), *epoch), (Some("gw-a"), 1), "{binding} did not move");
    }

    // b drains and leaves: a takes its share back at once, under new epochs.
    b.drain().await;
    b.leave().await;
    assert!(b.held().is_empty());
    settle(&[&a]).await;
    assert_eq!(a.held().len(), 12);
    for (binding, _) in &held_b {
        assert_eq!(a.epoch(binding), Some(3), "{binding}");
    }
}

async fn two_replicas_racing_for_a_lapsed_binding_one_wins(db: Database) {
    let store = GatewayStore::new(db.clone());
    store.register_member(Incarnation { instance_id: "gw-a", incarnation: "a1" }, &bindings()).await.expect("a");
    let now = store.database_now().await.expect("now");
    for round in 0..20 {
        // The binding's holder died: its lease lapsed.
        with_writer!(&db, |pool| {
            sqlx::query("UPDATE gw_binding_owners SET owner_id = 'gone', owner_incarnation = 'g', lease_expires_at = $1 WHERE binding_id = 'binding-0'")
                .bind(now - 1)
                .execute(pool)
                .await
                .expect("lapse");
        });
        let one = Incarnation { instance_id: "gw-b", incarnation: "b1" };
        let two = Incarnation { instance_id: "gw-c", incarnation: "c1" };
        let (first, second) = tokio::join!(
            store.take_binding(one, "binding-0", now, 15_000),
            store.take_binding(two, "binding-0", now, 15_000)
        );
        let winners = [first.expect("take"), second.expect("take")].iter().flatten().count();
        assert_eq!(winners, 1, "round {round}");
    }
}

async fn a_second_process_with_the_same_instance_id_fences_the_first(db: Database) {
    let clock = ManualClock::new();
    let first = started(&db, "gw-a", &clock).await;
    settle(&[&first]).await;
    assert_eq!(first.held().len(), 12);
    let second = started(&db, "gw-a", &clock).await;
    settle(&[&second]).await;
    assert_eq!(second.held().len(), 12, "the new process takes the instance's bindings at once");
    assert!(second.held().iter().all(|(_, epoch)| *epoch == 2), "under new epochs: {:?}", second.held());
    // The first one's renewals find nothing any more, and its heartbeat is refused.
    clock.advance(Duration::from_secs(6));
    let report = first.round().await.expect("round");
    assert_eq!(report.lost.len(), 12, "{report:?}");
    assert!(first.is_fenced() && first.held().is_empty());
    assert_eq!(first.round().await.expect("round"), RoundReport::default(), "a fenced process stays out");
}

async fn without_renewals_a_holder_stops_trusting_its_bindings_before_the_lease_ends(db: Database) {
    let clock = ManualClock::new();
    let a = started(&db, "gw-a", &clock).await;
    settle(&[&a]).await;
    assert_eq!(a.epoch("binding-3"), Some(1));
    // The database is out of reach: no round succeeds. Within the lease minus the margin the
    // bindings are still trusted; after it, none is.
    clock.advance(Duration::from_millis(13_900));
    assert_eq!(a.epoch("binding-3"), Some(1));
    clock.advance(Duration::from_millis(200));
    assert_eq!(a.epoch("binding-3"), None, "trust ends a second before the lease");
    assert!(a.held().is_empty());
    // Back in reach, a round renews them.
    a.round().await.expect("round");
    assert_eq!(a.epoch("binding-3"), Some(1));
}

async fn a_refused_write_drops_the_binding_and_an_operator_move_fences_its_holder(db: Database) {
    let clock = ManualClock::new();
    let a = started(&db, "gw-a", &clock).await;
    let b = started(&db, "gw-b", &clock).await;
    settle(&[&a, &b]).await;
    let (binding, epoch) = a.held()[0].clone();
    let store = GatewayStore::new(db.clone());
    let (moved_epoch, avoided) = store.move_binding(&binding).await.expect("move").expect("known");
    assert_eq!((moved_epoch, avoided.as_deref()), (epoch + 1, Some("gw-a")));
    a.write_refused(&binding);
    assert_eq!((a.epoch(&binding), a.refused_writes()), (None, 1));
    settle(&[&a, &b]).await;
    assert_eq!(b.epoch(&binding), Some(epoch + 2), "moved to the other replica");
    assert_eq!(a.epoch(&binding), None, "and kept away from the first");
    assert_eq!(store.move_binding("unknown").await.expect("move"), None);
}

cowork_cloud::backend_tests!(
    bindings_spread_over_the_live_replicas_and_a_join_moves_only_its_share,
    two_replicas_racing_for_a_lapsed_binding_one_wins,
    a_second_process_with_the_same_instance_id_fences_the_first,
    without_renewals_a_holder_stops_trusting_its_bindings_before_the_lease_ends,
    a_refused_write_drops_the_binding_and_an_operator_move_fences_its_holder,
);
