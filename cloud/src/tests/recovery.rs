//! Crash recovery, retries and the worker loop: a cut run is re-run from its expired lease
//! without duplicating output; transient failures retry later; submits wake the worker.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cowork_cloud_client::{EventBody, SessionBackend};
use tokio_util::sync::CancellationToken;

use super::{Harness, kinds, last_snapshot, prompt, test_settings, wait_until};
use crate::database::Database;
use crate::runtime::{AgentRuntime, CommandContext, EventSink, RuntimeError};
use crate::{DemoRuntime, ManualClock};

async fn an_expired_run_is_rerun_without_duplicate_deltas(db: Database) {
    let clock = ManualClock::at(1_000_000);
    let fast = Arc::new(DemoRuntime::new(Duration::from_millis(1)));
    let h = Harness::with_runtime(db.clone(), fast, clock.clone(), test_settings()).await;
    let text = "Tell me about leases";
    let reference = h.session("reference").await;
    h.submit(&reference, "k", prompt(text)).await;
    h.run_until_idle().await;
    let expected = h.events(&reference).await;

    // A worker whose runtime pauses for an hour after the first snapshot, killed right there.
    let slow = Arc::new(DemoRuntime::new(Duration::from_secs(3600)));
    let crashed = Harness::with_runtime(db, slow, clock.clone(), test_settings()).await;
    let session = crashed.session("crash").await;
    let command = crashed.submit(&session, "k", prompt(text)).await;
    let worker = crashed.service.worker().unwrap();
    let handle = tokio::spawn(worker.run(CancellationToken::new()));
    wait_until("the first snapshot", || async { crashed.events(&session).await.len() >= 2 }).await;
    handle.abort();
    let _ = handle.await;
    let store = h.service.store();
    let status = store.command_status(&command).await.ok().flatten();
    assert_eq!(status.map(|s| (s.state, s.attempts)), Some(("running".to_owned(), 1)));

    // The live lease keeps others off; once it expires the command runs again.
    assert_eq!(h.run_until_idle().await, 0);
    clock.advance(test_settings().lease);
    assert_eq!(h.run_until_idle().await, 1);
    let events = h.events(&session).await;
    assert_eq!(kinds(&events), kinds(&expected));
    assert_eq!(last_snapshot(&events), last_snapshot(&expected));
    let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "no event stored twice");
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=events.len() as i64).collect::<Vec<_>>());
    let status = store.command_status(&command).await.ok().flatten();
    assert_eq!(status.map(|s| (s.state, s.attempts)), Some(("done".to_owned(), 2)));
}

/// Fails transiently on its first attempt, then finishes.
struct FlakyRuntime {
    runs: AtomicUsize,
}

#[async_trait]
impl AgentRuntime for FlakyRuntime {
    async fn run(&self, command: &CommandContext, sink: &EventSink) -> Result<(), RuntimeError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if command.attempt == 1 {
            return Err(RuntimeError::Transient("model timed out".into()));
        }
        sink.append(&format!("{}:idle", command.command_id), &EventBody::SessionIdle {}).await?;
        Ok(())
    }
}

async fn a_transient_failure_is_retried_after_a_delay(db: Database) {
    let clock = ManualClock::at(1_000_000);
    let runtime = Arc::new(FlakyRuntime { runs: AtomicUsize::new(0) });
    let h = Harness::with_runtime(db, runtime.clone(), clock.clone(), test_settings()).await;
    let session = h.session("T1").await;
    let command = h.submit(&session, "k", prompt("hi")).await;
    assert_eq!(h.run_until_idle().await, 1);
    let status = h.service.store().command_status(&command).await.ok().flatten();
    let (state, error) = status.map(|s| (s.state, s.last_error)).unwrap_or_default();
    assert_eq!(state, "pending");
    assert!(error.is_some_and(|e| e.contains("model timed out")));
    assert_eq!(h.run_until_idle().await, 0, "the retry waits for its delay");
    clock.advance(Duration::from_secs(1));
    assert_eq!(h.run_until_idle().await, 1);
    assert_eq!(runtime.runs.load(Ordering::SeqCst), 2);
    assert_eq!(kinds(&h.events(&session).await), ["session.idle"]);
}

async fn the_worker_loop_wakes_on_submit_and_stops_on_shutdown(db: Database) {
    let h = Harness::demo(db).await;
    let session = h.session("T1").await;
    let mut feed = h.service.subscribe();
    let shutdown = CancellationToken::new();
    // Polling is an hour apart in the test settings: only the submit's wake-up can start work.
    let handle = tokio::spawn(h.service.worker().unwrap().run(shutdown.clone()));
    h.submit(&session, "k", prompt("wake up")).await;
    let woken = tokio::time::timeout(Duration::from_secs(10), feed.recv()).await;
    assert!(matches!(&woken, Ok(Ok(id)) if *id == session), "{woken:?}");
    wait_until("the turn to end", || async { kinds(&h.events(&session).await).last() == Some(&"session.idle") }).await;
    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), handle).await;
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
}

crate::backend_tests!(
    an_expired_run_is_rerun_without_duplicate_deltas,
    a_transient_failure_is_retried_after_a_delay,
    the_worker_loop_wakes_on_submit_and_stops_on_shutdown,
);
