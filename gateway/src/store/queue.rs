//! The lane-queue machinery the inbox and the outbox share: head-of-lane claims under a lease,
//! outcomes recorded only by the lease holder, the next due time, and per-lane insert locks.
//!
//! A lane's head is its lowest id still open (`pending`, `claimed`, `failed`). Only a head is
//! ever claimed, and only when it is due and not under a live lease, so a later row never
//! overtakes an earlier one that is leased or waiting to retry. The inbox is staged: accepted
//! rows wait as `new` until a claim promotes them (see [`INBOX`]).
//!
//! Postgres claims with `FOR UPDATE SKIP LOCKED`; SQLite has one writer connection, so the same
//! statement without the locking clause is already serialized. On Postgres, inserts take a
//! transaction-scoped advisory lock per lane first: ids are allocated at insert time but become
//! visible at commit, and without the lock a later id of a lane could commit (and be claimed)
//! before an earlier one.

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
    /// Records an outcome while the owner holds the claim (see [`Outcome`] for the binds).
    pub record: &'static str,
    /// Marks one row dead regardless of its lease: `$1` reason, `$2` now, `$3` id.
    pub dead_letter: &'static str,
    /// The earliest time a lane head becomes claimable (NULL when nothing is open).
    pub next_due: &'static str,
    /// Moves rows accepted since the last claim into their lanes (see [`INBOX`]); run first in
    /// every claim transaction.
    pub promote: Option<&'static str>,
}

/// The rows still in their lane.
macro_rules! open {
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

/// Rows of table `q` that head their lane.
#[rustfmt::skip]
macro_rules! heads {
    ($table:literal) => {
        concat!(
            "FROM ", $table, " q WHERE ", open!("q"),
            " AND NOT EXISTS (SELECT 1 FROM ", $table, " e",
            " WHERE e.lane = q.lane AND e.id < q.id AND ", open!("e"), ")"
        )
    };
}

/// Claims due, unleased lane heads, oldest first.
#[rustfmt::skip]
macro_rules! claim_sql {
    ($table:literal, $columns:literal, $lock:literal) => {
        concat!(
            "UPDATE ", $table, " SET state = 'claimed', lease_owner = $2, lease_expires_at = $3, updated_at = $1",
            " WHERE id IN (SELECT q.id ", heads!($table), " AND ", ready_at!(), " <= $1",
            " ORDER BY q.id LIMIT $4", $lock, ")",
            " RETURNING ", $columns
        )
    };
}

/// Builds the [`QueueSql`] of a table; `$columns` is what a claim returns. With `staged`, rows
/// are inserted as `new`, outside every lane, and promoted to `pending` by the next claim.
#[rustfmt::skip]
macro_rules! queue_sql {
    ($table:literal, $columns:literal) => {
        queue_sql!(@build $table, $columns, concat!("SELECT MIN", ready_at!(), " ", heads!($table)), None)
    };
    ($table:literal, $columns:literal, staged) => {
        queue_sql!(
            @build $table, $columns,
            concat!(
                "SELECT MIN(due) FROM (SELECT MIN", ready_at!(), " AS due ", heads!($table),
                " UNION ALL SELECT MIN(next_attempt_at) AS due FROM ", $table, " WHERE state = 'new') d"
            ),
            // Oldest first and at most 4,096 per claim, so a backlog left by paused workers never
            // holds the writer for long; `state = 'new'` is checked again on the row itself, so a
            // concurrent claimer's promoted and claimed row is never set back to `pending`.
            Some(concat!(
                "UPDATE ", $table, " SET state = 'pending' WHERE state = 'new' AND id IN",
                " (SELECT id FROM ", $table, " WHERE state = 'new' ORDER BY id LIMIT 4096)"
            ))
        )
    };
    (@build $table:literal, $columns:literal, $next_due:expr, $promote:expr) => {
        QueueSql {
            table: $table,
            claim_sqlite: claim_sql!($table, $columns, ""),
            claim_postgres: claim_sql!($table, $columns, " FOR UPDATE SKIP LOCKED"),
            record: concat!(
                "UPDATE ", $table, " SET state = $1, attempts = attempts + $2,",
                " next_attempt_at = COALESCE($3, next_attempt_at), last_error = COALESCE($4, last_error),",
                " lease_owner = NULL, lease_expires_at = NULL, updated_at = $5",
                " WHERE id = $6 AND state = 'claimed' AND lease_owner = $7"
            ),
            dead_letter: concat!(
                "UPDATE ", $table, " SET state = 'dead', last_error = $1, lease_owner = NULL,",
                " lease_expires_at = NULL, updated_at = $2 WHERE id = $3"
            ),
            next_due: $next_due,
            promote: $promote,
        }
    };
}

/// A claimed inbox row: `id, binding_id, provider_id, payload, attempts`.
pub(super) type InboxRow = (i64, String, String, String, i64);

/// The inbox statements; claims return an [`InboxRow`].
///
/// Staged: acceptance inserts rows as `new`, outside the per-lane index, and the next claim
/// promotes every `new` row at once. A burst of accepted events then costs the ack path only
/// appends (the table and the `new` index grow at their right edge), and the lane index takes
/// the whole batch in one transaction, touching each lane's leaf once instead of once per event.
/// Order holds: rows are promoted oldest first, so within a lane a `new` row is always later
/// than every promoted one (ids grow, and on Postgres a lane's inserts commit in id order under
/// its advisory lock).
pub(super) const INBOX: QueueSql = queue_sql!("gw_inbox", "id, binding_id, provider_id, payload, attempts", staged);

/// A claimed outbox row, in the column order [`OUTBOX`] returns.
pub(super) type OutboxRow = (i64, String, String, String, String, Option<String>, Option<String>, String, i64);

/// The outbox statements; claims return an [`OutboxRow`].
pub(super) const OUTBOX: QueueSql = queue_sql!(
    "gw_outbox",
    "id, dedupe_key, binding_id, provider_id, chat_id, thread_id, message_key, operation, attempts"
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
    let mut items = with_writer!(db, |pool| {
        let mut tx = pool.begin().await?;
        if let Some(promote) = sql.promote {
            sqlx::query(promote).execute(&mut *tx).await?;
        }
        let rows = sqlx::query_as::<_, T>(claim_sql)
            .bind(request.now)
            .bind(request.owner.0.as_str())
            .bind(expires)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            match decode(row) {
                (id, Ok(item)) => items.push((id, item)),
                (id, Err(error)) => {
                    tracing::warn!(table = sql.table, id, %error, "dead-lettered an undecodable queue row");
                    sqlx::query(sql.dead_letter)
                        .bind(format!("undecodable row: {error}"))
                        .bind(request.now)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        items
    });
    items.sort_by_key(|(id, _)| *id);
    Ok(items.into_iter().map(|(_, item)| item).collect())
}

/// Applies `outcome` to row `id` while `owner` holds its claim; false when it does not.
pub(super) async fn record(
    db: &Database,
    sql: &QueueSql,
    id: i64,
    owner: &WorkerId,
    outcome: Outcome,
    now: Millis,
) -> Result<bool, StoreError> {
    let changed = with_writer!(db, |pool| {
        sqlx::query(sql.record)
            .bind(outcome.state)
            .bind(outcome.attempts)
            .bind(outcome.next_attempt_at)
            .bind(outcome.last_error.as_deref())
            .bind(now)
            .bind(id)
            .bind(owner.0.as_str())
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(changed > 0)
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
        Backend::Postgres => Some("SELECT pg_advisory_xact_lock($1)"),
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
fn lane_lock_key(lane: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in lane.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}
