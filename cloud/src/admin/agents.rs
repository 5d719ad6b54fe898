//! Headless agents: `GET|POST /api/channels/agents` and `open-cowork-cloud agents`.

use serde::Deserialize;
use serde_json::Value;

use super::{Admin, ORG_ID, public, validate};
use crate::api::{ApiError, PROFILE_NAME};
use crate::auth::Principal;
use crate::store::AgentRecord;

/// A new agent, as the API takes it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAgent {
    /// An id seed: taken as is from the command line, hashed into `channel_agent_…` from the API.
    pub agent_id: Option<String>,
    /// The agent's name (required).
    pub name: Option<String>,
    /// The cloud profile (this cloud has one, `default`).
    pub profile_name: Option<String>,
    /// `active` (default) or `disabled`.
    pub status: Option<String>,
    /// Whether an automation manages it.
    pub managed: Option<bool>,
}

/// Changes to an agent; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentPatch {
    /// A new name.
    pub name: Option<String>,
    /// The cloud profile (this cloud has one, `default`).
    pub profile_name: Option<String>,
    /// `active` or `disabled`.
    pub status: Option<String>,
    /// Whether an automation manages it.
    pub managed: Option<bool>,
}

impl Admin {
    /// Creates a headless agent (201 `{agent}`); an id that exists answers the stored agent.
    pub async fn create_agent(&self, principal: &Principal, input: NewAgent) -> Result<Value, ApiError> {
        principal.require_admin("Channel administration")?;
        self.billing.check(crate::billing::GatedAction::ChannelManage)?;
        let name = validate::required_text("name", input.name.as_deref())?;
        let profile_name = validate::optional_text("profileName", input.profile_name.as_deref())?
            .unwrap_or_else(|| PROFILE_NAME.to_owned());
        if profile_name != PROFILE_NAME {
            return Err(validate::invalid(format!(
                "profileName must be {PROFILE_NAME:?}: this cloud has one profile."
            )));
        }
        let agent_id = resource_id(principal, "agentId", "channel_agent_", input.agent_id.as_deref())?;
        let now = self.now();
        let record = AgentRecord {
            agent_id,
            name,
            profile_name,
            status: validate::one_of("status", input.status.as_deref(), &["active", "disabled"], "active")?,
            managed: i64::from(input.managed.unwrap_or(false)),
            created_at: now,
            updated_at: now,
        };
        let (stored, _) = self.store.create_agent(&record, principal.actor()).await?;
        Ok(public::agent(&stored))
    }

    /// Changes an agent (200 `{agent}`, 404 when there is none).
    pub async fn update_agent(
        &self,
        principal: &Principal,
        agent_id: &str,
        patch: AgentPatch,
    ) -> Result<Value, ApiError> {
        principal.require_admin("Channel administration")?;
        let name = match patch.name.as_deref() {
            Some(name) => Some(validate::required_text("name", Some(name))?),
            None => None,
        };
        if let Some(profile) = patch.profile_name.as_deref()
            && profile.trim() != PROFILE_NAME
        {
            return Err(validate::invalid(format!(
                "profileName must be {PROFILE_NAME:?}: this cloud has one profile."
            )));
        }
        let status = match patch.status.as_deref() {
            Some(status) => Some(validate::one_of("status", Some(status), &["active", "disabled"], "active")?),
            None => None,
        };
        let updated = self
            .store
            .update_agent(agent_id, name.as_deref(), status.as_deref(), patch.managed, principal.actor(), self.now())
            .await?;
        updated.as_ref().map(public::agent).ok_or_else(|| ApiError::NotFound("Headless agent was not found.".into()))
    }

    /// Agents, most recently changed first.
    pub async fn list_agents(&self, principal: &Principal, limit: u32) -> Result<Vec<Value>, ApiError> {
        principal.require_admin("Channel administration")?;
        Ok(self.store.agents(limit).await?.iter().map(public::agent).collect())
    }
}

/// The id of a new agent or binding: the command line names it; from the API the caller's id
/// is a seed hashed with the organization (as Open Cowork does, so ids cannot collide across
/// organizations); without one a random id.
pub(super) fn resource_id(
    principal: &Principal,
    field: &str,
    prefix: &str,
    seed: Option<&str>,
) -> Result<String, ApiError> {
    let seed = validate::optional_text(field, seed)?;
    Ok(match (principal, seed) {
        (Principal::CommandLine, Some(seed)) => validate::verbatim_id(field, &seed)?,
        (_, Some(seed)) => crate::ids::stable_id(prefix, &[ORG_ID, &seed]),
        (_, None) => format!("{prefix}{}", uuid::Uuid::new_v4().simple()),
    })
}
