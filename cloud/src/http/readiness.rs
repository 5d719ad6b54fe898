//! Background workers: the count of those running, for readiness (a process whose workers
//! stopped is alive but not ready), and draining them at shutdown within a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;

/// How many of the expected background workers are running.
#[derive(Debug)]
pub struct Readiness {
    expected: usize,
    running: AtomicUsize,
}

impl Readiness {
    /// Expects `expected` workers.
    pub fn new(expected: usize) -> Self {
        Self { expected, running: AtomicUsize::new(0) }
    }

    /// A worker started.
    pub fn worker_started(&self) {
        self.running.fetch_add(1, Ordering::SeqCst);
    }

    /// A worker stopped.
    pub fn worker_stopped(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }

    /// True when every expected worker runs.
    pub fn workers_running(&self) -> bool {
        self.running.load(Ordering::SeqCst) >= self.expected
    }

    /// How many run, out of how many expected.
    pub fn counts(&self) -> (usize, usize) {
        (self.running.load(Ordering::SeqCst), self.expected)
    }

    /// `worker` wrapped so it counts as running from its start to its end.
    pub fn track(
        self: &Arc<Self>,
        name: &'static str,
        worker: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let readiness = self.clone();
        async move {
            readiness.worker_started();
            tracing::debug!(worker = name, "worker started");
            worker.await;
            readiness.worker_stopped();
            tracing::debug!(worker = name, "worker stopped");
        }
    }
}

/// Waits up to `deadline` for `workers` to finish, then drops (aborts) the rest: whatever still
/// runs holds a lease that expires, and a worker redoes it.
pub async fn drain_workers(mut workers: JoinSet<()>, deadline: Duration) {
    let all_done = async { while workers.join_next().await.is_some() {} };
    if tokio::time::timeout(deadline, all_done).await.is_err() {
        tracing::warn!(timeout_ms = deadline.as_millis() as u64, "drain timeout reached; stopping remaining work");
    }
}
