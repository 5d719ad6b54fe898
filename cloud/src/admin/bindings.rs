//! Channel bindings: `GET|POST|PATCH /api/channels/bindings` and `open-cowork-cloud bindings`.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::agents::resource_id;
use super::{Admin, public, validate};
use crate::api::ApiError;
use crate::auth::Principal;
use crate::store::{BindingChanges, BindingRecord};

/// The runtime agent a binding's prompts run on when they name none (Open Cowork's default).
pub const DEFAULT_AGENT: &str = "build";

/// The statuses a binding can have; only `active` bindings serve gateways.
const STATUSES: [&str; 4] = ["active", "disabled", "auth_required", "error"];

/// A new binding, as the API takes it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewBinding {
    /// An id seed: taken as is from the command line, hashed into `channel_binding_…` from the API.
    pub binding_id: Option<String>,
    /// The headless agent (required; it must exist).
    pub agent_id: Option<String>,
    /// The provider id (required).
    pub provider: Option<String>,
    /// A name to show (required).
    pub display_name: Option<String>,
    /// The platform workspace (a Slack team id, ...).
    pub external_workspace_id: Option<String>,
    /// `active` (default), `disabled`, `auth_required` or `error`.
    pub status: Option<String>,
    /// A reference to the platform credential (`env:NAME`, `aws-sm://…`, ...).
    pub credential_ref: Option<String>,
    /// Settings (a JSON object of at most 16 KiB).
    pub settings: Option<Value>,
}

/// Changes to a binding; absent fields stay as they are, `credentialRef: null` clears it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingPatch {
    /// A new name.
    pub display_name: Option<String>,
    /// A new status.
    pub status: Option<String>,
    /// A new credential reference, or `null` to clear it.
    #[serde(default, deserialize_with = "present")]
    pub credential_ref: Option<Option<String>>,
    /// New settings.
    pub settings: Option<Value>,
}

/// Tells a field given as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

impl Admin {
    /// Creates a binding for an existing agent (201 `{binding}`); an id that exists answers the
    /// stored binding.
    pub async fn create_binding(&self, principal: &Principal, input: NewBinding) -> Result<Value, ApiError> {
        principal.require_admin("Channel administration")?;
        self.billing.check(crate::billing::GatedAction::ChannelManage)?;
        let agent_id = validate::required_text("agentId", input.agent_id.as_deref())?;
        let provider_id = validate::provider(input.provider.as_deref())?;
        let display_name = validate::required_text("displayName", input.display_name.as_deref())?;
        let binding_id = resource_id(principal, "bindingId", "channel_binding_", input.binding_id.as_deref())?;
        let record = BindingRecord {
            binding_id,
            agent_id: Some(agent_id.clone()),
            provider_id,
            external_workspace_id: validate::optional_text(
                "externalWorkspaceId",
                input.external_workspace_id.as_deref(),
            )?,
            display_name,
            status: validate::one_of("status", input.status.as_deref(), &STATUSES, "active")?,
            credential_ref: validate::optional_text("credentialRef", input.credential_ref.as_deref())?,
            settings: validate::json_object("settings", input.settings.as_ref())?,
            agent: DEFAULT_AGENT.to_owned(),
            created_at: self.now(),
            updated_at: self.now(),
        };
        if self.store.agent(&agent_id).await?.is_none() {
            return Err(ApiError::NotFound("Headless agent was not found.".into()));
        }
        let (stored, _) = self.store.create_binding(&record, principal.actor()).await?;
        Ok(public::binding(&stored))
    }

    /// Bindings (of one agent, when given), most recently changed first.
    pub async fn list_bindings(
        &self,
        principal: &Principal,
        agent_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Value>, ApiError> {
        principal.require_admin("Channel administration")?;
        let agent_id = validate::optional_text("agentId", agent_id)?;
        Ok(self.store.bindings(agent_id.as_deref(), limit).await?.iter().map(public::binding).collect())
    }

    /// Changes a binding (200 `{binding}`, 404 when there is none).
    pub async fn update_binding(
        &self,
        principal: &Principal,
        binding_id: &str,
        patch: BindingPatch,
    ) -> Result<Value, ApiError> {
        principal.require_admin("Channel administration")?;
        let changes = BindingChanges {
            display_name: match patch.display_name.as_deref() {
                Some(name) => Some(validate::required_text("displayName", Some(name))?),
                None => None,
            },
            status: match patch.status.as_deref() {
                Some(status) => Some(validate::one_of("status", Some(status), &STATUSES, "active")?),
                None => None,
            },
            credential_ref: match patch.credential_ref {
                Some(reference) => Some(validate::optional_text("credentialRef", reference.as_deref())?),
                None => None,
            },
            settings: match patch.settings.as_ref() {
                Some(settings) => Some(validate::json_object("settings", Some(settings))?),
                None => None,
            },
        };
        let updated = self.store.update_binding(binding_id, &changes, principal.actor(), self.now()).await?;
        updated.as_ref().map(public::binding).ok_or_else(|| ApiError::NotFound("Channel binding was not found.".into()))
    }
}

impl Admin {
    /// Channel identities (of one binding, when given), most recently changed first.
    pub async fn list_identities(
        &self,
        principal: &Principal,
        channel_binding_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Value>, ApiError> {
        principal.require_admin("Channel administration")?;
        let binding = validate::optional_text("channelBindingId", channel_binding_id)?;
        let identities = self.store.identities(binding.as_deref(), limit).await?;
        Ok(identities.iter().map(crate::channels::public::identity).collect())
    }
}
