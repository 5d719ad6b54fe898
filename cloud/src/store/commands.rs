//! The command queue: idempotent submits, FIFO claims (one running command per session) under
//! leases, renewal, and finishing with done, retry or failure.

use cowork_cloud_client::{CommandBody, CommandId, EventBody, IdentityId, NewCommand, SessionId, TraceParent};
use sqlx::Row;

use super::events::{EncodedEvent, append_in_tx, fenced_batch};
use super::{
    Claim, ClaimRequest, ClaimScope, ClaimedCommand, CloudStore, CommandFence, CommandOutcome, CommandStatus,
    Submitted, locked,
};
use crate::database::{Database, interrupted};
use crate::error::StoreError;
use crate::ids;

/// The oldest runnable commands: pending and due, or running under an expired lease (its worker
/// died: crash recovery). Commands of a session run one at a time in order: a command behind
/// another open command of its session waits as `queued` (see [`PROMOTE_SQL`]), so only session
/// heads and aborts (which must not wait behind the turn they stop) are ever `pending`, and a
/// claim reads the runnable rows alone, through the `(seq)` index of open rows, however many
/// sessions have work queued. `$2 = 1` restricts the claim to aborts; `$3` is the limit.
const CLAIM_SQL: &str = "SELECT c.seq, c.command_id, c.session_id, c.kind, c.payload, c.actor, c.attempts, \
     c.trace_parent \
     FROM cloud_commands c \
     WHERE c.state IN ('pending', 'running') \
     AND ((c.state = 'pending' AND c.available_at <= $1) \
          OR (c.state = 'running' AND c.lease_expires_at <= $1)) \
     AND ($2 = 0 OR c.kind = 'abort') \
     ORDER BY c.seq LIMIT $3";

/// Makes the session's next command runnable once the one before it closed: its oldest open
/// command, if that waits as `queued`, becomes `pending` and due now. Run in every transaction
/// that closes a command, after the session row is locked (submits lock it too, so a command
/// queued concurrently is either seen here or sees the closed command and starts `pending`).
/// `$1` session, `$2` now.
pub(super) const PROMOTE_SQL: &str = "UPDATE cloud_commands SET state = 'pending', available_at = $2, updated_at = $2 \
     WHERE state = 'queued' AND seq = (SELECT MIN(o.seq) FROM cloud_commands o \
     WHERE o.session_id = $1 AND o.state IN ('queued', 'pending', 'running'))";

/// Whether the session has an open command (a new non-abort command then waits as `queued`).
const HAS_OPEN_SQL: &str = "SELECT seq FROM cloud_commands \
     WHERE session_id = $1 AND state IN ('queued', 'pending', 'running') LIMIT 1";

/// The kind of an `abort` command as stored.
pub(super) const ABORT_KIND: &str = "abort";

/// What a session shows when a command is given up without a message of its own.
pub const GAVE_UP_MESSAGE: &str = "The agent could not finish this request.";

/// The stable id of the `runtime.error` event of a command, so it is appended at most once.
pub fn error_event_id(command: &CommandId) -> String {
    format!("{command}:error")
}

/// Sets a session's status inside the open transaction `$tx`.
macro_rules! set_session_status {
    ($tx:expr, $session:expr, $status:expr, $now:expr) => {
        sqlx::query("UPDATE cloud_sessions SET status = $2, updated_at = $3 WHERE session_id = $1")
            .bind($session)
            .bind($status)
            .bind($now)
            .execute(&mut *$tx)
            .await?
    };
}

/// Inside the open transaction `$tx`, after a command of `$session` closed: locks the session
/// row unless `$locked` says this transaction updated it already (an update holds the same
/// lock; SQLite's one writer needs none), then runs [`PROMOTE_SQL`].
macro_rules! promote_next {
    ($tx:expr, $backend:expr, $session:expr, $now:expr, locked: $locked:expr) => {{
        if $backend == $crate::database::Backend::Postgres && !$locked {
            sqlx::query("SELECT session_id FROM cloud_sessions WHERE session_id = $1 FOR NO KEY UPDATE")
                .bind($session)
                .fetch_optional(&mut *$tx)
                .await?;
        }
        sqlx::query(PROMOTE_SQL).bind($session).bind($now).execute(&mut *$tx).await?;
    }};
}
pub(super) use promote_next;

/// The refusal of a second resolution of one interaction.
pub const ALREADY_RESOLVED: &str = "Channel interaction was already resolved.";

impl CloudStore {
    /// Queues a command on a session. The same idempotency key answers the same command and
    /// creates nothing; the same key with another body is rejected.
    pub async fn submit(
        &self,
        session: &SessionId,
        command: &NewCommand,
        audit: Option<&super::AuditEvent>,
        now: i64,
    ) -> Result<Submitted, StoreError> {
        self.submit_with(session, command, audit, None, now).await
    }

