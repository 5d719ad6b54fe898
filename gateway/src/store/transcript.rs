//! The fake provider's durable transcript: [`TranscriptStore`] on the gateway store, keyed by
//! delivery id and bounded per provider.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use cowork_cloud::{with_reader, with_writer};
use cowork_providers::ProviderId;
use cowork_providers::fake::{TranscriptEntry, TranscriptError, TranscriptStore};

use super::{GatewayStore, Millis, StoreError};

const INSERT: &str = "INSERT INTO gw_fake_transcript (provider_id, delivery_id, operation, \
     chat_id, thread_id, message_id, text, buttons, recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (provider_id, delivery_id) DO NOTHING RETURNING id";

const COLUMNS: &str = "delivery_id, operation, chat_id, thread_id, message_id, text, buttons, recorded_at";

/// Drops the provider's entries older than its newest `$2`.
const TRIM: &str = "DELETE FROM gw_fake_transcript WHERE provider_id = $1 AND id <= \
     (SELECT t.id FROM gw_fake_transcript t WHERE t.provider_id = $1 \
     ORDER BY t.id DESC LIMIT 1 OFFSET $2)";

type EntryRow = (String, String, String, Option<String>, String, String, String, i64);

impl GatewayStore {
    async fn record_entry(
        &self,
        provider: &ProviderId,
        mut entry: TranscriptEntry,
        keep: usize,
        now: Millis,
    ) -> Result<TranscriptEntry, StoreError> {
        let buttons = serde_json::to_string(&entry.buttons)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode transcript buttons: {e}")))?;
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let find = format!("SELECT {COLUMNS} FROM gw_fake_transcript WHERE provider_id = $1 AND delivery_id = $2");
        let existing = with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query_scalar::<_, i64>(INSERT)
                .bind(provider.as_str())
                .bind(entry.delivery_id.as_str())
                .bind(entry.operation.as_str())
                .bind(entry.chat_id.as_str())
                .bind(entry.thread_id.as_deref())
                .bind(entry.message_id.as_str())
                .bind(entry.text.as_str())
                .bind(buttons.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let existing = if inserted.is_some() {
                sqlx::query(TRIM).bind(provider.as_str()).bind(keep).execute(&mut *tx).await?;
                None
            } else {
                sqlx::query_as::<_, EntryRow>(&find)
                    .bind(provider.as_str())
                    .bind(entry.delivery_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
            };
            tx.commit().await?;
            existing
        });
        match existing {
            Some(row) => decode(row),
            None => {
                entry.recorded_at_ms = now;
                Ok(entry)
            }
        }
    }

    async fn read_entries(
        &self,
        provider: &ProviderId,
        chat_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {COLUMNS} FROM (SELECT id, {COLUMNS} FROM gw_fake_transcript \
             WHERE provider_id = $1 AND ($2 IS NULL OR chat_id = $2) ORDER BY id DESC LIMIT $3) \
             newest ORDER BY id"
        );
        let rows = with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, EntryRow>(&sql)
                .bind(provider.as_str())
                .bind(chat_id)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(decode).collect()
    }
}

#[async_trait]
impl TranscriptStore for GatewayStore {
    async fn record(
        &self,
        provider: &ProviderId,
        entry: TranscriptEntry,
        keep: usize,
    ) -> Result<TranscriptEntry, TranscriptError> {
        // The one place the store reads the clock: the trait leaves the timestamp to the store.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.record_entry(provider, entry, keep, now).await.map_err(|e| TranscriptError(Box::new(e)))
    }

    async fn read(
        &self,
        provider: &ProviderId,
        chat_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>, TranscriptError> {
        self.read_entries(provider, chat_id, limit).await.map_err(|e| TranscriptError(Box::new(e)))
    }
}

fn decode(row: EntryRow) -> Result<TranscriptEntry, StoreError> {
    let (delivery_id, operation, chat_id, thread_id, message_id, text, buttons, recorded_at) = row;
    let buttons = serde_json::from_str(&buttons)
        .map_err(|e| StoreError::Corrupt(format!("transcript {delivery_id} buttons: {e}")))?;
    Ok(TranscriptEntry {
        delivery_id,
        operation,
        chat_id,
        thread_id,
        message_id,
        text,
        buttons,
        recorded_at_ms: recorded_at,
    })
}
