//! The loop every queue worker shares: run a round; when idle, sleep until woken, until the next
//! row is due, or until the fallback poll, whichever comes first; stop on shutdown. A round
//! always finishes the rows it claimed, so shutdown never abandons half-done work.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What a round found.
pub(crate) enum Round {
    /// It did work; run another round at once.
    Busy,
    /// Nothing to do; the next row is due in this long (if known).
    Idle(Option<Duration>),
}

/// Runs `round` until `shutdown` is cancelled.
pub(crate) async fn run_rounds<F, Fut>(shutdown: CancellationToken, wake: Arc<Notify>, poll: Duration, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Round>,
{
    while !shutdown.is_cancelled() {
        match round().await {
            Round::Busy => tokio::task::yield_now().await,
            Round::Idle(next) => {
                let wait = next.map_or(poll, |due| due.min(poll));
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        }
    }
}

/// The wait until `due` (unix ms) from `now`, for [`Round::Idle`].
pub(crate) fn until(due: Option<i64>, now: i64) -> Option<Duration> {
    due.map(|due| Duration::from_millis(due.saturating_sub(now).max(0) as u64))
}
