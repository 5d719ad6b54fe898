//! A burst of new sessions queued at once drains at full speed: a claim costs the same however
//! many sessions wait, and the worker keeps claiming while due commands exist instead of
//! waiting for its poll.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cowork_cloud_client::{BindThread, EventBody, NewCommand, SessionBackend};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{BINDING, prompt};
use crate::database::Database;
use crate::database::testing::TestDatabase;
use crate::runtime::{AgentRuntime, CommandContext, EventSink, RuntimeError};
use crate::{CloudService, CloudSettings, SystemClock};

/// Sessions in the burst.
const SESSIONS: usize = 3000;

/// Long enough for a slow CI machine at full speed; a worker that claims about one command per
/// poll (two a second) would need 25 minutes.
const DEADLINE: Duration = Duration::from_secs(60);

/// Ends each turn at once, so the test measures claiming rather than the runtime's writes.
struct InstantRuntime;

#[async_trait]
impl AgentRuntime for InstantRuntime {
    async fn run(&self, command: &CommandContext, sink: &EventSink) -> Result<(), RuntimeError> {
        sink.append(&format!("{}:idle", command.command_id), &EventBody::SessionIdle {}).await?;
        Ok(())
    }
}

/// Submits `per_session` prompts to each of `sessions` new sessions (16 sessions at a time, a
/// session's prompts one after another) while a worker runs with the default poll interval, and
/// waits until every command is done.
async fn burst(db: Database, sessions: usize, per_session: usize) {
    let settings = CloudSettings { worker_concurrency: 16, ..CloudSettings::default() };
    let (service, worker) = CloudService::new(db.clone(), settings, Arc::new(InstantRuntime), Arc::new(SystemClock));
    service.provision_binding(BINDING, "fake", "build").await.unwrap_or_else(|e| panic!("provision: {e}"));
    let actor = service.resolve_identity(BINDING, "U1").await.unwrap_or_else(|e| panic!("identity: {e}"));
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let started = tokio::time::Instant::now();
    let submit = |n: usize| {
        let (service, actor) = (service.clone(), actor.clone());
        async move {
            let thread = BindThread {
                channel_binding_id: BINDING.into(),
                chat_id: "C1".into(),
                thread_id: format!("T{n}"),
                agent: String::new(),
                title: "burst".into(),
            };
            let session = service.bind_thread(thread).await.unwrap_or_else(|e| panic!("bind: {e}"));
            for k in 0..per_session {
                let command = NewCommand {
                    idempotency_key: format!("k{k}"),
                    actor: actor.clone(),
                    body: prompt("hi"),
                    trace: None,
                };
                service.submit(&session, command).await.unwrap_or_else(|e| panic!("submit: {e}"));
            }
        }
    };
    futures::stream::iter(0..sessions).map(submit).buffer_unordered(16).collect::<Vec<()>>().await;
    let total = sessions * per_session;
    eprintln!("{total} commands queued in {:?}", started.elapsed());
    drained(&db, total, started).await;
    eprintln!("{total} commands done in {:?}", started.elapsed());
    shutdown.cancel();
    let _ = running.await;
}

/// The burst of new conversations: thousands of sessions with one prompt each.
async fn a_burst_of_new_sessions_drains_within_a_deadline(db: Database) {
    burst(db, SESSIONS, 1).await;
}

/// Prompts queued behind a running one, submitted while it finishes: each becomes runnable as
/// the one before it ends, and none is left waiting.
async fn prompts_queued_behind_running_ones_all_run(db: Database) {
    burst(db, 200, 4).await;
}

/// Waits until `total` commands are done, failing after [`DEADLINE`] from `started`.
async fn drained(db: &Database, total: usize, started: tokio::time::Instant) {
    loop {
        let done = done_commands(db).await;
        if done == total {
            return;
        }
        assert!(started.elapsed() < DEADLINE, "only {done} of {total} commands done after {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn done_commands(db: &Database) -> usize {
    let done = crate::with_reader!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM cloud_commands WHERE state = 'done'").fetch_one(pool).await
    });
    done.map_or(0, |n| usize::try_from(n).unwrap_or(0))
}

crate::backend_tests!(prompts_queued_behind_running_ones_all_run);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_burst_of_new_sessions_drains_within_a_deadline() {
    let test_db = TestDatabase::sqlite().await;
    a_burst_of_new_sessions_drains_within_a_deadline(test_db.db.clone()).await;
}

/// Postgres plans a claim on the statistics it has, and a prepared statement keeps a generic
/// plan made when the table was nearly empty: a burst then meets a plan made for a handful of
/// rows. Sequential scans only (what it picks for a table it believes tiny) hold the claim to
/// that worst case: it must still cost little per command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_burst_of_new_sessions_drains_within_a_deadline() {
    let tiny_table_plans = [("enable_indexscan", "off"), ("enable_indexonlyscan", "off"), ("enable_bitmapscan", "off")];
    let Some(test_db) = TestDatabase::postgres_with(&tiny_table_plans).await else {
        return;
    };
    a_burst_of_new_sessions_drains_within_a_deadline(test_db.db.clone()).await;
}
