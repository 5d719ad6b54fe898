//! Retention: only old finished rows are pruned.

use cowork_cloud::database::Database;

use super::*;
use crate::store::{DeliveryOutcome, InboxOutcome};

async fn prune_removes_only_old_finished_rows(db: Database) {
    let s = store(db.clone());
    let batch = [
        inbound("done", chat("c1")),
        inbound("dead", chat("c2")),
        inbound("open", chat("c3")),
        inbound("late", chat("c4")),
    ];
    s.accept_inbound(&batch, T0).await.unwrap();
    let w = worker("w1");
    let claimed = s.claim_inbox(&w, T0, LEASE, 10).await.unwrap();
    s.record_inbox(claimed[0].id, &w, InboxOutcome::Done, T0 + 10).await.unwrap();
    s.record_inbox(claimed[1].id, &w, InboxOutcome::Dead { reason: "x".into() }, T0 + 10).await.unwrap();
    s.record_inbox(claimed[3].id, &w, InboxOutcome::Done, T0 + 100).await.unwrap();
    let rows = [
        outbound("sent", chat("c1"), None, send("a")),
        outbound("dead", chat("c2"), None, send("b")),
        outbound("open", chat("c3"), None, send("c")),
    ];
    s.enqueue_outbound(&rows, T0).await.unwrap();
    let claimed = s.claim_outbox(&w, T0, LEASE, 10).await.unwrap();
    let delivered = DeliveryOutcome::Sent { provider_message_id: "p".into() };
    s.record_delivery(claimed[0].id, &w, delivered, T0 + 10).await.unwrap();
    s.record_delivery(claimed[1].id, &w, DeliveryOutcome::Dead { reason: "x".into() }, T0 + 10).await.unwrap();

    assert_eq!(s.prune_finished(T0 + 50).await.unwrap(), 4);
    assert_eq!(s.prune_finished(T0 + 50).await.unwrap(), 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM gw_inbox").await, 2, "open and late stay");
    assert_eq!(text(&db, "SELECT dedupe_key FROM gw_outbox").await, "open");
    let again = s.accept_inbound(&[inbound("done", chat("c1")), inbound("late", chat("c4"))], T0 + 200).await.unwrap();
    assert!(!again[0].duplicate, "a pruned dedupe key is forgotten");
    assert!(again[1].duplicate);
}

async fn one_replica_at_a_time_holds_the_retention_job(db: Database) {
    let (a, b) = (store(db.clone()), store(db.clone()));
    assert!(a.hold_job("retention", "gw-a", 60_000).await.unwrap());
    assert!(!b.hold_job("retention", "gw-b", 60_000).await.unwrap(), "a live holder keeps it");
    assert!(a.hold_job("retention", "gw-a", 60_000).await.unwrap(), "the holder renews");
    assert!(b.hold_job("other-job", "gw-b", 60_000).await.unwrap(), "jobs are separate");
    // The holder died: once its lease lapses, another replica takes the job.
    execute(&db, "UPDATE gw_job_leases SET expires_at = 0 WHERE name = 'retention'").await;
    assert!(b.hold_job("retention", "gw-b", 60_000).await.unwrap());
    assert!(!a.hold_job("retention", "gw-a", 60_000).await.unwrap());
}

cowork_cloud::backend_tests!(prune_removes_only_old_finished_rows, one_replica_at_a_time_holds_the_retention_job);
