//! Provider events: inbound dedupe for gateways without an inbox of their own. A claim makes
//! the event `processing` under a lease; the claimant completes it `processed` or `failed`.

use super::CloudStore;
use crate::database::Backend;
use crate::error::StoreError;

/// A stored provider event.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ProviderEventRecord {
    /// The event id (`channel_provider_event_…`).
    pub event_id: String,
    /// The channel binding.
    pub channel_binding_id: String,
    /// The provider id.
    pub provider: String,
    /// Which installation of the provider (a bot id, ...).
    pub provider_instance_id: String,
    /// The platform workspace (empty when none).
    pub external_workspace_id: String,
    /// The platform's id of the event.
    pub provider_event_id: String,
    /// `message`, `command` or `interaction`.
    pub event_type: String,
    /// `received`, `processing`, `processed` or `failed`.
    pub status: String,
    /// Who holds or last held the claim.
    pub claimed_by: Option<String>,
    /// When the claim lapses, unix ms.
    pub claim_expires_at: Option<i64>,
    /// Claims so far.
    pub attempt_count: i64,
    /// 1 when a failed event may be claimed again.
    pub retryable: i64,
    /// The last failure, redacted.
    pub last_error: Option<String>,
    /// Metadata, as JSON text.
    pub metadata: String,
    /// When it was processed, unix ms.
    pub processed_at: Option<i64>,
    /// When it was first seen, unix ms.
    pub created_at: i64,
    /// When it last changed, unix ms.
    pub updated_at: i64,
}

/// The outcome of a claim.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderEventClaim {
    /// The event as stored now.
    pub event: ProviderEventRecord,
    /// Whether the caller holds the claim.
    pub claimed: bool,
}

const COLUMNS: &str = "event_id, channel_binding_id, provider, provider_instance_id, external_workspace_id, \
    provider_event_id, event_type, status, claimed_by, claim_expires_at, attempt_count, retryable, last_error, \
    metadata, processed_at, created_at, updated_at";

impl CloudStore {
    /// Claims `event` for `claimed_by` until `now + ttl_ms`: a new event, or one received,
    /// failed-and-retryable, or processing under a lapsed claim; otherwise answers it unclaimed.
    pub async fn claim_provider_event(
        &self,
        event: &ProviderEventRecord,
        claimed_by: &str,
        ttl_ms: i64,
        now: i64,
    ) -> Result<ProviderEventClaim, StoreError> {
        let mut select = format!("SELECT {COLUMNS} FROM cloud_provider_events WHERE event_id = $1");
        if self.db.backend() == Backend::Postgres {
            // Two claimants of one event serialize on its row.
            select.push_str(" FOR UPDATE");
        }
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO cloud_provider_events (event_id, channel_binding_id, provider, provider_instance_id, \
                 external_workspace_id, provider_event_id, event_type, status, claimed_by, claim_expires_at, \
                 attempt_count, retryable, metadata, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'processing', $8, $9, 1, 1, $10, $11, $11) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&event.event_id)
            .bind(&event.channel_binding_id)
            .bind(&event.provider)
            .bind(&event.provider_instance_id)
            .bind(&event.external_workspace_id)
            .bind(&event.provider_event_id)
            .bind(&event.event_type)
            .bind(claimed_by)
            .bind(now + ttl_ms)
            .bind(&event.metadata)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            let mut stored: ProviderEventRecord =
                sqlx::query_as(&select).bind(&event.event_id).fetch_one(&mut *tx).await?;
            let reclaimable = stored.status == "received"
                || (stored.status == "failed" && stored.retryable != 0)
                || (stored.status == "processing" && stored.claim_expires_at.is_some_and(|at| at <= now));
            let claimed = inserted || reclaimable;
            if !inserted && reclaimable {
                sqlx::query(
                    "UPDATE cloud_provider_events SET status = 'processing', claimed_by = $2, claim_expires_at = $3, \
                     attempt_count = attempt_count + 1, updated_at = $4 WHERE event_id = $1",
                )
                .bind(&event.event_id)
                .bind(claimed_by)
                .bind(now + ttl_ms)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                stored = sqlx::query_as(&select).bind(&event.event_id).fetch_one(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(ProviderEventClaim { event: stored, claimed })
        })
    }

    /// Completes an event the caller claimed; `None` when it is not theirs (or not there).
    pub async fn complete_provider_event(
        &self,
        event_id: &str,
        claimed_by: &str,
        processed: bool,
        retryable: bool,
        last_error: Option<&str>,
        now: i64,
    ) -> Result<Option<ProviderEventRecord>, StoreError> {
        let select = format!("SELECT {COLUMNS} FROM cloud_provider_events WHERE event_id = $1");
        crate::with_writer!(&self.db, |pool| {
            let updated = sqlx::query(
                "UPDATE cloud_provider_events SET status = $3, retryable = $4, last_error = $5, \
                 processed_at = CASE WHEN $3 = 'processed' THEN $6 ELSE processed_at END, \
                 claim_expires_at = NULL, updated_at = $6 \
                 WHERE event_id = $1 AND claimed_by = $2 AND status = 'processing'",
            )
            .bind(event_id)
            .bind(claimed_by)
            .bind(if processed { "processed" } else { "failed" })
            .bind(i64::from(!processed && retryable))
            .bind(last_error)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(None);
            }
            Ok(sqlx::query_as(&select).bind(event_id).fetch_optional(pool).await?)
        })
    }

    /// One provider event.
    pub async fn provider_event(&self, event_id: &str) -> Result<Option<ProviderEventRecord>, StoreError> {
        let select = format!("SELECT {COLUMNS} FROM cloud_provider_events WHERE event_id = $1");
        let found = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(&select).bind(event_id).fetch_optional(pool).await?
        });
        Ok(found)
    }
}
