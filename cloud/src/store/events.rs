//! The per-session event log: fenced, idempotent, gap-free appends and ordered reads.

use cowork_cloud_client::{EventBody, SessionEvent, SessionId, TraceParent};
use serde_json::Value;
use sqlx::Row;

use super::{Appended, CloudStore, CommandFence};
use crate::database::{Database, interrupted};
use crate::error::StoreError;

/// An event as stored: its type and its payload JSON, in separate columns.
pub(crate) struct EncodedEvent {
    kind: String,
    payload: String,
}

impl EncodedEvent {
    /// Splits an event into type and payload (`EventBody` is adjacently tagged).
    pub(crate) fn new(body: &EventBody) -> Result<Self, StoreError> {
        if matches!(body, EventBody::Other) {
            return Err(StoreError::Invalid("an unknown event type cannot be appended".into()));
        }
        let value = serde_json::to_value(body).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let kind = value.get("type").and_then(Value::as_str).unwrap_or(body.type_name()).to_owned();
        let payload = value.get("payload").cloned().unwrap_or_else(|| Value::Object(Default::default()));
        Ok(Self { kind, payload: payload.to_string() })
    }

    /// The `type` column.
    pub(crate) fn kind_str(&self) -> &str {
        &self.kind
    }

    /// The `payload` column.
    pub(crate) fn payload_str(&self) -> &str {
        &self.payload
    }
}

/// Rebuilds an event from its columns. A payload this build cannot read decodes as
/// [`EventBody::Other`], so one bad row never stalls a reader of the log.
fn decode_event(kind: &str, payload: &str) -> EventBody {
    let payload: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    let body = EventBody::from_parts(kind, payload);
    if body == EventBody::Other {
        tracing::warn!(event_type = kind, "stored event does not decode; skipped by renderers");
    }
    body
}

/// Appends an event (continuing the trace `$trace`) inside the open transaction `$tx` (either
/// engine): the session's counter allocates the next sequence (the update locks the session
/// row, so concurrent appends to one session serialize and sequences stay gap-free), and the
/// insert stores the event unless its `event_id` is already in the session, in which case the
/// sequence is given back and the stored one answered. Two statements on the usual path.
/// Evaluates to `Result<Appended, StoreError>`.
macro_rules! append_in_tx {
    ($tx:expr, $session:expr, $event_id:expr, $encoded:expr, $trace:expr, $now:expr) => {
        async {
            let session: &str = $session;
            let event_id: &str = $event_id;
            let encoded: &$crate::store::events::EncodedEvent = $encoded;
            let trace: Option<&str> = $trace;
            let now: i64 = $now;
            let next: Option<i64> = sqlx::query_scalar(
                "UPDATE cloud_sessions SET next_sequence = next_sequence + 1, updated_at = $2 \
                 WHERE session_id = $1 RETURNING next_sequence - 1",
            )
            .bind(session)
            .bind(now)
            .fetch_optional(&mut *$tx)
            .await?;
            let Some(next) = next else {
                return Err($crate::error::StoreError::NotFound(format!("session {session}")));
            };
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO cloud_session_events \
                 (session_id, sequence, event_id, type, payload, created_at, trace_parent) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (session_id, event_id) DO NOTHING RETURNING sequence",
            )
            .bind(session)
            .bind(next)
            .bind(event_id)
            .bind(encoded.kind_str())
            .bind(encoded.payload_str())
            .bind(now)
            .bind(trace)
            .fetch_optional(&mut *$tx)
            .await?;
            if let Some(sequence) = inserted {
                return Ok($crate::store::Appended { sequence, created: true });
            }
            // Appended before (a re-run after a crash): give the sequence back, answer the stored one.
            sqlx::query("UPDATE cloud_sessions SET next_sequence = $2 WHERE session_id = $1")
                .bind(session)
                .bind(next)
                .execute(&mut *$tx)
                .await?;
            let sequence: i64 =
                sqlx::query_scalar("SELECT sequence FROM cloud_session_events WHERE session_id = $1 AND event_id = $2")
                    .bind(session)
                    .bind(event_id)
                    .fetch_one(&mut *$tx)
                    .await?;
            Ok::<_, $crate::error::StoreError>($crate::store::Appended { sequence, created: false })
        }
        .await
    };
}
pub(crate) use append_in_tx;

/// The fence check: the command is still `running` under this owner and attempt. Postgres
/// share-locks the row so a re-claim (an update) waits until this transaction ends.
/// Inside the open transaction `$tx`, returns `StoreError::LeaseLost` from the enclosing
/// function unless the fenced command still runs under that owner and attempt (`$sql` is
/// [`FENCE_SQL`] with the engine's row lock).
macro_rules! require_fence {
    ($tx:expr, $sql:expr, $fence:expr) => {
        let fence: &$crate::store::CommandFence = $fence;
        let held: Option<i64> = sqlx::query_scalar($sql)
            .bind(fence.command_id.as_str())
            .bind(fence.session_id.as_str())
            .bind(&fence.owner)
            .bind(fence.attempt)
            .fetch_optional(&mut *$tx)
            .await?;
        if held.is_none() {
            return Err($crate::error::StoreError::LeaseLost(fence.command_id.to_string()));
        }
    };
}
pub(crate) use require_fence;

pub(crate) const FENCE_SQL: &str = "SELECT attempts FROM cloud_commands \
     WHERE command_id = $1 AND session_id = $2 AND state = 'running' \
     AND lease_owner = $3 AND attempts = $4";

