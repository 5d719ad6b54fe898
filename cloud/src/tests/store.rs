//! Store behaviour: bindings, idempotent submits, FIFO claims, gap-free fenced appends, leases.

use std::collections::BTreeSet;

use cowork_cloud_client::{BackendError, BindThread, EventBody, SessionBackend, SessionId};

use super::{BINDING, Harness, prompt};
use crate::database::Database;
use crate::store::{
    Claim, ClaimRequest, ClaimScope, ClaimedCommand, CloudStore, CommandFence, CommandOutcome, GAVE_UP_MESSAGE,
};
use crate::{StoreError, ids};

const LEASE_MS: i64 = 30_000;

/// One claim step with an attempt budget of `max_attempts`; `None` when nothing is runnable.
async fn claim_with(store: &CloudStore, owner: &str, now: i64, max_attempts: u32) -> Option<Claim> {
    let request = ClaimRequest { owner, now, lease_ms: LEASE_MS, max_attempts, scope: ClaimScope::Any, max: 1 };
    let mut claims = store.claim_commands(request).await.unwrap_or_else(|e| panic!("claim: {e}"));
    assert!(claims.len() <= 1, "{claims:?}");
    claims.pop()
}

async fn claim(store: &CloudStore, owner: &str, now: i64) -> Option<Claim> {
    claim_with(store, owner, now, 5).await
}

async fn claimed(store: &CloudStore, owner: &str, now: i64) -> ClaimedCommand {
    match claim(store, owner, now).await {
        Some(Claim::Command(command)) => command,
        other => panic!("expected a command, got {other:?}"),
    }
}

fn idle() -> EventBody {
    EventBody::SessionIdle {}
}

async fn bind_is_stable_and_needs_a_provisioned_binding(db: Database) {
    let h = Harness::demo(db).await;
    let first = h.session("T1").await;
    assert_eq!(first, h.session("T1").await);
    assert_eq!(first, ids::session_id(BINDING, "C1", "T1"));
    assert_ne!(first, h.session("T2").await);
    let unknown = BindThread {
        channel_binding_id: "nope".into(),
        chat_id: "C1".into(),
        thread_id: "T1".into(),
        agent: String::new(),
        title: String::new(),
    };
    let result = h.service.bind_thread(unknown).await;
    assert!(matches!(result, Err(BackendError::NotFound(_))), "{result:?}");
    let again = h.service.resolve_identity(BINDING, "U1").await.ok();
    assert_eq!(again, Some(h.actor.clone()));
    let stranger = h.service.resolve_identity("nope", "U1").await;
    assert!(matches!(stranger, Err(BackendError::NotFound(_))));
}

async fn submit_is_idempotent(db: Database) {
    let h = Harness::demo(db).await;
    let session = h.session("T1").await;
    let first = h.submit(&session, "inbox-1", prompt("hello")).await;
    let second = h.submit(&session, "inbox-1", prompt("hello")).await;
    assert_eq!(first, second);
    let other = h.service.submit(&session, h.command("inbox-1", prompt("changed"))).await;
    assert!(matches!(other, Err(BackendError::Rejected(_))), "{other:?}");
    let missing = h.service.submit(&SessionId::new("sess_missing"), h.command("k", prompt("x"))).await;
    assert!(matches!(missing, Err(BackendError::NotFound(_))));
    assert_eq!(h.run_until_idle().await, 1, "one key, one command, one run");
}

async fn commands_run_one_at_a_time_per_session_in_order(db: Database) {
    let h = Harness::demo(db).await;
    let store = h.service.store();
    let (a, b) = (h.session("A").await, h.session("B").await);
    let a1 = h.submit(&a, "a1", prompt("one")).await;
    let a2 = h.submit(&a, "a2", prompt("two")).await;
    let b1 = h.submit(&b, "b1", prompt("three")).await;
    let now = 1_000_000;
    let first = claimed(store, "w1", now).await;
    assert_eq!(first.fence.command_id, a1);
    // a2 waits behind a1; the other session is free to run.
    let second = claimed(store, "w2", now).await;
    assert_eq!(second.fence.command_id, b1);
    assert_eq!(claim(store, "w2", now).await, None);
    store
        .finish_command(&first.fence, &CommandOutcome::Done, now + 1, 5)
        .await
        .unwrap_or_else(|e| panic!("finish: {e}"));
    let third = claimed(store, "w2", now + 1).await;
    assert_eq!(third.fence.command_id, a2);
}

