//! Prunes finished inbox and outbox rows after the retention period
//! (`OPEN_COWORK_GATEWAY_RETENTION_DAYS`, default 7; never shorter than every platform's
//! redelivery window, so dedupe keeps working). Replicas sharing a database take turns: the one
//! holding the job's lease prunes, so the same rows are not deleted by several at once.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::services::Services;

/// How often to prune.
const EVERY: Duration = Duration::from_secs(3600);

/// The job's name in the lease table.
const JOB: &str = "retention";

/// How long one turn holds the job: past the next tick, so the holder keeps it while it lives.
const HOLD_MS: i64 = 2 * 3_600_000;

/// The periodic pruning job.
pub struct RetentionJob {
    services: Arc<Services>,
}

impl RetentionJob {
    /// A job over the shared services.
    pub fn new(services: Arc<Services>) -> Self {
        Self { services }
    }

    /// Prunes now and then every hour until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => self.prune_once().await,
            }
        }
    }

    async fn prune_once(&self) {
        let s = &self.services;
        match s.store.hold_job(JOB, s.ownership.instance_id(), HOLD_MS).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(error = %error, "could not take the retention job; will retry");
                return;
            }
        }
        let before = s.clock.now_ms() - s.settings.retention.as_millis() as i64;
        match s.store.prune_finished(before).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "pruned finished inbox and outbox rows"),
            Err(error) => tracing::warn!(error = %error, "pruning failed; will retry"),
        }
        if let Err(error) = s.store.prune_replay_keys(s.clock.now_ms()).await {
            tracing::warn!(error = %error, "pruning replay keys failed; will retry");
        }
    }
}