    /// Queues the command resolving an interaction and marks the interaction used, in one
    /// transaction: of two racing resolutions exactly one queues its command, the other is
    /// rejected; nothing is left half done.
    pub async fn submit_resolving(
        &self,
        session: &SessionId,
        command: &NewCommand,
        audit: &super::AuditEvent,
        resolved: super::InteractionUse<'_>,
        now: i64,
    ) -> Result<Submitted, StoreError> {
        self.submit_with(session, command, Some(audit), Some(resolved), now).await
    }

    async fn submit_with(
        &self,
        session: &SessionId,
        command: &NewCommand,
        audit: Option<&super::AuditEvent>,
        resolved: Option<super::InteractionUse<'_>>,
        now: i64,
    ) -> Result<Submitted, StoreError> {
        let command_id = ids::command_id(session, &command.idempotency_key);
        let payload = serde_json::to_string(&command.body).map_err(|e| StoreError::Invalid(e.to_string()))?;
        // Locking the session serializes submits to it, so `seq` order is commit order and a
        // claimer can never see a later command of the session before an earlier one.
        let session_sql = locked(
            self.db.backend(),
            "SELECT session_id FROM cloud_sessions WHERE session_id = $1",
            "FOR NO KEY UPDATE",
        );
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let found: Option<String> =
                sqlx::query_scalar(&session_sql).bind(session.as_str()).fetch_optional(&mut *tx).await?;
            if found.is_none() {
                return Err(StoreError::NotFound(format!("session {session}")));
            }
            if let Some(resolved) = resolved {
                let used = sqlx::query(super::interactions::USE_SQL)
                    .bind(resolved.interaction_id)
                    .bind(resolved.identity_id)
                    .bind(command_id.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if used == 0 {
                    return Err(StoreError::Rejected(ALREADY_RESOLVED.to_owned()));
                }
            }
            // An abort is runnable at once; anything else waits behind the session's open command.
            let behind = command.body != CommandBody::Abort
                && sqlx::query_scalar::<_, i64>(HAS_OPEN_SQL)
                    .bind(session.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            let state = if behind { "queued" } else { "pending" };
            let inserted = sqlx::query(
                "INSERT INTO cloud_commands (command_id, session_id, idempotency_key, kind, \
                 payload, actor, state, attempts, available_at, created_at, updated_at, trace_parent) \
                 VALUES ($1, $2, $3, $4, $5, $6, $8, 0, $7, $7, $7, $9) \
                 ON CONFLICT (command_id) DO NOTHING",
            )
            .bind(command_id.as_str())
            .bind(session.as_str())
            .bind(&command.idempotency_key)
            .bind(command.body.kind())
            .bind(&payload)
            .bind(command.actor.as_str())
            .bind(now)
            .bind(state)
            .bind(command.trace.as_ref().map(TraceParent::as_str))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted > 0
                && let Some(event) = audit
            {
                super::audit::record_audit!(tx, event, now);
            }
            if inserted == 0 {
                let stored: String = sqlx::query_scalar("SELECT payload FROM cloud_commands WHERE command_id = $1")
                    .bind(command_id.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                let same = serde_json::from_str::<CommandBody>(&stored).is_ok_and(|body| body == command.body);
                if !same {
                    return Err(StoreError::Rejected(format!(
                        "idempotency key {} was already used for another command",
                        command.idempotency_key
                    )));
                }
            }
            tx.commit().await?;
            Ok(Submitted { command_id, created: inserted > 0 })
        })
    }

    /// Claims up to `max` of the oldest runnable commands in `scope` for `owner` until
    /// `now + lease_ms`, in one transaction; one that already used `max_attempts` (or cannot be
    /// read) is given up instead, marked failed with a `runtime.error` event. An empty answer
    /// means nothing is runnable now.
    pub async fn claim_commands(&self, request: ClaimRequest<'_>) -> Result<Vec<Claim>, StoreError> {
        let backend = self.db.backend();
        let claim_sql = locked(backend, CLAIM_SQL, "FOR UPDATE SKIP LOCKED");
        let ClaimRequest { owner, now, lease_ms, max_attempts, scope, max } = request;
        if max == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let aborts_only = i64::from(scope == ClaimScope::AbortsOnly);
            let rows = sqlx::query(&claim_sql).bind(now).bind(aborts_only).bind(limit).fetch_all(&mut *tx).await?;
            let mut claims = Vec::with_capacity(rows.len());
            for row in rows {
                let seq: i64 = row.try_get("seq")?;
                let command_id = CommandId::new(row.try_get::<String, _>("command_id")?);
                let session_id = SessionId::new(row.try_get::<String, _>("session_id")?);
                let attempts: i64 = row.try_get("attempts")?;
                let is_abort = row.try_get::<String, _>("kind")? == ABORT_KIND;
                let body = serde_json::from_str::<CommandBody>(&row.try_get::<String, _>("payload")?);
                let give_up = match &body {
                    Err(error) => Some(format!("unreadable command payload: {error}")),
                    Ok(_) if attempts >= i64::from(max_attempts) => Some(format!("gave up after {attempts} attempts")),
                    Ok(_) => None,
                };
                if let Some(error) = give_up {
                    let event = EventBody::RuntimeError {
                        command_id: Some(command_id.to_string()),
                        message: GAVE_UP_MESSAGE.to_owned(),
                    };
                    let encoded = EncodedEvent::new(&event)?;
                    sqlx::query(
                        "UPDATE cloud_commands SET state = 'failed', lease_owner = NULL, \
                         lease_expires_at = NULL, last_error = $2, updated_at = $3 WHERE seq = $1",
                    )
                    .bind(seq)
                    .bind(&error)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let event_id = error_event_id(&command_id);
                    let trace = row.try_get::<Option<String>, _>("trace_parent")?;
                    append_in_tx!(tx, backend, session_id.as_str(), &event_id, &encoded, trace.as_deref(), now)?;
                    set_session_status!(tx, session_id.as_str(), "errored", now);
                    promote_next!(tx, backend, session_id.as_str(), now, locked: true);
                    tracing::warn!(command = %command_id, %error, "command given up");
                    claims.push(Claim::GaveUp { command_id, session_id });
                    continue;
                }
                let body = body.map_err(|e| StoreError::Invalid(e.to_string()))?;
                let attempt = attempts + 1;
                let lease_expires_at = now.saturating_add(lease_ms);
                sqlx::query(
                    "UPDATE cloud_commands SET state = 'running', attempts = $2, lease_owner = $3, \
                     lease_expires_at = $4, updated_at = $5 WHERE seq = $1",
                )
                .bind(seq)
                .bind(attempt)
                .bind(owner)
                .bind(lease_expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                // An abort runs beside the turn it stops; the session's status is the turn's.
                let session_sql = if is_abort {
                    "SELECT agent, next_sequence FROM cloud_sessions WHERE session_id = $1"
                } else {
                    "UPDATE cloud_sessions SET status = 'running', updated_at = $2 WHERE session_id = $1 \
                     RETURNING agent, next_sequence"
                };
                let mut session = sqlx::query(session_sql).bind(session_id.as_str());
                if !is_abort {
                    session = session.bind(now);
                }
                let (agent, since_sequence) = match session.fetch_optional(&mut *tx).await? {
                    Some(row) => (row.try_get::<String, _>("agent")?, row.try_get::<i64, _>("next_sequence")?),
                    None => (String::new(), 1),
                };
                let actor: String = row.try_get("actor")?;
                claims.push(Claim::Command(ClaimedCommand {
                    fence: CommandFence {
                        command_id,
                        session_id,
                        owner: owner.to_owned(),
                        attempt,
                        trace: row
                            .try_get::<Option<String>, _>("trace_parent")?
                            .as_deref()
                            .and_then(TraceParent::parse),
                    },
                    agent,
                    body,
                    actor: IdentityId::new(actor),
                    lease_expires_at,
                    since_sequence,
                }));
            }
            tx.commit().await?;
            Ok(claims)
        })
    }