/// One append waiting for its group commit.
pub(crate) struct AppendRequest {
    event_id: String,
    encoded: EncodedEvent,
    fence: CommandFence,
    now: i64,
}

/// Runs `$body` for each of `$requests` (each with a `fence`) in one transaction, each under its
/// own fence (checked with the row lock `$lock`): the group commit of fenced writes. A request
/// whose fence no longer holds is refused alone, before it writes anything, and the others
/// still commit; any other error fails the whole batch, so no request is ever half written (the
/// request at fault gets its error, the others a retryable one). `$body` sees the transaction
/// as `$tx`, the request as `$request` and the engine as `$backend`, and evaluates to
/// `Result<T, StoreError>`; the whole evaluates to the answers, in request order.
macro_rules! fenced_batch {
    ($db:expr, $requests:expr, $lock:expr, |$tx:ident, $request:ident, $backend:ident| $body:expr) => {{
        use $crate::error::StoreError;
        let db: &$crate::database::Database = $db;
        let count = $requests.len();
        let $backend = db.backend();
        let fence_sql = $crate::store::locked($backend, $crate::store::events::FENCE_SQL, $lock);
        let written = async {
            $crate::with_writer!(db, |pool| {
                let mut $tx = pool.begin().await.map_err(|error| (0, StoreError::from(error)))?;
                let mut outcomes = Vec::with_capacity(count);
                for (index, $request) in $requests.iter().enumerate() {
                    let fenced = async {
                        $crate::store::events::require_fence!($tx, &fence_sql, &$request.fence);
                        Ok::<(), StoreError>(())
                    }
                    .await;
                    let outcome = match fenced {
                        Err(StoreError::LeaseLost(command)) => Err(StoreError::LeaseLost(command)),
                        Err(error) => return Err((index, error)),
                        Ok(()) => Ok(async { $body }.await.map_err(|error| (index, error))?),
                    };
                    outcomes.push(outcome);
                }
                $tx.commit().await.map_err(|error| (0, StoreError::from(error)))?;
                Ok(outcomes)
            })
        }
        .await;
        written.unwrap_or_else(|(at, error)| $crate::database::fail_all(error, at, count))
    }};
}
pub(crate) use fenced_batch;

/// Appends a batch in one transaction ([`fenced_batch`]).
async fn append_batch(db: Database, requests: Vec<AppendRequest>) -> Vec<Result<Appended, StoreError>> {
    fenced_batch!(&db, requests, "FOR SHARE", |tx, request, _backend| {
        let trace = request.fence.trace.as_ref().map(TraceParent::as_str);
        let session = request.fence.session_id.as_str();
        append_in_tx!(tx, session, &request.event_id, &request.encoded, trace, request.now)
    })
}

impl CloudStore {
    /// Appends an event under a command's lease; concurrent appends share one transaction
    /// ([`GroupCommit`]), and each returns once committed. Refuses with
    /// [`StoreError::LeaseLost`] once the fence no longer holds; an `event_id` already in the
    /// session appends nothing and answers the stored sequence.
    pub async fn append_event(
        &self,
        event_id: &str,
        body: &EventBody,
        fence: &CommandFence,
        now: i64,
    ) -> Result<Appended, StoreError> {
        let request = AppendRequest {
            event_id: event_id.to_owned(),
            encoded: EncodedEvent::new(body)?,
            fence: fence.clone(),
            now,
        };
        let db = self.db.clone();
        self.appends.submit(request, move |requests| append_batch(db, requests), interrupted).await
    }

    /// Events of a session with a sequence above `after`, oldest first, at most `limit`.
    pub async fn events_after(
        &self,
        session: &SessionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SessionEvent>, StoreError> {
        let rows = crate::with_reader!(&self.db, |pool| {
            let rows = sqlx::query(
                "SELECT sequence, event_id, type, payload, created_at, trace_parent FROM cloud_session_events \
                 WHERE session_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
            )
            .bind(session.as_str())
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            let mut events = Vec::with_capacity(rows.len());
            for row in rows {
                let kind: String = row.try_get("type")?;
                let payload: String = row.try_get("payload")?;
                events.push(SessionEvent {
                    session_id: session.clone(),
                    sequence: row.try_get("sequence")?,
                    event_id: row.try_get("event_id")?,
                    created_at_ms: row.try_get("created_at")?,
                    trace: row.try_get::<Option<String>, _>("trace_parent")?.as_deref().and_then(TraceParent::parse),
                    body: decode_event(&kind, &payload),
                });
            }
            events
        });
        Ok(rows)
    }

    /// The first and last sequence of a session's log, `None` while it is empty.
    pub async fn event_bounds(&self, session_id: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let bounds: (Option<i64>, Option<i64>) = crate::with_reader!(&self.db, |pool| {
            sqlx::query_as("SELECT MIN(sequence), MAX(sequence) FROM cloud_session_events WHERE session_id = $1")
                .bind(session_id)
                .fetch_one(pool)
                .await?
        });
        Ok(bounds.0.zip(bounds.1))
    }

    /// Sessions changed (an event appended, a status set) at or after `since`, unix ms, with
    /// the sequence their next event will get.
    pub async fn sessions_changed_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let changed = crate::with_reader!(&self.db, |pool| {
            sqlx::query_as("SELECT session_id, next_sequence FROM cloud_sessions WHERE updated_at >= $1")
                .bind(since)
                .fetch_all(pool)
                .await?
        });
        Ok(changed)
    }
}
