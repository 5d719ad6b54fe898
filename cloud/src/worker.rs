//! The command worker: claims runnable commands (one per session at a time, several sessions in
//! parallel), runs them on the agent runtime while renewing their leases, and records how each
//! run ended.
//!
//! Aborts do not wait: they are claimed even when every run slot is taken, and run beside the
//! turn they stop. A turn stops when its cancellation trips, either at once through the
//! registry of local turns, or at its next lease renewal when a `session.aborted` event appeared
//! since it was claimed (the abort ran in another process). A runtime that does not wind down
//! within [`STOP_GRACE`] is dropped and its turn ended with `session.idle`.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use cowork_cloud_client::{CommandBody, EventBody};

use crate::abort;
use crate::clock::duration_ms;
use crate::error::StoreError;
use crate::runtime::{AgentRuntime, CommandContext, EventSink, RuntimeError};
use crate::service::Shared;
use crate::store::{Claim, ClaimRequest, ClaimScope, ClaimedCommand, CommandFence, CommandOutcome};
use crate::telemetry::{Span, SpanKind};

/// The longest pause before retrying a transiently failed command.
const MAX_RETRY_DELAY_MS: i64 = 60_000;

/// Most aborts claimed in one transaction.
const ABORT_BATCH: usize = 16;

/// How long a stopped turn may take to record its last snapshot before it is dropped.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs queued commands; get one from [`CloudService::new`](crate::CloudService::new).
pub struct CommandWorker {
    shared: Arc<Shared>,
    runtime: Arc<dyn AgentRuntime>,
    owner: String,
}

impl CommandWorker {
    pub(crate) fn new(shared: Arc<Shared>, runtime: Arc<dyn AgentRuntime>) -> Self {
        let owner = format!("worker-{}", uuid::Uuid::new_v4().simple());
        Self { shared, runtime, owner }
    }

    /// The lease owner name of this worker.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs commands until `shutdown` is cancelled: wakes on every submit and otherwise polls
    /// (for expired leases and due retries). After cancellation it claims nothing more and
    /// waits for the commands in flight; dropping this future instead cuts them, and each cut
    /// command stays `running` until its lease expires and a worker re-runs it.
    pub async fn run(self, shutdown: CancellationToken) {
        let limit = self.shared.settings.worker_concurrency.max(1);
        let mut tasks = JoinSet::new();
        tracing::info!(owner = %self.owner, concurrency = limit, "command worker started");
        loop {
            while let Some(result) = tasks.try_join_next() {
                report(result);
            }
            if shutdown.is_cancelled() {
                break;
            }
            self.claim_into(&mut tasks, limit).await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep(self.shared.settings.poll_interval) => {}
                Some(result) = tasks.join_next(), if !tasks.is_empty() => report(result),
            }
        }
        tracing::info!(in_flight = tasks.len(), "command worker stopping");
        while let Some(result) = tasks.join_next().await {
            report(result);
        }
    }

    /// Claims commands into `tasks` while it has fewer than `limit` runs, then every runnable
    /// abort however many runs it has; a failed claim is logged and left to the next round.
    async fn claim_into(&self, tasks: &mut JoinSet<()>, limit: usize) {
        for scope in [ClaimScope::Any, ClaimScope::AbortsOnly] {
            if let Err(error) = self.fill(tasks, scope, limit).await {
                tracing::warn!(%error, "claiming commands failed; will poll again");
                return;
            }
        }
    }

    /// Claims in `scope` and spawns the runs into `tasks` until a claim comes back short (for
    /// [`ClaimScope::Any`], or `tasks` holds `limit` runs); answers how many it started. Only a
    /// short claim ends it, so due work is never left waiting for the poll.
    async fn fill(&self, tasks: &mut JoinSet<()>, scope: ClaimScope, limit: usize) -> Result<usize, StoreError> {
        let mut runs = 0;
        loop {
            let room = match scope {
                ClaimScope::Any => limit.saturating_sub(tasks.len()),
                ClaimScope::AbortsOnly => ABORT_BATCH,
            };
            if room == 0 {
                return Ok(runs);
            }
            let claims = self.claim(scope, room).await?;
            let full = claims.len() == room;
            for claimed in self.started(claims) {
                tasks.spawn(execute(self.shared.clone(), self.runtime.clone(), claimed));
                runs += 1;
            }
            if !full {
                return Ok(runs);
            }
        }
    }

    /// Runs every command that is runnable now (including those that become runnable as earlier
    /// ones finish) and returns how many runs it made; commands waiting for a retry later or
    /// held by a live lease elsewhere are left alone.
    pub async fn run_until_idle(&self) -> Result<usize, StoreError> {
        let limit = self.shared.settings.worker_concurrency.max(1);
        let mut tasks = JoinSet::new();
        let mut runs = 0;
        loop {
            match self.fill(&mut tasks, ClaimScope::Any, limit).await {
                Ok(started) => runs += started,
                Err(error) => {
                    // Let the runs in flight finish before reporting the failure.
                    while let Some(result) = tasks.join_next().await {
                        report(result);
                    }
                    return Err(error);
                }
            }
            match tasks.join_next().await {
                Some(result) => report(result),
                None => return Ok(runs),
            }
        }
    }

    /// Claims up to `max` runnable commands in `scope` (given-up ones included in the count).
    async fn claim(&self, scope: ClaimScope, max: usize) -> Result<Vec<Claim>, StoreError> {
        let settings = &self.shared.settings;
        let request = ClaimRequest {
            owner: &self.owner,
            now: self.shared.clock.now_ms(),
            lease_ms: duration_ms(settings.lease),
            max_attempts: settings.max_attempts,
            scope,
            max,
        };
        self.shared.store.claim_commands(request).await
    }

    /// The commands to run among `claims`; the sessions of given-up ones are told of their new
    /// event.
    fn started(&self, claims: Vec<Claim>) -> Vec<ClaimedCommand> {
        claims
            .into_iter()
            .filter_map(|claim| match claim {
                Claim::Command(claimed) => Some(claimed),
                Claim::GaveUp { session_id, .. } => {
                    let _ = self.shared.events.send(session_id);
                    None
                }
            })
            .collect()
    }
}

