//! Render cursors and the render commit: a session's cursor advances in the same transaction
//! that writes the outbox rows, message refs and interactions it rendered, so a crash can
//! neither lose nor duplicate a rendering.

use cowork_cloud::{with_reader, with_writer};
use cowork_cloud_client::SessionId;
use cowork_providers::{BindingId, ChatRef, ProviderId};

use super::interactions::{INSERT_INTERACTION, InteractionInsert};
use super::outbox::outbound_lane;
use super::queue;
use super::{GatewayStore, Millis, NewInteraction, NewOutbound, RenderCommit, RenderCursor, StoreError};

const ENSURE_CURSOR: &str = "INSERT INTO gw_render_cursors (session_id, binding_id, \
     provider_id, chat_id, thread_id, last_sequence, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (session_id) DO NOTHING";

const CURSOR_COLUMNS: &str = "SELECT session_id, binding_id, provider_id, chat_id, thread_id, last_sequence \
     FROM gw_render_cursors";

/// The session's binding if it is still at epoch `$2` with an owner (`$1` session); the owner row
/// is share-locked on Postgres, so a concurrent take waits for this commit or is seen by it.
const FENCE_SQLITE: &str = "SELECT c.binding_id FROM gw_render_cursors c JOIN gw_binding_owners o \
     ON o.binding_id = c.binding_id WHERE c.session_id = $1 AND o.epoch = $2 AND o.owner_id IS NOT NULL";
const FENCE_POSTGRES: &str = "SELECT c.binding_id FROM gw_render_cursors c JOIN gw_binding_owners o \
     ON o.binding_id = c.binding_id WHERE c.session_id = $1 AND o.epoch = $2 AND o.owner_id IS NOT NULL \
     FOR SHARE OF o";

/// [`ADVANCE_CURSOR`] while the session's binding is at epoch `$5` with an owner (the fence
/// check in the same statement; the owner row share-locked on Postgres as in the fence query).
macro_rules! advance_cursor_fenced {
    ($lock:literal) => {
        concat!(
            "UPDATE gw_render_cursors SET last_sequence = $1, updated_at = $2 ",
            "WHERE session_id = $3 AND last_sequence = $4 AND binding_id IN (SELECT o.binding_id ",
            "FROM gw_binding_owners o WHERE o.binding_id = gw_render_cursors.binding_id AND o.epoch = $5 ",
            "AND o.owner_id IS NOT NULL",
            $lock,
            ")"
        )
    };
}

const CURSOR_BINDING: &str = "SELECT binding_id FROM gw_render_cursors WHERE session_id = $1";

const ADVANCE_CURSOR: &str = "UPDATE gw_render_cursors SET last_sequence = $1, updated_at = $2 \
     WHERE session_id = $3 AND last_sequence = $4";

/// A row heads its lane unless an open row is there already (the lane's lock is held, so the
/// answer stays true until commit); then it queues behind it.
const INSERT_OUTBOUND: &str = "INSERT INTO gw_outbox (dedupe_key, binding_id, provider_id, \
     lane, chat_id, thread_id, message_key, operation, state, attempts, next_attempt_at, \
     created_at, updated_at, trace_parent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
     CASE WHEN EXISTS (SELECT 1 FROM gw_outbox o WHERE o.lane = $4 \
     AND o.state IN ('queued', 'pending', 'claimed', 'failed')) THEN 'queued' ELSE 'pending' END, \
     0, $9, $9, $9, $10) ON CONFLICT (dedupe_key) DO NOTHING";

const INSERT_MESSAGE_REF: &str = "INSERT INTO gw_message_refs (binding_id, message_key, \
     provider_message_id) VALUES ($1, $2, NULL) ON CONFLICT (binding_id, message_key) DO NOTHING";

type CursorRow = (String, String, String, String, Option<String>, i64);

/// The compare-and-set of a render commit.
pub(super) struct CursorMove<'a> {
    session_id: &'a SessionId,
    expected: i64,
    new: i64,
}

/// One outbox row, encoded.
struct OutboundInsert<'a> {
    item: &'a NewOutbound,
    lane: String,
    operation: String,
}

impl<'a> OutboundInsert<'a> {
    fn encode(item: &'a NewOutbound) -> Result<Self, StoreError> {
        let operation = serde_json::to_string(&item.op)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode planned operation: {e}")))?;
        Ok(Self { item, lane: outbound_lane(item), operation })
    }
}

