//! The session event stream (`GET /api/channels/sessions/{id}/events`): the log after the
//! client's cursor (`?after=` or `Last-Event-ID`), then live events as they are appended, each
//! as `id: <sequence>` / `event: <type>` / `data: <event record>`. A cursor the log cannot serve
//! (behind what is retained, or ahead of the log) gets one `snapshot.required` and the stream
//! continues from the log's end. There is no lifetime cap; the stream ends at shutdown, and
//! the client resumes from its last id.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::Event;
use cowork_cloud_client::{SessionEvent, SessionId};
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Channels, PAGE};
use crate::CloudService;
use crate::admin::{ORG_ID, validate};
use crate::api::ApiError;
use crate::auth::Principal;
use crate::clock::iso8601;

/// Where a stream starts: `?after=` when it is above 0, else `Last-Event-ID`, else 0.
pub fn start_cursor(after: Option<&str>, last_event_id: Option<&str>) -> Result<i64, ApiError> {
    let parse = |field: &str, text: &str| {
        text.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| validate::invalid(format!("{field} must be a non-negative integer.")))
    };
    let after = after.map(|text| parse("after", text)).transpose()?;
    let last = last_event_id.map(|text| parse("Last-Event-ID", text)).transpose()?;
    Ok(after.filter(|n| *n > 0).or(last).unwrap_or(0))
}

/// Opens the stream of a session binding, after authorizing it (before any byte is sent).
pub async fn open(
    channels: &Channels,
    principal: &Principal,
    session_binding_id: &str,
    cursor: i64,
    poll: Duration,
    shutdown: CancellationToken,
) -> Result<impl Stream<Item = Result<Event, Infallible>> + Send + 'static, ApiError> {
    let scope = channels.gateway_scope(principal).await?;
    let binding = channels.session_binding(&scope, Some(session_binding_id)).await?;
    let service = channels.service().clone();
    let session = SessionId::new(&binding.session_id);
    // Watch before the first read, so nothing appended in between is missed.
    let wake = channels.watch_session(&session);
    let mut pending = VecDeque::from([Event::default().comment("connected")]);
    let mut cursor = cursor;
    if cursor > 0 {
        let bounds = service.store().event_bounds(session.as_str()).await?;
        let (earliest, latest) = bounds.unwrap_or((0, 0));
        if earliest > cursor + 1 || cursor > latest {
            pending.push_back(snapshot_required(&session, cursor, earliest, latest));
            cursor = latest;
        }
    }
    let state = StreamState { service, session, cursor, pending, wake, shutdown, poll };
    Ok(futures::stream::unfold(state, StreamState::next))
}

struct StreamState {
    service: CloudService,
    session: SessionId,
    cursor: i64,
    pending: VecDeque<Event>,
    wake: watch::Receiver<u64>,
    shutdown: CancellationToken,
    poll: Duration,
}

impl StreamState {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(event), self));
            }
            if self.shutdown.is_cancelled() {
                return None;
            }
            match self.service.store().events_after(&self.session, self.cursor, PAGE).await {
                Ok(events) if !events.is_empty() => {
                    for event in &events {
                        self.cursor = event.sequence;
                        // Types this version does not know are skipped but still move the cursor.
                        if let Some(frame) = frame(event) {
                            self.pending.push_back(frame);
                        }
                    }
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    // End cleanly; the client resumes from its last id.
                    tracing::warn!(%error, session = %self.session, "session stream: reading the log failed");
                    return None;
                }
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return None,
                () = tokio::time::sleep(self.poll) => {}
                changed = self.wake.changed() => {
                    // The wakers are gone (shutting down): the backstop alone remains.
                    if changed.is_err() {
                        tokio::time::sleep(self.poll).await;
                    }
                }
            }
        }
    }
}

/// The record Open Cowork streams for an event.
pub fn record(event: &SessionEvent) -> Option<Value> {
    let body = serde_json::to_value(&event.body).ok()?;
    let mut record = json!({
        "tenantId": ORG_ID,
        "sessionId": event.session_id,
        "eventId": event.event_id,
        "sequence": event.sequence,
        "type": body["type"],
        "payload": body["payload"],
        "createdAt": iso8601(event.created_at_ms),
    });
    // This cloud's addition: the trace of the turn that wrote the event, for the renderer.
    if let Some(trace) = &event.trace {
        record["traceparent"] = json!(trace.as_str());
    }
    Some(record)
}

fn frame(event: &SessionEvent) -> Option<Event> {
    let record = record(event)?;
    Some(Event::default().id(event.sequence.to_string()).event(event.body.type_name()).data(record.to_string()))
}

fn snapshot_required(session: &SessionId, after: i64, earliest: i64, latest: i64) -> Event {
    let data = json!({
        "tenantId": ORG_ID,
        "sessionId": session,
        "sequence": latest,
        "type": "snapshot.required",
        "payload": {
            "reason": "event_retention_gap",
            "afterSequence": after,
            "earliestSequence": earliest,
            "latestSequence": latest,
        },
    });
    Event::default().id(latest.to_string()).event("snapshot.required").data(data.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_comes_from_after_then_last_event_id() {
        assert_eq!(start_cursor(None, None).ok(), Some(0));
        assert_eq!(start_cursor(Some("5"), Some("9")).ok(), Some(5));
        assert_eq!(start_cursor(Some("0"), Some("9")).ok(), Some(9));
        assert_eq!(start_cursor(None, Some(" 7 ")).ok(), Some(7));
        for (after, last) in [(Some("-1"), None), (Some("x"), None), (None, Some("1.5")), (None, Some("-3"))] {
            let error = start_cursor(after, last).err().map(|e| e.status());
            assert_eq!(error, Some(axum::http::StatusCode::BAD_REQUEST), "{after:?} {last:?}");
        }
    }
}