async fn appends_are_gap_free_and_idempotent(db: Database) {
    let h = Harness::demo(db).await;
    let store = h.service.store();
    let session = h.session("T1").await;
    h.submit(&session, "k", prompt("hi")).await;
    let command = claimed(store, "w1", 1_000_000).await;
    let fence = &command.fence;
    for (index, id) in ["e1", "e2", "e3"].into_iter().enumerate() {
        let appended = store.append_event(id, &idle(), fence, 1).await.ok();
        assert_eq!(appended.map(|a| (a.sequence, a.created)), Some((index as i64 + 1, true)));
    }
    let again = store.append_event("e2", &idle(), fence, 2).await.ok();
    assert_eq!(again.map(|a| (a.sequence, a.created)), Some((2, false)));
    // Concurrent appends (committed together) still get distinct, consecutive sequences; one
    // under a fence that no longer holds is refused without failing the others.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (store, fence) = (store.clone(), fence.clone());
        tasks.spawn(async move { store.append_event(&format!("c{n}"), &idle(), &fence, 3).await });
    }
    let stale = CommandFence { attempt: fence.attempt + 1, ..fence.clone() };
    let refused = {
        let store = store.clone();
        tokio::spawn(async move { store.append_event("stale", &idle(), &stale, 3).await })
    };
    while let Some(result) = tasks.join_next().await {
        assert!(matches!(result, Ok(Ok(_))), "{result:?}");
    }
    let refused = refused.await.expect("task");
    assert!(matches!(refused, Err(StoreError::LeaseLost(_))), "{refused:?}");
    let events = h.events(&session).await;
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=23).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), 23);
    let page = store.events_after(&session, 2, 1).await.unwrap_or_default();
    assert_eq!(page.iter().map(|e| e.sequence).collect::<Vec<_>>(), vec![3]);
}

async fn fenced_appends_are_refused_after_the_lease_is_lost(db: Database) {
    let h = Harness::demo(db).await;
    let store = h.service.store();
    let session = h.session("T1").await;
    h.submit(&session, "k", prompt("hi")).await;
    let now = 1_000_000;
    let old = claimed(store, "w1", now).await;
    assert!(store.append_event("e1", &idle(), &old.fence, now).await.is_ok());
    // While the lease lives nobody else may take the command.
    assert_eq!(claim(store, "w2", now + LEASE_MS - 1).await, None);
    let new = claimed(store, "w2", now + LEASE_MS).await;
    assert_eq!(new.fence.attempt, 2);
    let refused = store.append_event("e2", &idle(), &old.fence, now + LEASE_MS).await;
    assert!(matches!(refused, Err(StoreError::LeaseLost(_))), "{refused:?}");
    // An event it stored before is no way around the fence either.
    let refused = store.append_event("e1", &idle(), &old.fence, now + LEASE_MS).await;
    assert!(matches!(refused, Err(StoreError::LeaseLost(_))), "{refused:?}");
    assert_eq!(store.renew_lease(&old.fence, now + LEASE_MS, LEASE_MS).await.ok(), Some(false));
    let finish = store.finish_command(&old.fence, &CommandOutcome::Done, now + LEASE_MS, 5).await;
    assert!(matches!(finish, Err(StoreError::LeaseLost(_))), "{finish:?}");
    let appended = store.append_event("e2", &idle(), &new.fence, now + LEASE_MS).await.ok();
    assert_eq!(appended.map(|a| a.sequence), Some(2));
}

