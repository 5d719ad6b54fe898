//! Channel deliveries: the outbound work queue a gateway claims over its delivery stream. A
//! claim leases one row (renewable by its claimant); the claimant acks it sent, failed (to be
//! retried at `next_attempt_at`) or dead. A row claimed as often as the attempt budget allows
//! is dead-lettered by the claim itself, so a delivery that crashes its gateway every time
//! cannot circulate forever.

use super::CloudStore;
use crate::database::Backend;
use crate::error::StoreError;

/// A stored delivery.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct DeliveryRecord {
    /// The row id: `channel_delivery_…` of the binding and the public id.
    pub row_id: String,
    /// The public id (the creator's idempotency key within its binding).
    pub delivery_id: String,
    /// The headless agent.
    pub agent_id: String,
    /// The channel binding.
    pub channel_binding_id: String,
    /// The thread it answers, if any.
    pub session_binding_id: Option<String>,
    /// The provider id.
    pub provider: String,
    /// Where it goes, as JSON text.
    pub target: String,
    /// What it is (`workflow.completed`, ...).
    pub event_type: String,
    /// What to send, as JSON text.
    pub payload: String,
    /// `pending`, `claimed`, `sent`, `failed` or `dead`.
    pub status: String,
    /// Claims so far.
    pub attempt_count: i64,
    /// Who holds the claim.
    pub claimed_by: Option<String>,
    /// The token that claimed it last (its owner for retries and dead-letters).
    pub last_claimed_by: Option<String>,
    /// When the claim lapses, unix ms.
    pub claim_expires_at: Option<i64>,
    /// When it may be claimed (again), unix ms.
    pub next_attempt_at: i64,
    /// The last failure, redacted.
    pub last_error: Option<String>,
    /// When it was made, unix ms.
    pub created_at: i64,
    /// When it last changed, unix ms.
    pub updated_at: i64,
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryClaim {
    /// Nothing is due.
    Empty,
    /// The caller holds this delivery now.
    Claimed(Box<DeliveryRecord>),
    /// This delivery had used its attempt budget and is dead now.
    GaveUp(Box<DeliveryRecord>),
    /// Something is due but the hourly delivery quota is used up.
    OverQuota,
}

/// A claim request.
#[derive(Clone, Copy, Debug)]
pub struct ClaimDelivery<'a> {
    /// The bindings to claim from.
    pub bindings: &'a [String],
    /// The claimant.
    pub claimed_by: &'a str,
    /// The owner recorded for later retries and dead-letters.
    pub last_claimed_by: &'a str,
    /// The claim's lease.
    pub ttl_ms: i64,
    /// Claims a delivery may have before it is dead-lettered.
    pub max_attempts: i64,
    /// The quota counted per claim: key, window start, limit (0: none).
    pub quota: (&'a str, i64, u64),
    /// Now, unix ms.
    pub now: i64,
}

/// Which deliveries an update may touch.
#[derive(Clone, Copy, Debug)]
pub struct DeliveryFilter<'a> {
    /// The public id.
    pub delivery_id: &'a str,
    /// Only rows of these bindings.
    pub bindings: Option<&'a [String]>,
    /// Only this binding.
    pub channel_binding_id: Option<&'a str>,
    /// Only rows claimed by this claimant.
    pub claimed_by: Option<&'a str>,
    /// Only rows last claimed by this token.
    pub last_claimed_by: Option<&'a str>,
}

/// What an update sets.
#[derive(Clone, Copy, Debug)]
pub enum DeliveryChange<'a> {
    /// Ack: the new status (claim released), error and next attempt.
    Ack {
        /// `sent`, `failed` or `dead`.
        status: &'a str,
        /// The redacted error.
        last_error: Option<&'a str>,
        /// When it may be claimed again.
        next_attempt_at: i64,
    },
    /// Extends a held claim to this time.
    Renew {
        /// The new expiry.
        claim_expires_at: i64,
    },
}

const COLUMNS: &str = "row_id, delivery_id, agent_id, channel_binding_id, session_binding_id, provider, target, \
    event_type, payload, status, attempt_count, claimed_by, last_claimed_by, claim_expires_at, next_attempt_at, \
    last_error, created_at, updated_at";

/// `$first, $first+1, ...` for `count` bound values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// The message of a delivery dead-lettered for its attempt budget.
pub fn gave_up_message(attempts: i64) -> String {
    format!("Gave up after {attempts} delivery attempts without an acknowledgement.")
}

