//! The renderer: follows each session's event log from its durable cursor and turns events into
//! outbox rows. Cursor advance and outbox inserts are one transaction, so a crash can neither
//! lose nor duplicate a rendering. It wakes on the backend's new-event feed and re-reads every
//! cursor at start and periodically, so nothing depends on in-memory state surviving a restart.

mod plan;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cowork_cloud::telemetry::{Span, SpanKind};
use cowork_cloud_client::{EventBody, SessionId, TraceParent};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

pub use plan::{PlanContext, assistant_key, plan, tool_key};

use crate::services::Services;
use crate::store::{NewOutbound, RenderCursor, StoreError};

/// Events read per batch.
const BATCH: u32 = 200;
/// How often every cursor is re-checked even without a wake-up.
const SWEEP: Duration = Duration::from_secs(15);

/// Why rendering a session stopped early.
#[derive(Debug, thiserror::Error)]
enum RenderError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("sessions: {0}")]
    Backend(#[from] cowork_cloud_client::BackendError),
}

/// Renders session events into the outbox.
pub struct Renderer {
    services: Arc<Services>,
}

impl Renderer {
    /// A renderer over the shared services.
    pub fn new(services: Arc<Services>) -> Self {
        Self { services }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut feed = self.services.backend.subscribe();
        let mut dirty: BTreeSet<SessionId> = BTreeSet::new();
        let mut sweep = tokio::time::interval(SWEEP);
        let taken = self.services.ownership.taken();
        loop {
            if dirty.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = sweep.tick() => self.mark_all(&mut dirty).await,
                    // Sessions of a binding taken over may have events its last owner left.
                    () = taken.notified() => self.mark_all(&mut dirty).await,
                    received = feed.recv() => match received {
                        Ok(session) => { dirty.insert(session); }
                        Err(RecvError::Lagged(_)) => self.mark_all(&mut dirty).await,
                        Err(RecvError::Closed) => return,
                    },
                }
            }
            // Collect whatever else is already waiting, then render each session once.
            while let Ok(session) = feed.try_recv() {
                dirty.insert(session);
            }
            while let Some(session) = dirty.pop_first() {
                if let Err(error) = self.render_session(&session).await {
                    tracing::warn!(session = %session, error = %error, "rendering paused; will retry");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(self.services.settings.poll_interval) => {}
                    }
                    dirty.insert(session);
                    break;
                }
            }
        }
    }

    async fn mark_all(&self, dirty: &mut BTreeSet<SessionId>) {
        match self.services.store.list_cursors().await {
            Ok(cursors) => dirty.extend(cursors.into_iter().map(|c| c.session_id)),
            Err(error) => tracing::warn!(error = %error, "could not list render cursors"),
        }
    }

    async fn render_session(&self, session: &SessionId) -> Result<(), RenderError> {
        let s = &self.services;
        let Some(mut cursor) = s.store.cursor(session).await? else { return Ok(()) };
        let Some(provider) = s.providers.get(&cursor.provider_id) else { return Ok(()) };
        // Another replica renders the sessions of bindings this one does not hold.
        let Some(epoch) = s.ownership.epoch(cursor.binding_id.as_str()) else { return Ok(()) };
        loop {
            let events = s.backend.events_after(session, cursor.last_sequence, BATCH).await?;
            if events.is_empty() {
                return Ok(());
            }
            let known_keys = self.known_keys(&cursor, &events).await?;
            let ctx = PlanContext {
                cursor: &cursor,
                capabilities: provider.provider.capabilities(),
                known_keys: &known_keys,
                now: s.clock.now_ms(),
                interaction_ttl_ms: s.settings.interaction_ttl.as_millis() as i64,
                epoch: Some(epoch),
            };
            let mut commit = plan(&ctx, &events);
            // Ended once the commit is written (or not): its rows carry their span's context.
            let spans = render_spans(&mut commit.outbound, session);
            // The plan may hold the last event back (see `plan`): the next event brings it.
            let last_sequence = commit.new_sequence;
            if last_sequence == cursor.last_sequence {
                return Ok(());
            }
            let has_output = !commit.outbound.is_empty();
            let committed = match s.store.commit_render(commit, s.clock.now_ms()).await {
                Ok(committed) => committed,
                // The binding moved on meanwhile (the store reported it): its new owner renders.
                Err(StoreError::Fenced(_)) => return Ok(()),
                Err(error) => {
                    spans.iter().for_each(|span| span.fail("the render could not be written"));
                    return Err(error.into());
                }
            };
            drop(spans);
            if committed {
                cursor.last_sequence = last_sequence;
                if has_output {
                    s.wake.outbox.notify_one();
                }
            } else {
                // Someone else advanced the cursor; start again from where it is now.
                let Some(current) = s.store.cursor(session).await? else { return Ok(()) };
                cursor = current;
            }
        }
    }

    async fn known_keys(
        &self,
        cursor: &RenderCursor,
        events: &[cowork_cloud_client::SessionEvent],
    ) -> Result<HashSet<String>, StoreError> {
        let mut known = HashSet::new();
        let keys: BTreeSet<String> = events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::AssistantMessage { message_id, .. } => Some(assistant_key(cursor, message_id)),
                EventBody::ToolCall { id, .. } => Some(tool_key(cursor, id)),
                _ => None,
            })
            .collect();
        for key in keys {
            if self.services.store.message_ref(&cursor.binding_id, &key).await?.is_some() {
                known.insert(key);
            }
        }
        Ok(known)
    }
}

/// One `render` span per trace among `rows` (a batch can hold the turns of several messages),
/// each row then continuing its trace's span.
fn render_spans(rows: &mut [NewOutbound], session: &SessionId) -> Vec<Span> {
    let mut spans: Vec<(TraceParent, Span)> = Vec::new();
    for row in rows.iter_mut() {
        let Some(parent) = row.trace.take() else { continue };
        let index = match spans.iter().position(|(trace, _)| *trace == parent) {
            Some(index) => index,
            None => {
                let span = Span::start("render", SpanKind::Internal, Some(&parent));
                span.set("cowork.session.id", session.to_string());
                spans.push((parent, span));
                spans.len() - 1
            }
        };
        row.trace = spans[index].1.trace_parent();
    }
    spans.into_iter().map(|(_, span)| span).collect()
}