    /// Extends the lease to `now + lease_ms`; false when the fence no longer holds.
    pub async fn renew_lease(&self, fence: &CommandFence, now: i64, lease_ms: i64) -> Result<bool, StoreError> {
        let renewed = crate::with_writer!(&self.db, |pool| {
            sqlx::query(
                "UPDATE cloud_commands SET lease_expires_at = $5, updated_at = $6 \
                 WHERE command_id = $1 AND session_id = $2 AND state = 'running' \
                 AND lease_owner = $3 AND attempts = $4",
            )
            .bind(fence.command_id.as_str())
            .bind(fence.session_id.as_str())
            .bind(&fence.owner)
            .bind(fence.attempt)
            .bind(now.saturating_add(lease_ms))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(renewed == 1)
    }

    /// Ends a run: done, retried later (while attempts remain) or failed with a `runtime.error`
    /// event, in one transaction (shared with other runs ending meanwhile: [`finish_batch`]).
    /// Answers whether an event was appended; refuses with [`StoreError::LeaseLost`] once the
    /// fence no longer holds.
    pub async fn finish_command(
        &self,
        fence: &CommandFence,
        outcome: &CommandOutcome,
        now: i64,
        max_attempts: u32,
    ) -> Result<bool, StoreError> {
        let exhausted = fence.attempt >= i64::from(max_attempts);
        let (state, error, message, available_at) = match outcome {
            CommandOutcome::Done => ("done", None, None, now),
            CommandOutcome::Retry { error, delay_ms } if !exhausted => {
                ("pending", Some(error.as_str()), None, now.saturating_add(*delay_ms))
            }
            CommandOutcome::Retry { error, .. } => ("failed", Some(error.as_str()), Some(GAVE_UP_MESSAGE), now),
            CommandOutcome::Failed { error, message } => ("failed", Some(error.as_str()), Some(message.as_str()), now),
        };
        let encoded = message
            .map(|message| {
                EncodedEvent::new(&EventBody::RuntimeError {
                    command_id: Some(fence.command_id.to_string()),
                    message: message.to_owned(),
                })
            })
            .transpose()?;
        let session_status = match state {
            "failed" => "errored",
            _ => "idle",
        };
        let request = FinishRequest {
            fence: fence.clone(),
            state,
            error: error.map(str::to_owned),
            available_at,
            encoded,
            session_status,
            now,
        };
        let db = self.db.clone();
        self.finishes.submit(request, move |requests| finish_batch(db, requests), interrupted).await
    }

    /// The commands runnable at `now` and the oldest one's due time: pending and due, or running
    /// under an expired lease (due since it expired).
    pub async fn runnable_commands(&self, now: i64) -> Result<(u64, Option<i64>), StoreError> {
        crate::with_reader!(&self.db, |pool| {
            let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(CASE WHEN state = 'pending' THEN available_at ELSE lease_expires_at END) \
                 FROM cloud_commands WHERE state IN ('pending', 'running') \
                 AND ((state = 'pending' AND available_at <= $1) OR (state = 'running' AND lease_expires_at <= $1))",
            )
            .bind(now)
            .fetch_one(pool)
            .await?;
            Ok((u64::try_from(count).unwrap_or(0), oldest))
        })
    }

    /// The stored state of a command, or `None` when it does not exist.
    pub async fn command_status(&self, command: &CommandId) -> Result<Option<CommandStatus>, StoreError> {
        crate::with_reader!(&self.db, |pool| {
            let row = sqlx::query(
                "SELECT session_id, state, attempts, last_error, lease_expires_at \
                 FROM cloud_commands WHERE command_id = $1",
            )
            .bind(command.as_str())
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(CommandStatus {
                session_id: SessionId::new(row.try_get::<String, _>("session_id")?),
                state: row.try_get("state")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                lease_expires_at: row.try_get("lease_expires_at")?,
            }))
        })
    }
}

