//! Accepting inbound requests into the inbox: one transaction (one commit) for a whole group of
//! requests, in a fixed, small number of statements however many events the group holds, so
//! group commit stays cheap: find the events already stored, take the replay keys, insert the
//! new events. Each request is judged in order (see [`GatewayStore::accept_requests`]).

use std::collections::{HashMap, HashSet};

use cowork_cloud::database::Backend;
use cowork_cloud::with_writer;
use sqlx::QueryBuilder;

use super::queue;
use super::{
    Accepted, GatewayStore, InboxId, Millis, NewInbound, NewRequest, ReplayKey, RequestOutcome, StoreError, lane_key,
};

/// One inbound event, encoded for its row.
struct Row<'a> {
    binding_id: &'a str,
    provider_id: &'a str,
    event_id: &'a str,
    lane: String,
    payload: String,
    trace: Option<&'a str>,
}

impl<'a> Row<'a> {
    fn encode(item: &'a NewInbound) -> Result<Self, StoreError> {
        let payload = serde_json::to_string(&item.event)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode inbound event: {e}")))?;
        Ok(Self {
            binding_id: item.binding_id.as_str(),
            provider_id: item.provider_id.as_str(),
            event_id: &item.event.provider_event_id,
            lane: lane_key(&item.binding_id, &item.event.chat),
            payload,
            trace: item.trace.as_ref().map(|t| t.as_str()),
        })
    }

    fn key(&self) -> (String, String) {
        (self.binding_id.to_owned(), self.event_id.to_owned())
    }
}

/// (binding id, provider event id) -> inbox id.
type EventIds = HashMap<(String, String), i64>;

impl GatewayStore {
    /// Stores a batch of inbound events in one transaction, without replay keys (see
    /// [`Self::accept_requests`]).
    pub async fn accept_inbound(&self, batch: &[NewInbound], now: Millis) -> Result<Vec<Accepted>, StoreError> {
        let request = NewRequest { events: batch.to_vec(), replay: None };
        match self.accept_requests(std::slice::from_ref(&request), now).await?.pop() {
            Some(RequestOutcome::Accepted(accepted)) => Ok(accepted),
            _ => Ok(Vec::new()),
        }
    }

    /// Stores the events of several requests in one transaction (one commit: the group-commit
    /// path). Per request, in order: when every event is already stored it is a redelivery
    /// (all duplicates, nothing changes); otherwise a live replay key (also one taken earlier in
    /// the group) refuses the whole request ([`RequestOutcome::Replayed`], nothing stored);
    /// otherwise the key is taken and each event inserted, an event whose (binding, provider
    /// event id) is already stored (in the inbox or earlier in the group) being reported as a
    /// duplicate with the existing row.
    pub async fn accept_requests(
        &self,
        requests: &[NewRequest],
        now: Millis,
    ) -> Result<Vec<RequestOutcome>, StoreError> {
        let rows = requests
            .iter()
            .map(|r| r.events.iter().map(Row::encode).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        if rows.iter().all(Vec::is_empty) && requests.iter().all(|r| r.replay.is_none()) {
            return Ok(requests.iter().map(|_| RequestOutcome::Accepted(Vec::new())).collect());
        }
        let lock = lane_lock_statement(self.db.backend(), &rows);
        with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            if let Some(lock) = &lock {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            // Only signed requests need to know up front whether all their events are stored
            // (a redelivery skips the replay check); the insert below reports other duplicates.
            let signed = signed_rows(requests, &rows);
            let existing: EventIds = if signed.is_empty() {
                EventIds::new()
            } else {
                let mut select = QueryBuilder::new(
                    "SELECT binding_id, provider_event_id, id FROM gw_inbox WHERE (binding_id, provider_event_id) IN (",
                );
                for (i, row) in signed.iter().enumerate() {
                    select.push(if i == 0 { "(" } else { ", (" });
                    select.push_bind(row.binding_id).push(", ").push_bind(row.event_id).push(")");
                }
                select.push(")");
                let found: Vec<(String, String, i64)> = select.build_query_as().fetch_all(&mut *tx).await?;
                found.into_iter().map(|(b, e, id)| ((b, e), id)).collect()
            };
            let redelivery = redeliveries(requests, &rows, &existing);
            let wanted = replay_keys_to_take(requests, &redelivery);
            let mut taken: HashSet<(String, String)> = HashSet::new();
            if !wanted.is_empty() {
                let mut upsert = QueryBuilder::new("INSERT INTO gw_replay_keys (provider_id, replay_key, expires_at) ");
                upsert.push_values(&wanted, |mut b, key| {
                    b.push_bind(key.provider_id.as_str()).push_bind(key.key.as_str()).push_bind(key.expires_at);
                });
                upsert.push(
                    " ON CONFLICT (provider_id, replay_key) DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE gw_replay_keys.expires_at <= ",
                );
                upsert.push_bind(now).push(" RETURNING provider_id, replay_key");
                let rows: Vec<(String, String)> = upsert.build_query_as().fetch_all(&mut *tx).await?;
                taken.extend(rows);
            }
            let accepted_requests = admitted(requests, &redelivery, &taken);
            let to_insert = rows_to_insert(&rows, &accepted_requests, &redelivery, &existing);
            let mut inserted = EventIds::new();
            if !to_insert.is_empty() {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO gw_inbox (binding_id, provider_id, provider_event_id, lane, payload, trace_parent, \
                     state, attempts, next_attempt_at, received_at, updated_at) ",
                );
                insert.push_values(&to_insert, |mut b, row| {
                    b.push_bind(row.binding_id)
                        .push_bind(row.provider_id)
                        .push_bind(row.event_id)
                        .push_bind(row.lane.as_str())
                        .push_bind(row.payload.as_str())
                        .push_bind(row.trace)
                        .push_unseparated(", 'new', 0, ")
                        .push_bind_unseparated(now)
                        .push_unseparated(", ")
                        .push_bind_unseparated(now)
                        .push_unseparated(", ")
                        .push_bind_unseparated(now);
                });
                insert.push(
                    " ON CONFLICT (binding_id, provider_event_id) DO NOTHING RETURNING binding_id, provider_event_id, id",
                );
                let rows: Vec<(String, String, i64)> = insert.build_query_as().fetch_all(&mut *tx).await?;
                inserted.extend(rows.into_iter().map(|(b, e, id)| ((b, e), id)));
            }
            // Assemble the answers; an event another transaction stored meanwhile is looked up.
            let mut reported = HashSet::new();
            let mut outcomes = Vec::with_capacity(requests.len());
            for (rows, admitted) in rows.iter().zip(&accepted_requests) {
                if !admitted {
                    outcomes.push(RequestOutcome::Replayed);
                    continue;
                }
                let mut accepted = Vec::with_capacity(rows.len());
                for row in rows {
                    let key = row.key();
                    let (id, duplicate) = match (inserted.get(&key), existing.get(&key)) {
                        (Some(id), _) => (*id, !reported.insert(key)),
                        (None, Some(id)) => (*id, true),
                        (None, None) => {
                            let id: i64 = sqlx::query_scalar(
                                "SELECT id FROM gw_inbox WHERE binding_id = $1 AND provider_event_id = $2",
                            )
                            .bind(row.binding_id)
                            .bind(row.event_id)
                            .fetch_one(&mut *tx)
                            .await?;
                            (id, true)
                        }
                    };
                    accepted.push(Accepted { id: InboxId(id), duplicate });
                }
                outcomes.push(RequestOutcome::Accepted(accepted));
            }
            tx.commit().await?;
            Ok(outcomes)
        })
    }
}

