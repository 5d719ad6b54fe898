//! Aborts through the worker: queued commands are cancelled, a turn running in another process
//! stops at its next lease renewal, and the session shows one notice.

use std::sync::Arc;
use std::time::Duration;

use cowork_cloud_client::{CommandBody, EventBody, SessionEvent};

use super::{Harness, kinds, prompt, test_settings, wait_until};
use crate::abort::STOPPED_NOTICE;
use crate::database::Database;
use crate::{CloudService, CloudSettings, DemoRuntime, ManualClock};

/// A demo pace no test waits out: a turn only ends early when it is stopped.
const FOREVER: Duration = Duration::from_secs(3600);

/// The texts of the `assistant.message` snapshots of `message_id`, with their completeness.
fn texts(events: &[SessionEvent], message_id: &str) -> Vec<(String, bool)> {
    let own = |e: &SessionEvent| match &e.body {
        EventBody::AssistantMessage { message_id: id, content, complete } if id == message_id => {
            Some((content.clone(), *complete))
        }
        _ => None,
    };
    events.iter().filter_map(own).collect()
}

async fn slow_demo(db: Database, settings: CloudSettings) -> Harness {
    let runtime = Arc::new(DemoRuntime::new(FOREVER));
    Harness::with_runtime(db, runtime, ManualClock::at(1_000_000), settings).await
}

async fn an_abort_cancels_the_commands_queued_before_it(db: Database) {
    let h = slow_demo(db, test_settings()).await;
    let session = h.session("T1").await;
    let first = h.submit(&session, "k1", prompt("a long story")).await;
    let worker = h.service.worker().unwrap();
    let turn = tokio::spawn(async move { worker.run_until_idle().await });
    let message = format!("{first}:assistant");
    wait_until("the first sentence", || async { !texts(&h.events(&session).await, &message).is_empty() }).await;
    let queued = h.submit(&session, "k2", prompt("another one")).await;
    let abort = h.submit(&session, "k3", CommandBody::Abort).await;
    assert_eq!(h.run_until_idle().await, 1, "the abort runs beside the turn");
    let ended = tokio::time::timeout(Duration::from_secs(10), turn).await;
    assert!(matches!(ended, Ok(Ok(Ok(1)))), "the turn did not stop: {ended:?}");

    let events = h.events(&session).await;
    assert!(events.iter().all(|e| !e.event_id.starts_with(queued.as_str())), "the queued prompt never ran");
    let status = h.service.store().command_status(&queued).await.ok().flatten();
    assert_eq!(status.map(|s| (s.state, s.last_error)), Some(("done".into(), Some("cancelled by an abort".into()))));
    let snaps = texts(&events, &message);
    assert_eq!(snaps.len(), 2, "one streamed sentence, then the same text marked complete: {snaps:?}");
    assert_eq!(snaps[1], (snaps[0].0.clone(), true));
    assert_eq!(texts(&events, &format!("{abort}:notice")), [(STOPPED_NOTICE.to_owned(), true)]);
    assert_eq!(kinds(&events).iter().filter(|k| **k == "session.idle").count(), 1);
}

async fn an_abort_recorded_by_another_process_stops_the_turn_at_its_next_renewal(db: Database) {
    let settings = CloudSettings { lease: Duration::from_millis(300), ..test_settings() };
    let h = slow_demo(db.clone(), settings.clone()).await;
    let session = h.session("T1").await;
    let first = h.submit(&session, "k1", prompt("a long story")).await;
    let worker = h.service.worker().unwrap();
    let turn = tokio::spawn(async move { worker.run_until_idle().await });
    let message = format!("{first}:assistant");
    wait_until("the first sentence", || async { !texts(&h.events(&session).await, &message).is_empty() }).await;

    // A second service on the same database: its worker has no handle on the running turn.
    let elsewhere = Arc::new(DemoRuntime::new(FOREVER));
    let (other, other_worker) = CloudService::new(db, settings, elsewhere, Arc::new(h.clock.clone()));
    let abort = h.submit(&session, "k2", CommandBody::Abort).await;
    assert_eq!(other_worker.run_until_idle().await.unwrap_or_else(|e| panic!("run: {e}")), 1);
    let ended = tokio::time::timeout(Duration::from_secs(10), turn).await;
    assert!(matches!(ended, Ok(Ok(Ok(1)))), "the turn did not stop: {ended:?}");

    let events = h.events(&session).await;
    assert_eq!(texts(&events, &message).last().map(|(_, complete)| *complete), Some(true));
    assert_eq!(texts(&events, &format!("{abort}:notice")), [(STOPPED_NOTICE.to_owned(), true)]);
    let status = other.store().command_status(&first).await.ok().flatten();
    assert_eq!(status.map(|s| s.state), Some("done".to_owned()));
}

crate::backend_tests!(
    an_abort_cancels_the_commands_queued_before_it,
    an_abort_recorded_by_another_process_stops_the_turn_at_its_next_renewal,
);