/// A finished run waiting for its group commit.
pub(crate) struct FinishRequest {
    fence: CommandFence,
    state: &'static str,
    error: Option<String>,
    available_at: i64,
    encoded: Option<EncodedEvent>,
    session_status: &'static str,
    now: i64,
}

/// Records each run's end in one transaction ([`fenced_batch`]): the command's state, the error
/// event of a failed run, the session's status, the session's next command. Answers whether an
/// error event was appended.
async fn finish_batch(db: Database, requests: Vec<FinishRequest>) -> Vec<Result<bool, StoreError>> {
    fenced_batch!(&db, requests, |tx, request, backend| {
        let fence = &request.fence;
        // The fence is the update's own condition: no row when the run no longer holds it.
        let kind: Option<String> = sqlx::query_scalar(
            "UPDATE cloud_commands SET state = $2, lease_owner = NULL, lease_expires_at = NULL, \
             last_error = $3, available_at = $4, updated_at = $5 WHERE command_id = $1 \
             AND session_id = $6 AND state = 'running' AND lease_owner = $7 AND attempts = $8 RETURNING kind",
        )
        .bind(fence.command_id.as_str())
        .bind(request.state)
        .bind(request.error.as_deref())
        .bind(request.available_at)
        .bind(request.now)
        .bind(fence.session_id.as_str())
        .bind(&fence.owner)
        .bind(fence.attempt)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(kind) = kind else {
            return Err(StoreError::LeaseLost(fence.command_id.to_string()));
        };
        let mut appended = false;
        if let Some(encoded) = &request.encoded {
            let event_id = error_event_id(&fence.command_id);
            let session = fence.session_id.as_str();
            let trace = fence.trace.as_ref().map(TraceParent::as_str);
            appended = append_in_tx!(tx, backend, session, &event_id, encoded, trace, request.now)?.created;
        }
        // An abort that ran beside a turn leaves the session's status to that turn.
        let turn = kind != ABORT_KIND;
        if turn {
            set_session_status!(tx, fence.session_id.as_str(), request.session_status, request.now);
        }
        if request.state != "pending" {
            promote_next!(tx, backend, fence.session_id.as_str(), request.now, locked: turn || request.encoded.is_some());
        }
        Ok::<bool, StoreError>(appended)
    })
}
