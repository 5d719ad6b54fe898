//! A burst of new threads: thousands of lanes opened at once drain at full speed through the
//! inbox and the outbox, because a claim finds lane heads in one pass over the open rows however
//! many lanes wait, whatever plan the database picks.

use std::time::{Duration, Instant};

use cowork_cloud::database::Database;
use cowork_cloud::database::testing::TestDatabase;

use super::*;
use crate::store::{DeliveryOutcome, InboxOutcome};

/// Threads in the burst.
const THREADS: usize = 3000;
/// Rows claimed per round, as the workers' default batch.
const BATCH: usize = 32;
/// Long enough for a slow CI machine; a claim whose cost grows with the backlog takes minutes.
const DEADLINE: Duration = Duration::from_secs(60);

async fn a_burst_of_new_threads_drains_the_inbox_and_the_outbox(db: Database) {
    let s = store(db);
    let events: Vec<NewInbound> = (0..THREADS).map(|n| inbound(&format!("e{n}"), chat(&format!("c{n}")))).collect();
    for chunk in events.chunks(500) {
        s.accept_inbound(chunk, T0).await.unwrap();
    }
    let started = Instant::now();
    let mut drained = 0;
    while drained < THREADS {
        assert!(started.elapsed() < DEADLINE, "inbox: only {drained} of {THREADS} claimed after {DEADLINE:?}");
        let items = s.claim_inbox(&worker("w1"), T0, LEASE, BATCH).await.unwrap();
        assert!(!items.is_empty(), "inbox: due rows left unclaimed after {drained}");
        for item in &items {
            assert!(s.record_inbox(item.id, &worker("w1"), InboxOutcome::Done, T0).await.unwrap());
        }
        drained += items.len();
    }
    eprintln!("inbox: {THREADS} threads drained in {:?}", started.elapsed());

    for n in 0..THREADS {
        let session = format!("s{n}");
        s.ensure_cursor(&cursor(&session, &format!("c{n}")), T0).await.unwrap();
        let op = outbound(&format!("k{n}"), chat(&format!("c{n}")), None, send("hi"));
        let commit = RenderCommit { outbound: vec![op], ..step(&session, 0, 1) };
        assert!(s.commit_render(commit, T0).await.unwrap());
    }
    let started = Instant::now();
    let mut delivered = 0;
    while delivered < THREADS {
        assert!(started.elapsed() < DEADLINE, "outbox: only {delivered} of {THREADS} claimed after {DEADLINE:?}");
        let items = s.claim_outbox(&worker("d1"), T0, LEASE, BATCH).await.unwrap();
        assert!(!items.is_empty(), "outbox: due rows left unclaimed after {delivered}");
        for item in &items {
            let sent = DeliveryOutcome::Sent { provider_message_id: format!("m{}", item.id.0) };
            s.record_delivery(item.id, &worker("d1"), sent, T0).await.unwrap();
        }
        delivered += items.len();
    }
    eprintln!("outbox: {THREADS} threads drained in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_burst_of_new_threads_drains() {
    let test_db = TestDatabase::sqlite().await;
    a_burst_of_new_threads_drains_the_inbox_and_the_outbox(test_db.db.clone()).await;
}

/// Sequential scans only: the plans Postgres picks for a table it believes tiny (statistics of a
/// quiet start, or a generic plan cached then), which a burst must survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_burst_of_new_threads_drains() {
    let tiny_table_plans = [("enable_indexscan", "off"), ("enable_indexonlyscan", "off"), ("enable_bitmapscan", "off")];
    let Some(test_db) = TestDatabase::postgres_with(&tiny_table_plans).await else { return };
    a_burst_of_new_threads_drains_the_inbox_and_the_outbox(test_db.db.clone()).await;
}
