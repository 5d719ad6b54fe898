//! The lane-queue machinery the inbox and the outbox share: head-of-lane claims under a lease,
//! outcomes recorded only by the lease holder, the next due time, and per-lane insert locks.
//!
//! A lane's head is its lowest id still open. Heads are marked by their state: a head is
//! `pending`, `claimed` or `failed`, and every later open row of its lane waits as `queued`. Only
//! a head is ever claimed, and only when it is due and not under a live lease, so a later row
//! never overtakes an earlier one that is leased or waiting to retry. A claim reads heads alone,
//! in id order, so its cost does not grow with the rows queued behind them or with the number of
//! lanes, whatever plan the database picks. Whoever closes a head (sent, done or dead) makes the
//! next row of its lane the head in the same transaction ([`QueueSql::promote_next`]). The inbox
//! is staged: accepted rows wait as `new` until a claim moves them into their lanes (see
//! [`INBOX`]).
//!
//! Postgres claims with `FOR UPDATE SKIP LOCKED`; SQLite has one writer connection, so the same
//! statement without the locking clause is already serialized. On Postgres, inserts take a
//! transaction-scoped advisory lock per lane first: ids are allocated at insert time but become
//! visible at commit, and without the lock a later id of a lane could commit (and be claimed)
//! before an earlier one. Closing a head takes the same lock before it promotes the next row, so
//! a row inserted meanwhile is either seen by the promotion or sees the closed head and starts as
//! the head itself. The inbox's move of `new` rows into their lanes takes one exclusive lock for
//! the inbox, and inbox closes take it shared, for the same reason.

use cowork_cloud::database::{Backend, Database};
use cowork_cloud::with_writer;
use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::{Millis, StoreError, WorkerId};

/// The statements of one queue table.
pub(super) struct QueueSql {
    /// The table name (for logs).
    pub table: &'static str,
    /// Claims due lane heads: `$1` now, `$2` owner, `$3` lease expiry, `$4` limit.
    pub claim_sqlite: &'static str,
    /// The same with `FOR UPDATE SKIP LOCKED`.
    pub claim_postgres: &'static str,
    /// Records an outcome while the owner holds the claim and, on a fenced store, the row's
    /// binding at its epoch (see [`Outcome`] for the binds, `$8` the held set); returns the lane.
    pub record_sqlite: &'static str,
    /// The same, share-locking the ownership row.
    pub record_postgres: &'static str,
    /// The binding of row `$1` when it is not in the held set `$2` (why a fenced record
    /// changed nothing).
    pub unfenced_sqlite: &'static str,
    /// The same on Postgres.
    pub unfenced_postgres: &'static str,
    /// Marks one row dead regardless of its lease: `$1` reason, `$2` now, `$3` id; returns the
    /// lane.
    pub dead_letter: &'static str,
    /// The earliest time a lane head becomes claimable (NULL when nothing is open).
    pub next_due: &'static str,
    /// Moves rows accepted since the last claim into their lanes (see [`INBOX`]); run first in
    /// every claim transaction.
    pub promote: Option<&'static str>,
    /// Makes the oldest open row of lane `$1` its head if it is queued (after a head closed).
    pub promote_next: &'static str,
    /// Queues every head of lane `$1` behind its oldest open row, or every one while a row of the
    /// lane is claimed (after a closed row reopened).
    pub demote_behind: &'static str,
    /// What a transaction that changes a lane's head locks first on Postgres.
    pub close_lock: CloseLock,
}

/// The Postgres lock that orders a change of a lane's head with the inserts into that lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CloseLock {
    /// The lane's advisory lock, the one its inserts take (the outbox).
    Lane,
    /// The inbox's lock, shared (its moves of `new` rows take it exclusively).
    InboxShared,
}

/// The advisory lock of one lane (its key from [`lane_lock_key`]).
pub(super) const LANE_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
/// The two-key advisory lock of the inbox's moves of `new` rows (two-key locks do not collide
/// with the one-key lane locks).
const INBOX_MOVE_LOCK: &str = "SELECT pg_advisory_xact_lock(7201, 1)";
/// The same lock, shared.
pub(super) const INBOX_MOVE_LOCK_SHARED: &str = "SELECT pg_advisory_xact_lock_shared(7201, 1)";
/// Whether any row waits to be moved into its lane.
const ANY_NEW: &str = "SELECT id FROM gw_inbox WHERE state = 'new' LIMIT 1";