/// Logs a run task that panicked or was aborted (a run's own errors are handled inside it).
fn report(result: Result<(), JoinError>) {
    if let Err(error) = result {
        tracing::error!(%error, "command run task ended abnormally");
    }
}

/// Runs one claimed command to its end, renewing the lease meanwhile, and records the outcome.
async fn execute(shared: Arc<Shared>, runtime: Arc<dyn AgentRuntime>, claimed: ClaimedCommand) {
    let command_span = Span::start("session command", SpanKind::Consumer, claimed.fence.trace.as_ref());
    command_span.set("cowork.command.id", claimed.fence.command_id.to_string());
    command_span.set("cowork.command.kind", claimed.body.kind());
    command_span.set("cowork.command.attempt", claimed.fence.attempt);
    let turn_span =
        (claimed.body != CommandBody::Abort).then(|| command_span.child("runtime turn", SpanKind::Internal));
    let mut fence = claimed.fence.clone();
    // The command's events continue the run's trace, so what renders them joins it.
    fence.trace = turn_span.as_ref().unwrap_or(&command_span).trace_parent().or(fence.trace);
    let context = CommandContext::from_claim(&claimed);
    let sink = EventSink::new(shared.store.clone(), fence.clone(), shared.clock.clone(), shared.events.clone());
    let result = if claimed.body == CommandBody::Abort {
        match with_lease(&shared, &context, &fence, None, abort::run(&shared, runtime.as_ref(), &context, &sink)).await
        {
            Driven::Finished(result) => result,
            Driven::Dropped => Ok(()),
        }
    } else {
        let _registration = shared.running.register(&context);
        // A re-run after a crash, or a turn claimed just as an abort was recorded, stops at once.
        check_abort(&shared, &context, claimed.since_sequence).await;
        let run = runtime.run(&context, &sink);
        match with_lease(&shared, &context, &fence, Some(claimed.since_sequence), run).await {
            Driven::Finished(result) => result,
            // The runtime did not wind down: end its turn for it, under the id runtimes use.
            Driven::Dropped => {
                sink.append(&format!("{}:idle", fence.command_id), &EventBody::SessionIdle {}).await.map(drop)
            }
        }
    };
    let outcome = match result {
        Ok(()) => CommandOutcome::Done,
        Err(RuntimeError::LeaseLost) => {
            tracing::info!(command = %fence.command_id, "lease lost; another attempt owns the command");
            return;
        }
        Err(RuntimeError::Failed { message, detail }) => CommandOutcome::Failed { error: detail, message },
        Err(error @ (RuntimeError::Transient(_) | RuntimeError::Store(_))) => {
            CommandOutcome::Retry { error: error.to_string(), delay_ms: retry_delay_ms(fence.attempt) }
        }
    };
    // Only the outcome's kind: runtime errors can quote upstream bodies.
    match &outcome {
        CommandOutcome::Done => {}
        CommandOutcome::Failed { .. } => turn_span.as_ref().unwrap_or(&command_span).fail("the run failed"),
        CommandOutcome::Retry { .. } => turn_span.as_ref().unwrap_or(&command_span).fail("the run will be retried"),
    }
    drop(turn_span);
    let now = shared.clock.now_ms();
    let max_attempts = shared.settings.max_attempts;
    match shared.store.finish_command(&fence, &outcome, now, max_attempts).await {
        Ok(appended) => {
            if appended {
                let _ = shared.events.send(fence.session_id.clone());
            }
        }
        Err(StoreError::LeaseLost(_)) => {
            tracing::info!(command = %fence.command_id, "lease lost before the run was recorded");
        }
        Err(error) => {
            // The lease will expire and the command re-run; stable event ids keep that safe.
            tracing::warn!(command = %fence.command_id, %error, "could not record the run");
        }
    }
}