async fn a_command_out_of_attempts_is_failed_with_an_error_event(db: Database) {
    let h = Harness::demo(db).await;
    let store = h.service.store();
    let session = h.session("T1").await;
    let command = h.submit(&session, "k", prompt("hi")).await;
    let next = h.submit(&session, "k2", prompt("next")).await;
    let mut now = 1_000_000;
    for attempt in 1..=2 {
        let run = claim_with(store, "w", now, 2).await;
        let attempt_seen = match run {
            Some(Claim::Command(c)) => c.fence.attempt,
            other => panic!("expected a claim, got {other:?}"),
        };
        assert_eq!(attempt_seen, attempt);
        now += LEASE_MS; // the worker "crashed": its lease runs out
    }
    let gave_up = claim_with(store, "w", now, 2).await;
    assert_eq!(gave_up, Some(Claim::GaveUp { command_id: command.clone(), session_id: session.clone() }));
    let status = store.command_status(&command).await.ok().flatten();
    assert_eq!(status.map(|s| (s.state, s.attempts)), Some(("failed".into(), 2)));
    let events = h.events(&session).await;
    let expected = EventBody::RuntimeError { command_id: Some(command.to_string()), message: GAVE_UP_MESSAGE.into() };
    assert_eq!(events.last().map(|e| &e.body), Some(&expected));
    // The session moves on to its next command.
    let following = claimed(store, "w", now).await;
    assert_eq!(following.fence.command_id, next);
}

/// A fenced write for [`fenced_batch`]: retitles the session, then fails if `fail`.
struct Retitle {
    fence: CommandFence,
    title: &'static str,
    fail: bool,
}

fn retitle(fence: &CommandFence, title: &'static str, fail: bool) -> Retitle {
    Retitle { fence: fence.clone(), title, fail }
}

async fn fenced_retitles(db: &Database, requests: Vec<Retitle>) -> Vec<Result<(), StoreError>> {
    crate::store::events::fenced_batch!(db, requests, |tx, request, _backend| {
        let fence = &request.fence;
        // Fenced as the batch requires: the fence is the first statement's own condition.
        let written = sqlx::query(
            "UPDATE cloud_sessions SET title = $2 WHERE session_id = $1 AND EXISTS (SELECT 1 FROM cloud_commands c \
             WHERE c.command_id = $3 AND c.state = 'running' AND c.lease_owner = $4 AND c.attempts = $5)",
        )
        .bind(fence.session_id.as_str())
        .bind(request.title)
        .bind(fence.command_id.as_str())
        .bind(&fence.owner)
        .bind(fence.attempt)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if written == 0 {
            return Err(StoreError::LeaseLost(fence.command_id.to_string()));
        }
        if request.fail {
            return Err(StoreError::NotFound("the probe failed after writing".into()));
        }
        Ok(())
    })
}

async fn title(db: &Database, session: &SessionId) -> String {
    crate::with_reader!(db, |pool| {
        sqlx::query_scalar("SELECT title FROM cloud_sessions WHERE session_id = $1")
            .bind(session.as_str())
            .fetch_one(pool)
            .await
            .expect("title")
    })
}

async fn a_fenced_batch_is_never_half_written(db: Database) {
    let h = Harness::demo(db.clone()).await;
    let session = h.session("T1").await;
    h.submit(&session, "k", prompt("hi")).await;
    let fence = claimed(h.service.store(), "w1", 1_000_000).await.fence;
    let stale = CommandFence { attempt: fence.attempt + 1, ..fence.clone() };
    // A stale fence is refused alone; the others commit.
    let answers = fenced_retitles(&db, vec![retitle(&stale, "stale", false), retitle(&fence, "first", false)]).await;
    assert!(matches!(answers[0], Err(StoreError::LeaseLost(_))), "{answers:?}");
    assert!(answers[1].is_ok(), "{answers:?}");
    assert_eq!(title(&db, &session).await, "first");
    // A request failing after it wrote fails the whole batch: nothing of it is kept.
    let answers = fenced_retitles(&db, vec![retitle(&fence, "second", false), retitle(&fence, "third", true)]).await;
    assert!(
        matches!(&answers[0], Err(StoreError::Database(sqlx::Error::Protocol(text))) if text.contains("the probe failed")),
        "{answers:?}"
    );
    assert!(matches!(answers[1], Err(StoreError::NotFound(_))), "{answers:?}");
    assert_eq!(title(&db, &session).await, "first");
}

crate::backend_tests!(
    a_fenced_batch_is_never_half_written,
    bind_is_stable_and_needs_a_provisioned_binding,
    submit_is_idempotent,
    commands_run_one_at_a_time_per_session_in_order,
    appends_are_gap_free_and_idempotent,
    fenced_appends_are_refused_after_the_lease_is_lost,
    a_command_out_of_attempts_is_failed_with_an_error_event,
);