/// The rows still in their lane: the head and those queued behind it.
macro_rules! open {
    ($alias:literal) => {
        concat!($alias, ".state IN ('queued', 'pending', 'claimed', 'failed')")
    };
}

/// The rows that head their lane.
macro_rules! head {
    ($alias:literal) => {
        concat!($alias, ".state IN ('pending', 'claimed', 'failed')")
    };
}

/// When a row becomes claimable: its retry time, or its lease expiry while claimed.
macro_rules! ready_at {
    () => {
        "(CASE WHEN q.state = 'claimed' THEN q.lease_expires_at ELSE q.next_attempt_at END)"
    };
}

/// The lowest open id of lane `$1`.
#[rustfmt::skip]
macro_rules! lane_min {
    ($table:literal) => {
        concat!("(SELECT MIN(o.id) FROM ", $table, " o WHERE o.lane = $1 AND ", open!("o"), ")")
    };
}

/// Claims due, unleased lane heads of held bindings (`$5`, see `fence.rs`), oldest first.
#[rustfmt::skip]
macro_rules! claim_sql {
    ($table:literal, $columns:literal, $lock:literal, $engine:tt) => {
        concat!(
            "UPDATE ", $table, " SET state = 'claimed', lease_owner = $2, lease_expires_at = $3, updated_at = $1",
            " WHERE id IN (SELECT q.id FROM ", $table, " q WHERE ", head!("q"), " AND ", ready_at!(), " <= $1",
            " AND ", $crate::store::fence::fenced!($engine, "q.binding_id", "$5"),
            " ORDER BY q.id LIMIT $4", $lock, ")",
            " RETURNING ", $columns
        )
    };
}

/// Records an outcome while the claim is held and the binding is held at its epoch (`$8`).
#[rustfmt::skip]
macro_rules! record_sql {
    ($table:literal, $engine:tt) => {
        concat!(
            "UPDATE ", $table, " SET state = $1, attempts = attempts + $2,",
            " next_attempt_at = COALESCE($3, next_attempt_at), last_error = COALESCE($4, last_error),",
            " lease_owner = NULL, lease_expires_at = NULL, updated_at = $5",
            " WHERE id = $6 AND state = 'claimed' AND lease_owner = $7",
            " AND ", $crate::store::fence::fenced!($engine, "binding_id", "$8"),
            " RETURNING lane"
        )
    };
}

/// The binding of row `$1` if it is not held at its epoch in the held set `$2`.
#[rustfmt::skip]
macro_rules! unfenced_sql {
    ($table:literal, $engine:tt) => {
        concat!(
            "SELECT binding_id FROM ", $table, " WHERE id = $1",
            " AND NOT ", $crate::store::fence::fenced!($engine, "binding_id", "$2")
        )
    };
}

