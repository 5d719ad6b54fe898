//! Tunables of the cloud: worker concurrency, leases, attempt budget, demo pacing, polling, the
//! stall threshold.

use std::time::Duration;

/// Settings of the cloud service and its command worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudSettings {
    /// How many sessions one worker runs commands for at the same time.
    pub worker_concurrency: usize,
    /// How long a claimed command stays leased without renewal (renewed every third of it).
    pub lease: Duration,
    /// How many times a command is tried (crashes included) before it is marked failed.
    pub max_attempts: u32,
    /// The demo runtime's pause between two streamed snapshots.
    pub demo_delta_interval: Duration,
    /// How often an idle worker looks for work it was not woken for (expired leases, retries).
    pub poll_interval: Duration,
    /// How long a due command may wait for a worker before the backlog is reported as stalled
    /// (a `warn` line, `/ready` and `/diagnostics`).
    pub stall_threshold: Duration,
}

impl Default for CloudSettings {
    fn default() -> Self {
        Self {
            worker_concurrency: 4,
            lease: Duration::from_secs(30),
            max_attempts: 5,
            demo_delta_interval: Duration::from_millis(120),
            poll_interval: Duration::from_millis(500),
            stall_threshold: Duration::from_secs(60),
        }
    }
}
