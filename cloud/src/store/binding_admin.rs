//! Channel bindings as operators manage them: created for a headless agent, listed, changed.

use super::CloudStore;
use super::audit::{AuditEvent, record_audit};
use crate::error::StoreError;

/// A stored channel binding.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct BindingRecord {
    /// The binding id.
    pub binding_id: String,
    /// The headless agent; `None` for a binding a standalone gateway provisioned.
    pub agent_id: Option<String>,
    /// The provider id (`slack`, `webhook`, `telegram-prod`, ...).
    pub provider_id: String,
    /// The platform workspace (a Slack team id, ...).
    pub external_workspace_id: Option<String>,
    /// A name to show.
    pub display_name: String,
    /// `active`, `disabled`, `auth_required` or `error`.
    pub status: String,
    /// A reference to the platform credential (never returned by the API).
    pub credential_ref: Option<String>,
    /// Settings, as JSON text.
    pub settings: String,
    /// The runtime agent a prompt that names none runs on.
    pub agent: String,
    /// When it was created, unix ms.
    pub created_at: i64,
    /// When it last changed, unix ms.
    pub updated_at: i64,
}

/// Changes to a binding; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BindingChanges {
    /// A new display name.
    pub display_name: Option<String>,
    /// A new status.
    pub status: Option<String>,
    /// A new credential reference (`Some(None)` clears it).
    pub credential_ref: Option<Option<String>>,
    /// New settings, as JSON text.
    pub settings: Option<String>,
}

impl BindingChanges {
    /// The names of the fields this changes, for the audit trail.
    fn field_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.display_name.is_some() {
            names.push("displayName");
        }
        if self.status.is_some() {
            names.push("status");
        }
        if self.credential_ref.is_some() {
            names.push("credentialRef");
        }
        if self.settings.is_some() {
            names.push("settings");
        }
        names
    }
}

const BINDING_COLUMNS: &str = "binding_id, agent_id, provider_id, external_workspace_id, display_name, status, \
                               credential_ref, settings, agent, created_at, updated_at";

impl CloudStore {
    /// Creates a binding; when the id exists already, answers the stored one and `false`.
    pub async fn create_binding(
        &self,
        binding: &BindingRecord,
        actor: (&'static str, &str),
    ) -> Result<(BindingRecord, bool), StoreError> {
        let select = format!("SELECT {BINDING_COLUMNS} FROM cloud_channel_bindings WHERE binding_id = $1");
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO cloud_channel_bindings (binding_id, agent_id, provider_id, external_workspace_id, \
                 display_name, status, credential_ref, settings, agent, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (binding_id) DO NOTHING",
            )
            .bind(&binding.binding_id)
            .bind(&binding.agent_id)
            .bind(&binding.provider_id)
            .bind(&binding.external_workspace_id)
            .bind(&binding.display_name)
            .bind(&binding.status)
            .bind(&binding.credential_ref)
            .bind(&binding.settings)
            .bind(&binding.agent)
            .bind(binding.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if inserted {
                let event = AuditEvent {
                    event_type: "channel_binding.created",
                    actor_type: actor.0,
                    actor_id: actor.1.to_owned(),
                    target_type: "channel_binding",
                    target_id: binding.binding_id.clone(),
                    metadata: serde_json::json!({
                        "agentId": binding.agent_id,
                        "provider": binding.provider_id,
                        "status": binding.status,
                    }),
                };
                record_audit!(tx, &event, binding.created_at);
            }
            let stored: BindingRecord = sqlx::query_as(&select).bind(&binding.binding_id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok((stored, inserted))
        })
    }

    /// Bindings (of one agent, when given), most recently changed first.
    pub async fn bindings(&self, agent_id: Option<&str>, limit: u32) -> Result<Vec<BindingRecord>, StoreError> {
        let sql = format!(
            "SELECT {BINDING_COLUMNS} FROM cloud_channel_bindings WHERE ($1 IS NULL OR agent_id = $1) \
             ORDER BY updated_at DESC, binding_id LIMIT $2"
        );
        let bindings = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(&sql).bind(agent_id).bind(i64::from(limit)).fetch_all(pool).await?
        });
        Ok(bindings)
    }

    /// One binding.
    pub async fn binding(&self, binding_id: &str) -> Result<Option<BindingRecord>, StoreError> {
        let sql = format!("SELECT {BINDING_COLUMNS} FROM cloud_channel_bindings WHERE binding_id = $1");
        let binding =
            crate::with_writer!(&self.db, |pool| { sqlx::query_as(&sql).bind(binding_id).fetch_optional(pool).await? });
        Ok(binding)
    }

    /// Applies `changes` to a binding, with an audit event; `None` when there is no such binding.
    pub async fn update_binding(
        &self,
        binding_id: &str,
        changes: &BindingChanges,
        actor: (&'static str, &str),
        now: i64,
    ) -> Result<Option<BindingRecord>, StoreError> {
        let select = format!("SELECT {BINDING_COLUMNS} FROM cloud_channel_bindings WHERE binding_id = $1");
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE cloud_channel_bindings SET \
                 display_name = COALESCE($2, display_name), status = COALESCE($3, status), \
                 credential_ref = CASE WHEN $4 = 1 THEN $5 ELSE credential_ref END, \
                 settings = COALESCE($6, settings), updated_at = $7 WHERE binding_id = $1",
            )
            .bind(binding_id)
            .bind(&changes.display_name)
            .bind(&changes.status)
            .bind(i64::from(changes.credential_ref.is_some()))
            .bind(changes.credential_ref.clone().flatten())
            .bind(&changes.settings)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(None);
            }
            let event = AuditEvent {
                event_type: "channel_binding.updated",
                actor_type: actor.0,
                actor_id: actor.1.to_owned(),
                target_type: "channel_binding",
                target_id: binding_id.to_owned(),
                metadata: serde_json::json!({ "fields": changes.field_names(), "status": changes.status }),
            };
            record_audit!(tx, &event, now);
            let stored: BindingRecord = sqlx::query_as(&select).bind(binding_id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(stored))
        })
    }
}