/// How a driven run ended.
enum Driven {
    /// The run returned (a lost lease included).
    Finished(Result<(), RuntimeError>),
    /// The run was stopped and did not end within [`STOP_GRACE`]; it was dropped.
    Dropped,
}

/// Drives `run` while renewing the lease of `fence`. For a turn (`since_sequence` given) each
/// renewal also looks for an abort recorded elsewhere, and a tripped cancellation gives the run
/// [`STOP_GRACE`] before it is dropped.
async fn with_lease(
    shared: &Shared,
    context: &CommandContext,
    fence: &CommandFence,
    since_sequence: Option<i64>,
    run: impl Future<Output = Result<(), RuntimeError>>,
) -> Driven {
    let lease_ms = duration_ms(shared.settings.lease);
    let renew_every = (shared.settings.lease / 3).max(Duration::from_millis(10));
    let mut renewals = tokio::time::interval_at(Instant::now() + renew_every, renew_every);
    let grace = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(run, grace);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = &mut run => return Driven::Finished(result),
            () = context.cancel.cancelled(), if !stopping && since_sequence.is_some() => {
                stopping = true;
                grace.as_mut().reset(Instant::now() + STOP_GRACE);
            }
            () = &mut grace, if stopping => {
                tracing::warn!(command = %context.command_id, "a stopped turn did not end in time; dropped");
                return Driven::Dropped;
            }
            _ = renewals.tick() => {
                let now = shared.clock.now_ms();
                match shared.store.renew_lease(fence, now, lease_ms).await {
                    Ok(true) => {}
                    Ok(false) => return Driven::Finished(Err(RuntimeError::LeaseLost)),
                    // The lease may still be valid; the fence keeps a stale run from writing.
                    Err(error) => tracing::warn!(command = %context.command_id, %error, "lease renewal failed"),
                }
                if let Some(since) = since_sequence {
                    check_abort(shared, context, since).await;
                }
            }
        }
    }
}

/// Trips the turn's cancellation when an abort was recorded since it was claimed.
async fn check_abort(shared: &Shared, context: &CommandContext, since_sequence: i64) {
    if context.cancel.is_cancelled() {
        return;
    }
    match shared.store.abort_requested(&context.session_id, since_sequence).await {
        Ok(true) => {
            tracing::info!(command = %context.command_id, "an abort was recorded; stopping the turn");
            context.cancel.cancel();
        }
        Ok(false) => {}
        Err(error) => tracing::warn!(command = %context.command_id, %error, "could not check for an abort"),
    }
}

/// One second doubling per attempt, capped at a minute.
fn retry_delay_ms(attempt: i64) -> i64 {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    1_000_i64.saturating_mul(1_i64 << exponent).min(MAX_RETRY_DELAY_MS)
}
