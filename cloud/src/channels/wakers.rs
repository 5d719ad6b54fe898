//! Per-session wake-ups for open streams: one task reads the service's feed of sessions with
//! new events and bumps a watch of just that session, so an event wakes the streams of its
//! session, not every stream of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cowork_cloud_client::SessionId;
use tokio::sync::{broadcast, watch};

use crate::CloudService;

/// The watches of sessions with open streams.
#[derive(Default)]
pub struct Wakers {
    sessions: Mutex<HashMap<SessionId, watch::Sender<u64>>>,
    dispatching: std::sync::OnceLock<()>,
}

impl std::fmt::Debug for Wakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakers").finish_non_exhaustive()
    }
}

impl Wakers {
    /// A receiver that changes whenever `session` gets events (starting the dispatch on first use).
    pub fn watch(self: &Arc<Self>, service: &CloudService, session: &SessionId) -> watch::Receiver<u64> {
        self.dispatching.get_or_init(|| {
            let feed = service.subscribe_events();
            tokio::spawn(dispatch(Arc::downgrade(self), feed));
        });
        let Ok(mut sessions) = self.sessions.lock() else {
            // A poisoned map only loses wake-ups; streams still re-read on their backstop.
            return watch::channel(0).1;
        };
        if sessions.len() >= 4096 {
            // Forget sessions whose streams all closed.
            sessions.retain(|_, sender| sender.receiver_count() > 0);
        }
        sessions.entry(session.clone()).or_insert_with(|| watch::channel(0).0).subscribe()
    }

    fn wake(&self, session: Option<&SessionId>) {
        let Ok(mut sessions) = self.sessions.lock() else { return };
        match session {
            Some(session) => {
                if let Some(sender) = sessions.get(session) {
                    sender.send_modify(|n| *n = n.wrapping_add(1));
                    if sender.receiver_count() == 0 {
                        sessions.remove(session);
                    }
                }
            }
            None => {
                sessions.retain(|_, sender| sender.receiver_count() > 0);
                for sender in sessions.values() {
                    sender.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
        }
    }
}

/// Until the wakers are dropped (or the feed closes): each session id wakes its watchers; a
/// lagged feed wakes everyone, since it may have hidden any session.
async fn dispatch(wakers: std::sync::Weak<Wakers>, mut feed: broadcast::Receiver<SessionId>) {
    loop {
        let received = feed.recv().await;
        let Some(wakers) = wakers.upgrade() else { return };
        match received {
            Ok(session) => wakers.wake(Some(&session)),
            Err(broadcast::error::RecvError::Lagged(_)) => wakers.wake(None),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
