//! Following a session's event stream while it has work: one stream per running session,
//! reconnecting with full-jitter backoff (250 ms to 30 s) and resuming from the last event id,
//! so a dropped connection or a cloud restart loses nothing. Each event wakes the subscriber,
//! which reads the log from its own durable cursor: the stream carries timing, the log the
//! truth, so nothing is applied twice either.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{CloudClient, CloudError};
use crate::SessionId;
use crate::backoff::RetryPolicy;

/// How long a stream stays open after its session went idle with nothing new.
const SETTLED_QUIET: Duration = Duration::from_secs(30);

/// How long a stream stays open with no event at all (keep-alives do not count).
const IDLE_QUIET: Duration = Duration::from_secs(300);

/// The event types after which a session has nothing running.
const SETTLING: [&str; 3] = ["session.idle", "session.aborted", "runtime.error"];

/// One parsed server-sent event.
#[derive(Debug, PartialEq)]
pub struct Frame {
    /// The `id` field, if any.
    pub id: Option<String>,
    /// The `event` field (`message` when absent).
    pub event: String,
    /// The `data` lines joined by line breaks.
    pub data: String,
}

/// Splits a byte stream into server-sent events (comments and empty blocks are dropped).
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
}

impl SseParser {
    /// The events completed by `chunk`.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Frame> {
        self.buffer.extend(chunk.iter().filter(|b| **b != b'\r'));
        let mut frames = Vec::new();
        while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block);
            let mut frame = Frame { id: None, event: "message".to_owned(), data: String::new() };
            for line in text.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => frame.id = Some(value.to_owned()),
                    "event" => frame.event = value.to_owned(),
                    "data" => {
                        if !frame.data.is_empty() {
                            frame.data.push('\n');
                        }
                        frame.data.push_str(value);
                    }
                    _ => {}
                }
            }
            if !frame.data.is_empty() {
                frames.push(frame);
            }
        }
        frames
    }

    /// Bytes held for an unfinished event.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }
}

/// The sessions being followed.
pub(crate) struct Followers {
    client: CloudClient,
    feed: broadcast::Sender<SessionId>,
    active: Mutex<HashSet<SessionId>>,
    shutdown: CancellationToken,
}

/// The most an unfinished event may hold before the stream is dropped and resumed.
const MAX_PENDING: usize = 8 * 1024 * 1024;

impl Followers {
    pub(crate) fn new(client: CloudClient, feed: broadcast::Sender<SessionId>, shutdown: CancellationToken) -> Self {
        Self { client, feed, active: Mutex::default(), shutdown }
    }

    /// Follows `session` from `after`, unless it is followed already.
    pub(crate) fn follow(self: &Arc<Self>, session: &SessionId, after: i64) {
        let Ok(mut active) = self.active.lock() else { return };
        if !active.insert(session.clone()) {
            return;
        }
        drop(active);
        let followers = self.clone();
        let session = session.clone();
        tokio::spawn(async move {
            followers.run(&session, after).await;
            if let Ok(mut active) = followers.active.lock() {
                active.remove(&session);
            }
        });
    }

    async fn run(&self, session: &SessionId, mut cursor: i64) {
        let path = format!("/api/channels/sessions/{}/events", session.as_str());
        let policy = RetryPolicy::reconnect();
        let mut failures = 0u32;
        loop {
            match self.client.open_stream(&path, Some(cursor)).await {
                Ok(response) => {
                    failures = 0;
                    match self.read(session, response, &mut cursor).await {
                        Ending::Settled | Ending::Shutdown => return,
                        Ending::Dropped => {}
                    }
                }
                Err(error @ (CloudError::NotFound(_) | CloudError::Forbidden { .. } | CloudError::Unauthorized(_))) => {
                    tracing::warn!(session = %session, %error, "session stream refused; following it stops");
                    return;
                }
                Err(error) => tracing::debug!(session = %session, %error, "session stream failed; reconnecting"),
            }
            failures = failures.saturating_add(1);
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                () = tokio::time::sleep(policy.full_jitter(failures)) => {}
            }
        }
    }

    async fn read(&self, session: &SessionId, mut response: reqwest::Response, cursor: &mut i64) -> Ending {
        let mut parser = SseParser::default();
        let mut settled = false;
        // Keep-alive comments keep the connection open, not the session followed.
        let mut last_event = tokio::time::Instant::now();
        loop {
            let quiet = if settled { SETTLED_QUIET } else { IDLE_QUIET };
            let deadline = last_event + quiet;
            let chunk = tokio::select! {
                () = self.shutdown.cancelled() => return Ending::Shutdown,
                () = tokio::time::sleep_until(deadline) => return Ending::Settled,
                chunk = response.chunk() => chunk,
            };
            let Ok(Some(chunk)) = chunk else { return Ending::Dropped };
            let frames = parser.push(&chunk);
            if parser.pending() > MAX_PENDING {
                return Ending::Dropped;
            }
            for frame in frames {
                last_event = tokio::time::Instant::now();
                if let Some(sequence) = frame.id.as_deref().and_then(|id| id.parse::<i64>().ok()) {
                    *cursor = (*cursor).max(sequence);
                }
                settled = SETTLING.contains(&frame.event.as_str());
                // No receiver just means no renderer runs yet; the log keeps the events.
                let _ = self.feed.send(session.clone());
            }
        }
    }
}

/// Why reading one connection ended.
enum Ending {
    /// The session went quiet: stop following it.
    Settled,
    /// The process is shutting down.
    Shutdown,
    /// The connection ended or broke: reconnect.
    Dropped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_comments_are_skipped() {
        let mut parser = SseParser::default();
        assert!(parser.push(b": connected\n\nid: 1\nevent: assistant.mes").is_empty());
        let frames = parser.push(b"sage\ndata: {\"a\":\r\ndata: 1}\n\n: keep-alive\n\nid: 2\ndata: x\n\n");
        assert_eq!(
            frames,
            [
                Frame { id: Some("1".into()), event: "assistant.message".into(), data: "{\"a\":\n1}".into() },
                Frame { id: Some("2".into()), event: "message".into(), data: "x".into() },
            ]
        );
        assert_eq!(parser.pending(), 0);
        // A multi-byte character cut between chunks survives.
        let text = "data: é\n\n".as_bytes();
        assert!(parser.push(&text[..7]).is_empty());
        assert_eq!(parser.push(&text[7..])[0].data, "é");
    }
}