/// Builds the [`QueueSql`] of a table; `$columns` is what a claim returns. With `staged`, rows
/// are inserted as `new`, outside every lane, and moved into their lanes by the next claim.
#[rustfmt::skip]
macro_rules! queue_sql {
    ($table:literal, $columns:literal, $close_lock:expr) => {
        queue_sql!(@build $table, $columns, concat!("SELECT MIN", ready_at!(), " FROM ", $table, " q WHERE ", head!("q")), None, $close_lock)
    };
    ($table:literal, $columns:literal, $close_lock:expr, staged) => {
        queue_sql!(
            @build $table, $columns,
            concat!(
                "SELECT MIN(due) FROM (SELECT MIN", ready_at!(), " AS due FROM ", $table, " q WHERE ", head!("q"),
                " UNION ALL SELECT MIN(next_attempt_at) AS due FROM ", $table, " WHERE state = 'new') d"
            ),
            // Oldest first and at most 4,096 per claim, so a backlog left by paused workers never
            // holds the writer for long. In each lane the first moved row heads it unless an
            // earlier row is open there (`o.id < p.id` keeps the answer the same whatever order
            // the engine updates rows in); the rest queue behind it. `state = 'new'` is checked
            // again on the row itself, so a row moved by a concurrent claimer is left alone.
            Some(concat!(
                "WITH picked AS (SELECT id, lane FROM ", $table, " WHERE state = 'new' ORDER BY id LIMIT 4096),",
                " ranked AS (SELECT id, lane, ROW_NUMBER() OVER (PARTITION BY lane ORDER BY id) AS n FROM picked)",
                " UPDATE ", $table, " SET state = CASE WHEN p.n > 1 OR EXISTS (SELECT 1 FROM ", $table, " o",
                " WHERE o.lane = p.lane AND o.id < p.id AND ", open!("o"), ") THEN 'queued' ELSE 'pending' END",
                " FROM ranked p WHERE ", $table, ".id = p.id AND ", $table, ".state = 'new'"
            )),
            $close_lock
        )
    };
    (@build $table:literal, $columns:literal, $next_due:expr, $promote:expr, $close_lock:expr) => {
        QueueSql {
            table: $table,
            claim_sqlite: claim_sql!($table, $columns, "", sqlite),
            claim_postgres: claim_sql!($table, $columns, " FOR UPDATE OF q SKIP LOCKED", postgres),
            record_sqlite: record_sql!($table, sqlite),
            record_postgres: record_sql!($table, postgres),
            unfenced_sqlite: unfenced_sql!($table, sqlite),
            unfenced_postgres: unfenced_sql!($table, postgres),
            dead_letter: concat!(
                "UPDATE ", $table, " SET state = 'dead', last_error = $1, lease_owner = NULL,",
                " lease_expires_at = NULL, updated_at = $2 WHERE id = $3 RETURNING lane"
            ),
            next_due: $next_due,
            promote: $promote,
            promote_next: concat!(
                "UPDATE ", $table, " SET state = 'pending' WHERE state = 'queued' AND id = ", lane_min!($table),
                " AND NOT EXISTS (SELECT 1 FROM ", $table, " c WHERE c.lane = $1 AND c.state = 'claimed')"
            ),
            // A row in flight keeps the lane: a reopened older row waits until it is settled.
            demote_behind: concat!(
                "UPDATE ", $table, " SET state = 'queued' WHERE lane = $1 AND state IN ('pending', 'failed')",
                " AND (id > ", lane_min!($table),
                " OR EXISTS (SELECT 1 FROM ", $table, " c WHERE c.lane = $1 AND c.state = 'claimed'))"
            ),
            close_lock: $close_lock,
        }
    };
}

/// A claimed inbox row: `id, binding_id, provider_id, payload, attempts, trace_parent`.
pub(super) type InboxRow = (i64, String, String, String, i64, Option<String>);

/// The inbox statements; claims return an [`InboxRow`].
///
/// Staged: acceptance inserts rows as `new`, outside the per-lane index, and the next claim
/// promotes every `new` row at once. A burst of accepted events then costs the ack path only
/// appends (the table and the `new` index grow at their right edge), and the lane index takes
/// the whole batch in one transaction, touching each lane's leaf once instead of once per event.
/// Order holds: rows are promoted oldest first, so within a lane a `new` row is always later
/// than every promoted one (ids grow, and on Postgres a lane's inserts commit in id order under
/// its advisory lock).
pub(super) const INBOX: QueueSql = queue_sql!(
    "gw_inbox",
    "id, binding_id, provider_id, payload, attempts, trace_parent",
    CloseLock::InboxShared,
    staged
);

/// A claimed outbox row, in the column order [`OUTBOX`] returns.
pub(super) type OutboxRow =
    (i64, String, String, String, String, Option<String>, Option<String>, String, i64, Option<String>);

/// The outbox statements; claims return an [`OutboxRow`].
pub(super) const OUTBOX: QueueSql = queue_sql!(
    "gw_outbox",
    "id, dedupe_key, binding_id, provider_id, chat_id, thread_id, message_key, operation, attempts, trace_parent",
    CloseLock::Lane
);

/// Who claims, when, for how long, and how many.
#[derive(Clone, Copy, Debug)]
pub(super) struct ClaimRequest<'a> {
    /// The lease owner.
    pub owner: &'a WorkerId,
    /// The current time.
    pub now: Millis,
    /// The lease length.
    pub lease_ms: i64,
    /// At most this many rows.
    pub max: usize,
    /// The held set of a fenced store (`None`: every binding).
    pub fence: Option<&'a str>,
}

/// A new state for a claimed row.
#[derive(Clone, Debug)]
pub(super) struct Outcome {
    /// The new state.
    pub state: &'static str,
    /// Added to `attempts` (1 for a spent attempt, 0 otherwise).
    pub attempts: i64,
    /// The new `next_attempt_at`, if it changes.
    pub next_attempt_at: Option<Millis>,
    /// The new `last_error`, if it changes.
    pub last_error: Option<String>,
}

impl Outcome {
    /// Whether the row leaves its lane (delivered, done or dead).
    pub(super) fn closes(&self) -> bool {
        matches!(self.state, "done" | "sent" | "dead")
    }
}