impl GatewayStore {
    /// Creates the session's cursor unless it has one (an existing cursor is left untouched).
    pub async fn ensure_cursor(&self, cursor: &RenderCursor, now: Millis) -> Result<(), StoreError> {
        with_writer!(&self.db, |pool| {
            sqlx::query(ENSURE_CURSOR)
                .bind(cursor.session_id.as_str())
                .bind(cursor.binding_id.as_str())
                .bind(cursor.provider_id.as_str())
                .bind(cursor.chat.chat_id.as_str())
                .bind(cursor.chat.thread_id.as_deref())
                .bind(cursor.last_sequence)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The session's cursor, if it has one.
    pub async fn cursor(&self, session: &SessionId) -> Result<Option<RenderCursor>, StoreError> {
        let sql = format!("{CURSOR_COLUMNS} WHERE session_id = $1");
        let row = with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, CursorRow>(&sql).bind(session.as_str()).fetch_optional(pool).await?
        });
        Ok(row.map(decode_cursor))
    }

    /// Every cursor, by session id.
    pub async fn list_cursors(&self) -> Result<Vec<RenderCursor>, StoreError> {
        let sql = format!("{CURSOR_COLUMNS} ORDER BY session_id");
        let rows = with_reader!(&self.db, |pool| { sqlx::query_as::<_, CursorRow>(&sql).fetch_all(pool).await? });
        Ok(rows.into_iter().map(decode_cursor).collect())
    }

    /// Applies a render step atomically: moves the cursor from `expected_sequence` to
    /// `new_sequence` and writes what the step produced. False (and nothing written) when the
    /// cursor is missing or not at `expected_sequence`.
    pub async fn commit_render(&self, commit: RenderCommit, now: Millis) -> Result<bool, StoreError> {
        let cursor =
            CursorMove { session_id: &commit.session_id, expected: commit.expected_sequence, new: commit.new_sequence };
        if self.fences.is_some() && commit.epoch.is_none() {
            return Err(StoreError::Corrupt("a fenced render commit needs the epoch it was rendered under".into()));
        }
        let fence = commit.epoch.filter(|_| self.fences.is_some());
        self.write_render(Some((cursor, fence)), &commit.outbound, &commit.message_refs, &commit.interactions, now)
            .await
    }

    /// The one write transaction of the outbound path: an optional cursor compare-and-set (fenced
    /// by the epoch given with it), then outbox rows, message refs and interactions, each
    /// ignoring rows it already has.
    pub(super) async fn write_render(
        &self,
        cursor: Option<(CursorMove<'_>, Option<i64>)>,
        outbound: &[NewOutbound],
        message_refs: &[(BindingId, String)],
        interactions: &[NewInteraction],
        now: Millis,
    ) -> Result<bool, StoreError> {
        let outbound = outbound.iter().map(OutboundInsert::encode).collect::<Result<Vec<_>, _>>()?;
        let interactions = interactions.iter().map(InteractionInsert::encode).collect::<Result<Vec<_>, _>>()?;
        let lock = queue::lane_lock_sql(self.db.backend());
        let keys = queue::lane_lock_keys(outbound.iter().map(|row| row.lane.as_str()));
        let (fence_sql, advance_fenced) = match self.db.backend() {
            cowork_cloud::database::Backend::Sqlite => (FENCE_SQLITE, advance_cursor_fenced!("")),
            cowork_cloud::database::Backend::Postgres => (FENCE_POSTGRES, advance_cursor_fenced!(" FOR SHARE OF o")),
        };
        with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            if let Some((cursor, epoch)) = &cursor {
                let session = cursor.session_id.as_str();
                let advance = sqlx::query(if epoch.is_some() { advance_fenced } else { ADVANCE_CURSOR })
                    .bind(cursor.new)
                    .bind(now)
                    .bind(session)
                    .bind(cursor.expected);
                let moved = match epoch {
                    Some(epoch) => advance.bind(*epoch),
                    None => advance,
                }
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved == 0 {
                    // Moved on by someone else, or fenced: only the latter is an error, reported
                    // with the cursor's binding (a missing cursor is the compare-and-set's).
                    let mut fenced: Option<String> = None;
                    if let Some(epoch) = epoch {
                        let held: Option<String> =
                            sqlx::query_scalar(fence_sql).bind(session).bind(*epoch).fetch_optional(&mut *tx).await?;
                        if held.is_none() {
                            fenced = sqlx::query_scalar(CURSOR_BINDING).bind(session).fetch_optional(&mut *tx).await?;
                        }
                    }
                    tx.rollback().await?;
                    return match fenced {
                        Some(binding) => {
                            self.refused(&binding);
                            Err(StoreError::Fenced(binding))
                        }
                        None => Ok(false),
                    };
                }
            }
            if let Some(lock) = lock {
                for key in &keys {
                    sqlx::query(lock).bind(*key).execute(&mut *tx).await?;
                }
            }
            for row in &outbound {
                sqlx::query(INSERT_OUTBOUND)
                    .bind(row.item.dedupe_key.as_str())
                    .bind(row.item.binding_id.as_str())
                    .bind(row.item.provider_id.as_str())
                    .bind(row.lane.as_str())
                    .bind(row.item.chat.chat_id.as_str())
                    .bind(row.item.chat.thread_id.as_deref())
                    .bind(row.item.message_key.as_deref())
                    .bind(row.operation.as_str())
                    .bind(now)
                    .bind(row.item.trace.as_ref().map(cowork_cloud_client::TraceParent::as_str))
                    .execute(&mut *tx)
                    .await?;
            }
            for (binding, key) in message_refs {
                sqlx::query(INSERT_MESSAGE_REF).bind(binding.as_str()).bind(key.as_str()).execute(&mut *tx).await?;
            }
            for row in &interactions {
                let spec = row.spec;
                sqlx::query(INSERT_INTERACTION)
                    .bind(spec.code.as_str())
                    .bind(spec.binding_id.as_str())
                    .bind(spec.provider_id.as_str())
                    .bind(spec.session_id.as_str())
                    .bind(spec.chat.chat_id.as_str())
                    .bind(spec.chat.thread_id.as_deref())
                    .bind(row.kind)
                    .bind(spec.target_id.as_str())
                    .bind(spec.prompt_text.as_str())
                    .bind(row.options.as_str())
                    .bind(spec.message_key.as_str())
                    .bind(spec.expires_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }
}

fn decode_cursor(row: CursorRow) -> RenderCursor {
    let (session_id, binding_id, provider_id, chat_id, thread_id, last_sequence) = row;
    RenderCursor {
        session_id: SessionId::new(session_id),
        binding_id: BindingId::new(binding_id),
        provider_id: ProviderId::new(provider_id),
        chat: ChatRef { chat_id, thread_id },
        last_sequence,
    }
}