/// The events of signed requests (the only ones whose stored state is needed up front).
fn signed_rows<'r, 'a>(requests: &[NewRequest], rows: &'r [Vec<Row<'a>>]) -> Vec<&'r Row<'a>> {
    requests
        .iter()
        .zip(rows)
        .filter(|(request, _)| request.replay.is_some())
        .flat_map(|(_, rows)| rows.iter())
        .collect()
}

/// Per request: a signed request all of whose events are already stored is a redelivery.
fn redeliveries(requests: &[NewRequest], rows: &[Vec<Row<'_>>], existing: &EventIds) -> Vec<bool> {
    requests
        .iter()
        .zip(rows)
        .map(|(r, rows)| {
            r.replay.is_some() && !rows.is_empty() && rows.iter().all(|row| existing.contains_key(&row.key()))
        })
        .collect()
}

/// The distinct replay keys of the requests that are not redeliveries.
fn replay_keys_to_take<'r>(requests: &'r [NewRequest], redelivery: &[bool]) -> Vec<&'r ReplayKey> {
    let mut seen = HashSet::new();
    requests
        .iter()
        .zip(redelivery)
        .filter(|(_, redelivered)| !**redelivered)
        .filter_map(|(r, _)| r.replay.as_ref())
        .filter(|k| seen.insert((k.provider_id.as_str(), k.key.as_str())))
        .collect()
}

/// Per request: admitted when it is a redelivery, carries no replay key, or took its key (the
/// first request of the group with a key wins it).
fn admitted(requests: &[NewRequest], redelivery: &[bool], taken: &HashSet<(String, String)>) -> Vec<bool> {
    let mut used = HashSet::new();
    requests
        .iter()
        .zip(redelivery)
        .map(|(request, redelivered)| {
            *redelivered
                || request.replay.as_ref().is_none_or(|k| {
                    let key = (k.provider_id.to_string(), k.key.clone());
                    taken.contains(&key) && used.insert(key)
                })
        })
        .collect()
}

/// The new events of admitted requests, each (binding, event id) once.
fn rows_to_insert<'r, 'a>(
    rows: &'r [Vec<Row<'a>>],
    admitted: &[bool],
    redelivery: &[bool],
    existing: &EventIds,
) -> Vec<&'r Row<'a>> {
    let mut first_seen = HashSet::new();
    rows.iter()
        .zip(admitted.iter().zip(redelivery))
        .filter(|(_, (admitted, redelivered))| **admitted && !**redelivered)
        .flat_map(|(rows, _)| rows.iter())
        .filter(|row| !existing.contains_key(&row.key()) && first_seen.insert(row.key()))
        .collect()
}

/// On Postgres, one statement taking the advisory lock of every lane in the group, in key order
/// (see `queue.rs` for why inserts lock their lanes). The keys are numbers we computed, so they
/// are written into the statement rather than bound (SQLite could not compile an array bind).
fn lane_lock_statement(backend: Backend, rows: &[Vec<Row<'_>>]) -> Option<String> {
    queue::lane_lock_sql(backend)?;
    let keys = queue::lane_lock_keys(rows.iter().flatten().map(|row| row.lane.as_str()));
    if keys.is_empty() {
        return None;
    }
    let values: Vec<String> = keys.iter().map(|k| format!("({k})")).collect();
    // VALUES yields its rows in the order written, which is key order.
    Some(format!("SELECT pg_advisory_xact_lock(k) FROM (VALUES {}) AS locks(k)", values.join(", ")))
}