impl CloudStore {
    /// Stores a delivery unless one with its row id exists; answers the stored row and whether
    /// it is new (a repeat returns the first, whatever its content).
    pub async fn insert_delivery(&self, record: &DeliveryRecord) -> Result<(DeliveryRecord, bool), StoreError> {
        let select = format!("SELECT {COLUMNS} FROM cloud_channel_deliveries WHERE row_id = $1");
        crate::with_writer!(&self.db, |pool| {
            let inserted = sqlx::query(&format!(
                "INSERT INTO cloud_channel_deliveries ({COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                 ON CONFLICT (row_id) DO NOTHING"
            ))
            .bind(&record.row_id)
            .bind(&record.delivery_id)
            .bind(&record.agent_id)
            .bind(&record.channel_binding_id)
            .bind(&record.session_binding_id)
            .bind(&record.provider)
            .bind(&record.target)
            .bind(&record.event_type)
            .bind(&record.payload)
            .bind(&record.status)
            .bind(record.attempt_count)
            .bind(&record.claimed_by)
            .bind(&record.last_claimed_by)
            .bind(record.claim_expires_at)
            .bind(record.next_attempt_at)
            .bind(&record.last_error)
            .bind(record.created_at)
            .bind(record.updated_at)
            .execute(pool)
            .await?
            .rows_affected();
            let stored = sqlx::query_as(&select).bind(&record.row_id).fetch_one(pool).await?;
            Ok((stored, inserted > 0))
        })
    }

