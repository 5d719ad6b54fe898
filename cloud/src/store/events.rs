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

/// The append: the event takes its session's next sequence, unless its `event_id` is already in
/// the session (`$1` session, `$2` event id, `$3` type, `$4` payload, `$5` now, `$6` trace).
/// Migration 0017's trigger moves the session's counter past each inserted event in the same
/// statement, so sequences stay gap-free and an event already stored takes nothing. `$fence`
/// adds the command's fence (`$7` command, `$8` owner, `$9` attempt): no row when the command no
/// longer runs under that owner and attempt. Postgres locks the session row (concurrent appends
/// to one session serialize) and share-locks the command row (a re-claim waits for this
/// transaction).
macro_rules! append_sql {
    ($fence:expr, $session_lock:literal) => {
        concat!(
            "INSERT INTO cloud_session_events ",
            "(session_id, sequence, event_id, type, payload, created_at, trace_parent) ",
            "SELECT s.session_id, s.next_sequence, $2, $3, $4, $5, $6 FROM cloud_sessions s ",
            "WHERE s.session_id = $1",
            $fence,
            $session_lock,
            " ON CONFLICT (session_id, event_id) DO NOTHING RETURNING sequence"
        )
    };
}

/// The fence condition of [`append_sql`].
macro_rules! append_fence {
    ($lock:literal) => {
        concat!(
            " AND EXISTS (SELECT 1 FROM cloud_commands c WHERE c.command_id = $7 AND c.session_id = $1 ",
            "AND c.state = 'running' AND c.lease_owner = $8 AND c.attempts = $9",
            $lock,
            ")"
        )
    };
}

/// The append statement for `backend`, with the command's fence or without.
pub(crate) fn append_sql(backend: crate::database::Backend, fenced: bool) -> &'static str {
    use crate::database::Backend;
    match (backend, fenced) {
        (Backend::Sqlite, false) => append_sql!("", ""),
        (Backend::Sqlite, true) => append_sql!(append_fence!(""), ""),
        (Backend::Postgres, false) => append_sql!("", " FOR NO KEY UPDATE OF s"),
        (Backend::Postgres, true) => append_sql!(append_fence!(" FOR SHARE OF c"), " FOR NO KEY UPDATE OF s"),
    }
}

/// Appends an event (continuing the trace `$trace`) inside the open transaction `$tx` of engine
/// `$backend`: one statement ([`append_sql`]) on the usual path. An `event_id` already in the
/// session (a re-run after a crash) appends nothing and answers the stored sequence. With
/// `fenced by $fence` the append also checks the command's fence and answers
/// [`StoreError::LeaseLost`](crate::error::StoreError::LeaseLost) having written nothing when it
/// no longer holds. Evaluates to `Result<Appended, StoreError>`.
macro_rules! append_in_tx {
    ($tx:expr, $backend:expr, $session:expr, $event_id:expr, $encoded:expr, $trace:expr, $now:expr) => {
        $crate::store::events::append_in_tx!(@append $tx, $backend, $session, $event_id, $encoded, $trace, $now, None)
    };
    ($tx:expr, $backend:expr, $session:expr, $event_id:expr, $encoded:expr, $trace:expr, $now:expr, fenced by $fence:expr) => {
        $crate::store::events::append_in_tx!(@append $tx, $backend, $session, $event_id, $encoded, $trace, $now, Some($fence))
    };
    (@append $tx:expr, $backend:expr, $session:expr, $event_id:expr, $encoded:expr, $trace:expr, $now:expr, $fence:expr) => {
        async {
            let backend: $crate::database::Backend = $backend;
            let session: &str = $session;
            let event_id: &str = $event_id;
            let encoded: &$crate::store::events::EncodedEvent = $encoded;
            let fence: Option<&$crate::store::CommandFence> = $fence;
            let insert = sqlx::query_scalar($crate::store::events::append_sql(backend, fence.is_some()))
                .bind(session)
                .bind(event_id)
                .bind(encoded.kind_str())
                .bind(encoded.payload_str())
                .bind($now)
                .bind($trace);
            let insert = match fence {
                Some(fence) => insert.bind(fence.command_id.as_str()).bind(&fence.owner).bind(fence.attempt),
                None => insert,
            };
            let inserted: Option<i64> = insert.fetch_optional(&mut *$tx).await?;
            if let Some(sequence) = inserted {
                return Ok($crate::store::Appended { sequence, created: true });
            }
            // Nothing inserted: a stale fence, an event stored before, or no such session.
            if let Some(fence) = fence {
                let fence_sql = $crate::store::locked(backend, $crate::store::events::FENCE_SQL, "FOR SHARE");
                $crate::store::events::require_fence!($tx, &fence_sql, fence);
            }
            let stored: Option<i64> =
                sqlx::query_scalar("SELECT sequence FROM cloud_session_events WHERE session_id = $1 AND event_id = $2")
                    .bind(session)
                    .bind(event_id)
                    .fetch_optional(&mut *$tx)
                    .await?;
            match stored {
                Some(sequence) => Ok($crate::store::Appended { sequence, created: false }),
                None => Err($crate::error::StoreError::NotFound(format!("session {session}"))),
            }
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

/// Runs `$body` for each of `$requests` in one transaction, each under its own command fence:
/// the group commit of fenced writes. `$body` checks its request's fence in its first
/// statement (a fenced update, so the check costs no statement of its own) and answers
/// [`StoreError::LeaseLost`] having written nothing when it no longer holds: that request is
/// refused alone and the others still commit. Any other error fails the whole batch, so no
/// request is ever half written (the request at fault gets its error, the others a retryable
/// one). `$body` sees the transaction as `$tx`, the request as `$request` and the engine as
/// `$backend`, and evaluates to `Result<T, StoreError>`; the whole evaluates to the answers, in
/// request order.
macro_rules! fenced_batch {
    ($db:expr, $requests:expr, |$tx:ident, $request:ident, $backend:ident| $body:expr) => {{
        use $crate::error::StoreError;
        let db: &$crate::database::Database = $db;
        let count = $requests.len();
        let $backend = db.backend();
        let written = async {
            $crate::with_writer!(db, |pool| {
                let mut $tx = pool.begin().await.map_err(|error| (0, StoreError::from(error)))?;
                let mut outcomes = Vec::with_capacity(count);
                for (index, $request) in $requests.iter().enumerate() {
                    let outcome = match async { $body }.await {
                        Ok(answer) => Ok(answer),
                        Err(StoreError::LeaseLost(command)) => Err(StoreError::LeaseLost(command)),
                        Err(error) => return Err((index, error)),
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
    fenced_batch!(&db, requests, |tx, request, backend| {
        let fence = &request.fence;
        let trace = fence.trace.as_ref().map(TraceParent::as_str);
        let session = fence.session_id.as_str();
        append_in_tx!(tx, backend, session, &request.event_id, &request.encoded, trace, request.now, fenced by fence)
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
