//! Headless agents: what a channel binding serves its sessions with.

use super::CloudStore;
use super::audit::{AuditEvent, record_audit};
use crate::error::StoreError;

/// A stored headless agent.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct AgentRecord {
    /// The agent id.
    pub agent_id: String,
    /// Its name.
    pub name: String,
    /// The cloud profile its sessions use.
    pub profile_name: String,
    /// `active` or `disabled`.
    pub status: String,
    /// 1 when an automation manages it (informational).
    pub managed: i64,
    /// When it was created, unix ms.
    pub created_at: i64,
    /// When it last changed, unix ms.
    pub updated_at: i64,
}

const AGENT_COLUMNS: &str = "agent_id, name, profile_name, status, managed, created_at, updated_at";

impl CloudStore {
    /// Creates an agent; when the id exists already, answers the stored one and `false`.
    pub async fn create_agent(
        &self,
        agent: &AgentRecord,
        actor: (&'static str, &str),
    ) -> Result<(AgentRecord, bool), StoreError> {
        let select = format!("SELECT {AGENT_COLUMNS} FROM cloud_agents WHERE agent_id = $1");
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO cloud_agents (agent_id, name, profile_name, status, managed, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (agent_id) DO NOTHING",
            )
            .bind(&agent.agent_id)
            .bind(&agent.name)
            .bind(&agent.profile_name)
            .bind(&agent.status)
            .bind(agent.managed)
            .bind(agent.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if inserted {
                let event = AuditEvent {
                    event_type: "headless_agent.created",
                    actor_type: actor.0,
                    actor_id: actor.1.to_owned(),
                    target_type: "headless_agent",
                    target_id: agent.agent_id.clone(),
                    metadata: serde_json::json!({
                        "name": agent.name, "profileName": agent.profile_name, "status": agent.status,
                    }),
                };
                record_audit!(tx, &event, agent.created_at);
            }
            let stored: AgentRecord = sqlx::query_as(&select).bind(&agent.agent_id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok((stored, inserted))
        })
    }

    /// Changes an agent's name, status or managed flag (`None` keeps a field), with an audit
    /// event; `None` when there is no such agent.
    pub async fn update_agent(
        &self,
        agent_id: &str,
        name: Option<&str>,
        status: Option<&str>,
        managed: Option<bool>,
        actor: (&'static str, &str),
        now: i64,
    ) -> Result<Option<AgentRecord>, StoreError> {
        let select = format!("SELECT {AGENT_COLUMNS} FROM cloud_agents WHERE agent_id = $1");
        crate::with_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE cloud_agents SET name = COALESCE($2, name), status = COALESCE($3, status), \
                 managed = COALESCE($4, managed), updated_at = $5 WHERE agent_id = $1",
            )
            .bind(agent_id)
            .bind(name)
            .bind(status)
            .bind(managed.map(i64::from))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(None);
            }
            let event = AuditEvent {
                event_type: "headless_agent.updated",
                actor_type: actor.0,
                actor_id: actor.1.to_owned(),
                target_type: "headless_agent",
                target_id: agent_id.to_owned(),
                metadata: serde_json::json!({ "name": name, "status": status, "managed": managed }),
            };
            record_audit!(tx, &event, now);
            let stored: AgentRecord = sqlx::query_as(&select).bind(agent_id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(stored))
        })
    }

    /// Agents, most recently changed first.
    pub async fn agents(&self, limit: u32) -> Result<Vec<AgentRecord>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM cloud_agents ORDER BY updated_at DESC, agent_id LIMIT $1");
        let agents = crate::with_writer!(&self.db, |pool| {
            sqlx::query_as(&sql).bind(i64::from(limit)).fetch_all(pool).await?
        });
        Ok(agents)
    }

    /// One agent.
    pub async fn agent(&self, agent_id: &str) -> Result<Option<AgentRecord>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM cloud_agents WHERE agent_id = $1");
        let agent =
            crate::with_writer!(&self.db, |pool| { sqlx::query_as(&sql).bind(agent_id).fetch_optional(pool).await? });
        Ok(agent)
    }
}