/// Inside the open transaction `$tx`, after the head of `$lane` in `$sql`'s table closed: takes
/// the table's [`CloseLock`] on Postgres, then makes the next open row of the lane its head.
macro_rules! close_head {
    ($tx:expr, $backend:expr, $sql:expr, $lane:expr) => {{
        let lane: &str = $lane;
        $crate::store::queue::lock_for_close!($tx, $backend, $sql, lane);
        sqlx::query($sql.promote_next).bind(lane).execute(&mut *$tx).await?;
    }};
}
pub(super) use close_head;

/// Inside the open transaction `$tx`, after closed rows of `$lane` reopened: takes the table's
/// [`CloseLock`] on Postgres, queues the lane's heads behind its oldest open row and makes that
/// row the head (a reopened row rejoins its lane ahead of later rows still open there).
macro_rules! reopen_lane {
    ($tx:expr, $backend:expr, $sql:expr, $lane:expr) => {{
        let lane: &str = $lane;
        $crate::store::queue::lock_for_close!($tx, $backend, $sql, lane);
        sqlx::query($sql.demote_behind).bind(lane).execute(&mut *$tx).await?;
        sqlx::query($sql.promote_next).bind(lane).execute(&mut *$tx).await?;
    }};
}
pub(super) use reopen_lane;

/// Takes the [`CloseLock`] of `$sql` for `$lane` inside `$tx` (Postgres only).
macro_rules! lock_for_close {
    ($tx:expr, $backend:expr, $sql:expr, $lane:expr) => {
        if $backend == cowork_cloud::database::Backend::Postgres {
            match $sql.close_lock {
                $crate::store::queue::CloseLock::Lane => {
                    sqlx::query($crate::store::queue::LANE_LOCK)
                        .bind($crate::store::queue::lane_lock_key($lane))
                        .execute(&mut *$tx)
                        .await?;
                }
                $crate::store::queue::CloseLock::InboxShared => {
                    sqlx::query($crate::store::queue::INBOX_MOVE_LOCK_SHARED).execute(&mut *$tx).await?;
                }
            }
        }
    };
}
pub(super) use lock_for_close;

/// What recording an outcome did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Recorded {
    /// The row changed.
    Changed,
    /// The claim was no longer held: nothing changed.
    ClaimLost,
    /// The row's binding (named) is no longer held at the epoch this replica knows: nothing
    /// changed.
    Fenced(String),
}

/// Inside the open transaction `$tx`: applies `$outcome` to row `$id` of `$sql`'s table while
/// `$owner` holds its claim (and, with a held set `$fence`, the row's binding at its epoch),
/// handing the lane to its next row when the outcome closes the row; evaluates to a [`Recorded`].
macro_rules! record_in_tx {
    ($tx:expr, $backend:expr, $sql:expr, $id:expr, $owner:expr, $outcome:expr, $now:expr, $fence:expr) => {{
        let outcome: &$crate::store::queue::Outcome = $outcome;
        let fence: Option<&str> = $fence;
        let (record, unfenced) = match $backend {
            cowork_cloud::database::Backend::Sqlite => ($sql.record_sqlite, $sql.unfenced_sqlite),
            cowork_cloud::database::Backend::Postgres => ($sql.record_postgres, $sql.unfenced_postgres),
        };
        let lane: Option<String> = sqlx::query_scalar(record)
            .bind(outcome.state)
            .bind(outcome.attempts)
            .bind(outcome.next_attempt_at)
            .bind(outcome.last_error.as_deref())
            .bind($now)
            .bind($id)
            .bind($owner.0.as_str())
            .bind(fence)
            .fetch_optional(&mut *$tx)
            .await?;
        if let (Some(lane), true) = (&lane, outcome.closes()) {
            $crate::store::queue::close_head!($tx, $backend, $sql, lane);
        }
        match (lane, fence) {
            (Some(_), _) => $crate::store::queue::Recorded::Changed,
            (None, None) => $crate::store::queue::Recorded::ClaimLost,
            // Rare: tell a binding that moved from a claim lost within this replica.
            (None, Some(held)) => {
                let binding: Option<String> =
                    sqlx::query_scalar(unfenced).bind($id).bind(held).fetch_optional(&mut *$tx).await?;
                binding.map_or($crate::store::queue::Recorded::ClaimLost, $crate::store::queue::Recorded::Fenced)
            }
        }
    }};
}
pub(super) use record_in_tx;

