//! The public JSON of admin records, as Open Cowork's API answers them: camelCase, ISO times,
//! the organization id, and no secret (a token's hash, a binding's credential reference).

use serde_json::{Value, json};

use super::ORG_ID;
use crate::clock::iso8601;
use crate::redact::Redactor;
use crate::store::{AgentRecord, BindingRecord, TokenRecord};

/// A headless agent.
pub fn agent(agent: &AgentRecord) -> Value {
    json!({
        "agentId": agent.agent_id,
        "orgId": ORG_ID,
        "tenantId": ORG_ID,
        "profileName": agent.profile_name,
        "name": agent.name,
        "status": agent.status,
        "managed": agent.managed != 0,
        "createdByAccountId": Value::Null,
        "createdAt": iso8601(agent.created_at),
        "updatedAt": iso8601(agent.updated_at),
    })
}

/// A channel binding: the credential reference becomes whether one is set and its kind, and
/// the settings are deep-redacted.
pub fn binding(binding: &BindingRecord) -> Value {
    let settings: Value = serde_json::from_str(&binding.settings).unwrap_or_else(|_| json!({}));
    json!({
        "bindingId": binding.binding_id,
        "orgId": ORG_ID,
        "agentId": binding.agent_id,
        "provider": binding.provider_id,
        "externalWorkspaceId": binding.external_workspace_id,
        "displayName": binding.display_name,
        "status": binding.status,
        "credentialRefConfigured": binding.credential_ref.is_some(),
        "credentialRefKind": binding.credential_ref.as_deref().map(credential_ref_kind),
        "settings": Redactor::default().redact_json(&settings),
        "createdAt": iso8601(binding.created_at),
        "updatedAt": iso8601(binding.updated_at),
    })
}

/// An API token, without its hash.
pub fn token(token: &TokenRecord) -> Value {
    json!({
        "tokenId": token.id,
        "orgId": ORG_ID,
        "accountId": Value::Null,
        "name": token.name,
        "scopes": token.scopes.names(),
        "last4": token.last4,
        "expiresAt": iso8601(token.expires_at),
        "revokedAt": token.revoked_at.map(iso8601),
        "lastUsedAt": token.last_used_at.map(iso8601),
        "createdAt": iso8601(token.created_at),
        "updatedAt": iso8601(token.updated_at),
        "channelBindingIds": token.channel_binding_ids,
    })
}

/// The kind of a credential reference, as Open Cowork reports it.
fn credential_ref_kind(reference: &str) -> &'static str {
    let reference = reference.trim();
    if reference.starts_with("env:") {
        "env"
    } else if reference.starts_with("gcp-sm://") {
        "gcp-secret-manager"
    } else if reference.starts_with("aws-sm://") {
        "aws-secrets-manager"
    } else if reference.starts_with("azure-kv://")
        || (reference.starts_with("https://") && reference.contains(".vault.azure.net/secrets/"))
    {
        "azure-key-vault"
    } else {
        "secret-ref"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_never_shows_its_credential_or_secret_settings() {
        let record = BindingRecord {
            binding_id: "b".into(),
            agent_id: Some("a".into()),
            provider_id: "slack".into(),
            external_workspace_id: Some("T1".into()),
            display_name: "Slack".into(),
            status: "active".into(),
            credential_ref: Some("env:SLACK_BOT_TOKEN".into()),
            settings: json!({"botToken": "xoxb-123-456", "note": "Bearer abc.def", "defaultProjectSource": "git"})
                .to_string(),
            agent: "build".into(),
            created_at: 0,
            updated_at: 0,
        };
        let public = binding(&record);
        let text = public.to_string();
        assert!(!text.contains("SLACK_BOT_TOKEN") && !text.contains("xoxb-123") && !text.contains("abc.def"), "{text}");
        assert_eq!(public["credentialRefConfigured"], true);
        assert_eq!(public["credentialRefKind"], "env");
        assert_eq!(public["settings"]["defaultProjectSource"], "git");
        assert_eq!(public["orgId"], "default");
        assert_eq!(credential_ref_kind("https://x.vault.azure.net/secrets/y"), "azure-key-vault");
        assert_eq!(credential_ref_kind("vault:kv/slack"), "secret-ref");
    }
}
