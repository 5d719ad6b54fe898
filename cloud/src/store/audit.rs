//! The audit trail: one row per change an operator or a gateway made (tokens minted and revoked,
//! agents and bindings changed, grants given), written in the same transaction as the change.
//! Metadata is redacted before it is stored.

use serde_json::Value;

use super::CloudStore;
use crate::error::StoreError;

/// One audit event, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    /// `api_token.created`, `channel_binding.updated`, ... (Open Cowork's names).
    pub event_type: &'static str,
    /// `user`, `api_token` or `system`.
    pub actor_type: &'static str,
    /// The token id, or `command-line`.
    pub actor_id: String,
    /// `api_token`, `channel_binding`, `headless_agent`, ...
    pub target_type: &'static str,
    /// The id of what changed.
    pub target_id: String,
    /// Non-secret detail.
    pub metadata: Value,
}

impl AuditEvent {
    /// The stored metadata text: values under secret-looking keys become `[redacted]`, strings
    /// are cut to 256 characters and nested objects are summarized, as Open Cowork stores them.
    pub(crate) fn stored_metadata(&self) -> String {
        let Value::Object(map) = &self.metadata else { return "{}".to_owned() };
        let redacted: serde_json::Map<String, Value> = map
            .iter()
            .map(|(key, value)| {
                let lower = key.to_ascii_lowercase();
                let secret = ["token", "secret", "key", "password", "credential", "ref", "ciphertext", "envelope"]
                    .iter()
                    .any(|word| lower.contains(word))
                    // Ids of tokens and bindings are not secret; they are what an audit is for.
                    && !lower.ends_with("id")
                    && !lower.ends_with("ids");
                let value = match value {
                    _ if secret => Value::String("[redacted]".into()),
                    Value::String(text) => Value::String(text.chars().take(256).collect()),
                    Value::Object(_) => Value::String("[object]".into()),
                    other => other.clone(),
                };
                (key.clone(), value)
            })
            .collect();
        Value::Object(redacted).to_string()
    }
}

/// Inside the open transaction `$tx`, records the [`AuditEvent`] `$event` at `$now`.
macro_rules! record_audit {
    ($tx:expr, $event:expr, $now:expr) => {{
        let event: &$crate::store::AuditEvent = $event;
        sqlx::query(
            "INSERT INTO cloud_audit_events (event_id, actor_type, actor_id, event_type, target_type, \
             target_id, metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(format!("audit_{}", uuid::Uuid::new_v4().simple()))
        .bind(event.actor_type)
        .bind(&event.actor_id)
        .bind(event.event_type)
        .bind(event.target_type)
        .bind(&event.target_id)
        .bind(event.stored_metadata())
        .bind($now)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use record_audit;

/// An audit event as read back.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct StoredAuditEvent {
    /// The event id.
    pub event_id: String,
    /// `user`, `api_token` or `system`.
    pub actor_type: String,
    /// Who.
    pub actor_id: String,
    /// What happened.
    pub event_type: String,
    /// To what kind of thing.
    pub target_type: String,
    /// To which one.
    pub target_id: String,
    /// The redacted metadata, as JSON text.
    pub metadata: String,
    /// When, in unix milliseconds.
    pub created_at: i64,
}

impl CloudStore {
    /// Records an audit event that goes with no change (a refusal worth keeping).
    pub async fn record_audit(&self, event: &AuditEvent, now: i64) -> Result<(), StoreError> {
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            record_audit!(tx, event, now);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The most recent audit events, newest first.
    pub async fn audit_events(&self, limit: u32) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let events = crate::with_reader!(&self.db, |pool| {
            sqlx::query_as::<_, StoredAuditEvent>(
                "SELECT event_id, actor_type, actor_id, event_type, target_type, target_id, metadata, created_at \
                 FROM cloud_audit_events ORDER BY seq DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_metadata_is_redacted_and_long_text_cut() {
        let event = AuditEvent {
            event_type: "channel_binding.updated",
            actor_type: "system",
            actor_id: "command-line".into(),
            target_type: "channel_binding",
            target_id: "b".into(),
            metadata: json!({
                "credentialRef": "env:SLACK_TOKEN",
                "plaintextToken": "occ_x",
                "channelBindingId": "b",
                "displayName": "x".repeat(300),
                "settings": {"a": 1},
                "scopes": ["gateway"],
            }),
        };
        let stored: Value = serde_json::from_str(&event.stored_metadata()).expect("json");
        assert_eq!(stored["credentialRef"], "[redacted]");
        assert_eq!(stored["plaintextToken"], "[redacted]");
        assert_eq!(stored["channelBindingId"], "b");
        assert_eq!(stored["displayName"].as_str().map(str::len), Some(256));
        assert_eq!(stored["settings"], "[object]");
        assert_eq!(stored["scopes"], json!(["gateway"]));
    }
}