/// Claims due lane heads, oldest first. A row that `decode` rejects is dead-lettered in the
/// same transaction and skipped, so one undecodable row never blocks the queue.
pub(super) async fn claim<T, I>(
    db: &Database,
    sql: &QueueSql,
    request: ClaimRequest<'_>,
    decode: fn(T) -> (i64, Result<I, String>),
) -> Result<Vec<I>, StoreError>
where
    T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
{
    if request.max == 0 {
        return Ok(Vec::new());
    }
    let claim_sql = match db.backend() {
        Backend::Sqlite => sql.claim_sqlite,
        Backend::Postgres => sql.claim_postgres,
    };
    let limit = i64::try_from(request.max).unwrap_or(i64::MAX);
    let expires = request.now.saturating_add(request.lease_ms);
    let backend = db.backend();
    let mut items = with_writer!(db, |pool| {
        let mut tx = pool.begin().await?;
        if let Some(promote) = sql.promote {
            let waiting = sqlx::query_scalar::<_, i64>(ANY_NEW).fetch_optional(&mut *tx).await?.is_some();
            if waiting {
                if backend == Backend::Postgres {
                    sqlx::query(INBOX_MOVE_LOCK).execute(&mut *tx).await?;
                }
                sqlx::query(promote).execute(&mut *tx).await?;
            }
        }
        let rows = sqlx::query_as::<_, T>(claim_sql)
            .bind(request.now)
            .bind(request.owner.0.as_str())
            .bind(expires)
            .bind(limit)
            .bind(request.fence)
            .fetch_all(&mut *tx)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            match decode(row) {
                (id, Ok(item)) => items.push((id, item)),
                (id, Err(error)) => {
                    tracing::warn!(table = sql.table, id, %error, "dead-lettered an undecodable queue row");
                    let lane: String = sqlx::query_scalar(sql.dead_letter)
                        .bind(format!("undecodable row: {error}"))
                        .bind(request.now)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    close_head!(tx, backend, sql, &lane);
                }
            }
        }
        tx.commit().await?;
        items
    });
    items.sort_by_key(|(id, _)| *id);
    Ok(items.into_iter().map(|(_, item)| item).collect())
}

/// Applies each request's outcome to its row while its owner holds the claim (and the binding
/// is in its held set, if any), all in one transaction: a group commit, where a database error
/// fails every request. An outcome that closes a row makes the next row of its lane the head.
pub(super) async fn record_batch(db: Database, requests: Vec<RecordRequest>) -> Vec<Result<Recorded, StoreError>> {
    let count = requests.len();
    let backend = db.backend();
    let written: Result<Vec<Recorded>, StoreError> = async {
        let recorded = with_writer!(&db, |pool| {
            let mut tx = pool.begin().await?;
            let mut recorded = Vec::with_capacity(count);
            for r in &requests {
                recorded.push(record_in_tx!(tx, backend, r.sql, r.id, &r.owner, &r.outcome, r.now, r.fence.as_deref()));
            }
            tx.commit().await?;
            recorded
        });
        Ok(recorded)
    }
    .await;
    cowork_cloud::database::all_or_none(written, count)
}

/// One outcome waiting for its group commit.
pub(super) struct RecordRequest {
    /// The queue's statements.
    pub sql: &'static QueueSql,
    /// The claimed row.
    pub id: i64,
    /// Who claimed it.
    pub owner: WorkerId,
    /// What to record.
    pub outcome: Outcome,
    /// Now.
    pub now: Millis,
    /// The held bindings (fenced stores).
    pub fence: Option<String>,
}

/// The earliest time a lane head of the table becomes claimable; `None` when nothing is open.
pub(super) async fn next_due(db: &Database, sql: &QueueSql) -> Result<Option<Millis>, StoreError> {
    let due = cowork_cloud::with_reader!(db, |pool| {
        sqlx::query_scalar::<_, Option<i64>>(sql.next_due).fetch_one(pool).await?
    });
    Ok(due)
}

/// The advisory lock statement that orders inserts within a lane, if the backend needs one.
pub(super) fn lane_lock_sql(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(LANE_LOCK),
    }
}

/// The sorted, distinct advisory lock keys of `lanes` (sorted so that concurrent transactions
/// lock in one order and cannot deadlock).
pub(super) fn lane_lock_keys<'a>(lanes: impl IntoIterator<Item = &'a str>) -> Vec<i64> {
    let mut keys: Vec<i64> = lanes.into_iter().map(lane_lock_key).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// FNV-1a of the lane: a fixed algorithm, so every replica and version locks the same key.
pub(super) fn lane_lock_key(lane: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in lane.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}