    /// Claims the oldest due delivery of `request.bindings`: pending or failed and due, or
    /// claimed under a lapsed claim. Postgres skips rows another claimant holds.
    pub async fn claim_delivery(&self, request: ClaimDelivery<'_>) -> Result<DeliveryClaim, StoreError> {
        if request.bindings.is_empty() {
            return Ok(DeliveryClaim::Empty);
        }
        // Two claimants never wait on each other's row: each takes the next one.
        let lock = if self.db.backend() == Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "SELECT {COLUMNS} FROM cloud_channel_deliveries WHERE channel_binding_id IN ({}) \
             AND ((status IN ('pending', 'failed') AND next_attempt_at <= $1) \
                  OR (status = 'claimed' AND claim_expires_at <= $1)) \
             ORDER BY next_attempt_at, created_at LIMIT 1 {lock}",
            placeholders(2, request.bindings.len())
        );
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let mut query = sqlx::query_as::<_, DeliveryRecord>(&sql).bind(request.now);
            for binding in request.bindings {
                query = query.bind(binding);
            }
            let Some(mut row) = query.fetch_optional(&mut *tx).await? else {
                return Ok(DeliveryClaim::Empty);
            };
            let now = request.now;
            if row.attempt_count >= request.max_attempts {
                let error = gave_up_message(row.attempt_count);
                sqlx::query(
                    "UPDATE cloud_channel_deliveries SET status = 'dead', claimed_by = NULL, claim_expires_at = NULL, \
                     last_error = $2, updated_at = $3 WHERE row_id = $1",
                )
                .bind(&row.row_id)
                .bind(&error)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                row.status = "dead".into();
                row.claimed_by = None;
                row.claim_expires_at = None;
                row.last_error = Some(error);
                row.updated_at = now;
                return Ok(DeliveryClaim::GaveUp(Box::new(row)));
            }
            let (key, window, limit) = request.quota;
            if limit > 0 {
                let counted: Option<i64> = sqlx::query_scalar(super::usage::QUOTA_SQL)
                    .bind(key)
                    .bind(window)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_optional(&mut *tx)
                    .await?;
                if counted.is_none() {
                    return Ok(DeliveryClaim::OverQuota);
                }
            }
            let expires = now + request.ttl_ms;
            sqlx::query(
                "UPDATE cloud_channel_deliveries SET status = 'claimed', claimed_by = $2, last_claimed_by = $3, \
                 claim_expires_at = $4, attempt_count = attempt_count + 1, updated_at = $5 WHERE row_id = $1",
            )
            .bind(&row.row_id)
            .bind(request.claimed_by)
            .bind(request.last_claimed_by)
            .bind(expires)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            row.status = "claimed".into();
            row.claimed_by = Some(request.claimed_by.to_owned());
            row.last_claimed_by = Some(request.last_claimed_by.to_owned());
            row.claim_expires_at = Some(expires);
            row.attempt_count += 1;
            row.updated_at = now;
            Ok(DeliveryClaim::Claimed(Box::new(row)))
        })
    }

    /// The deliveries `filter` matches (at most two: more than one is ambiguous to the caller).
    async fn matching_deliveries(&self, filter: &DeliveryFilter<'_>) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM cloud_channel_deliveries WHERE delivery_id = $1");
        let mut values: Vec<&str> = vec![filter.delivery_id];
        if let Some(binding) = filter.channel_binding_id {
            values.push(binding);
            sql.push_str(&format!(" AND channel_binding_id = ${}", values.len()));
        }
        if let Some(claimed_by) = filter.claimed_by {
            values.push(claimed_by);
            sql.push_str(&format!(" AND claimed_by = ${}", values.len()));
        }
        if let Some(owner) = filter.last_claimed_by {
            values.push(owner);
            sql.push_str(&format!(" AND last_claimed_by = ${}", values.len()));
        }
        if let Some(bindings) = filter.bindings {
            if bindings.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(&format!(" AND channel_binding_id IN ({})", placeholders(values.len() + 1, bindings.len())));
            values.extend(bindings.iter().map(String::as_str));
        }
        sql.push_str(" ORDER BY row_id LIMIT 2");
        let found = crate::with_writer!(&self.db, |pool| {
            let mut query = sqlx::query_as::<_, DeliveryRecord>(&sql);
            for value in &values {
                query = query.bind(*value);
            }
            query.fetch_all(pool).await?
        });
        Ok(found)
    }

    /// Applies `change` to the one delivery `filter` matches; `None` when none or several do
    /// (or, for a renewal, when the claim is not held any more).
    pub async fn update_delivery(
        &self,
        filter: &DeliveryFilter<'_>,
        change: DeliveryChange<'_>,
        now: i64,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let mut found = self.matching_deliveries(filter).await?;
        if found.len() != 1 {
            return Ok(None);
        }
        let row = found.remove(0);
        let select = format!("SELECT {COLUMNS} FROM cloud_channel_deliveries WHERE row_id = $1");
        crate::with_writer!(&self.db, |pool| {
            let changed = match change {
                DeliveryChange::Ack { status, last_error, next_attempt_at } => sqlx::query(
                    "UPDATE cloud_channel_deliveries SET status = $2, claimed_by = NULL, claim_expires_at = NULL, \
                     last_error = $3, next_attempt_at = $4, updated_at = $5 WHERE row_id = $1 \
                     AND ($6 IS NULL OR claimed_by = $6)",
                )
                .bind(&row.row_id)
                .bind(status)
                .bind(last_error)
                .bind(next_attempt_at)
                .bind(now)
                .bind(filter.claimed_by)
                .execute(pool)
                .await?
                .rows_affected(),
                DeliveryChange::Renew { claim_expires_at } => sqlx::query(
                    "UPDATE cloud_channel_deliveries SET claim_expires_at = $2, updated_at = $3 \
                     WHERE row_id = $1 AND status = 'claimed' AND claimed_by = $4 AND claim_expires_at > $3",
                )
                .bind(&row.row_id)
                .bind(claim_expires_at)
                .bind(now)
                .bind(filter.claimed_by)
                .execute(pool)
                .await?
                .rows_affected(),
            };
            if changed == 0 {
                return Ok(None);
            }
            Ok(sqlx::query_as(&select).bind(&row.row_id).fetch_optional(pool).await?)
        })
    }

    /// Deliveries, most recently changed first.
    pub async fn deliveries(
        &self,
        bindings: Option<&[String]>,
        last_claimed_by: Option<&str>,
        delivery_id: Option<&str>,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut sql = format!(
            "SELECT {COLUMNS} FROM cloud_channel_deliveries WHERE ($1 IS NULL OR last_claimed_by = $1) \
             AND ($2 IS NULL OR delivery_id = $2) AND ($3 IS NULL OR status = $3)"
        );
        if let Some(bindings) = bindings {
            if bindings.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(&format!(" AND channel_binding_id IN ({})", placeholders(5, bindings.len())));
        }
        sql.push_str(" ORDER BY updated_at DESC, created_at DESC LIMIT $4");
        let found = crate::with_writer!(&self.db, |pool| {
            let mut query = sqlx::query_as::<_, DeliveryRecord>(&sql)
                .bind(last_claimed_by)
                .bind(delivery_id)
                .bind(status)
                .bind(i64::from(limit));
            for binding in bindings.unwrap_or_default() {
                query = query.bind(binding);
            }
            query.fetch_all(pool).await?
        });
        Ok(found)
    }
}
