//! The public JSON of channel records, in Open Cowork's shapes.

use serde_json::{Value, json};

use crate::admin::ORG_ID;
use crate::api::PROFILE_NAME;
use crate::clock::iso8601;
use crate::redact::Redactor;
use crate::store::{IdentityRecord, SessionBindingRecord, SessionRecord};

/// Empty text as `null`, as Open Cowork stores absent workspace ids.
fn nullable(text: &str) -> Value {
    if text.is_empty() { Value::Null } else { Value::String(text.to_owned()) }
}

/// A channel identity.
pub fn identity(identity: &IdentityRecord) -> Value {
    let metadata: Value = serde_json::from_str(&identity.metadata).unwrap_or_else(|_| json!({}));
    json!({
        "identityId": identity.identity_id,
        "orgId": ORG_ID,
        "channelBindingId": identity.binding_id,
        "provider": identity.provider,
        "externalWorkspaceId": nullable(&identity.external_workspace_id),
        "externalUserId": identity.external_user_id,
        "accountId": Value::Null,
        "role": identity.role,
        "status": identity.status,
        "metadata": Redactor::default().redact_json(&metadata),
        "createdAt": iso8601(identity.created_at),
        "updatedAt": iso8601(identity.updated_at),
    })
}

/// A session binding; `agent_id` is its channel binding's headless agent.
pub fn session_binding(binding: &SessionBindingRecord, agent_id: Option<&str>) -> Value {
    json!({
        "bindingId": binding.binding_id,
        "orgId": ORG_ID,
        "agentId": agent_id,
        "channelBindingId": binding.channel_binding_id,
        "provider": binding.provider,
        "externalWorkspaceId": nullable(&binding.external_workspace_id),
        "externalThreadId": binding.external_thread_id,
        "externalChatId": binding.external_chat_id,
        "sessionId": binding.session_id,
        "lastEventSequence": binding.last_event_sequence,
        "lastWorkspaceSequence": binding.last_workspace_sequence,
        "lastChatMessageId": binding.last_chat_message_id,
        "status": binding.status,
        "createdAt": iso8601(binding.created_at),
        "updatedAt": iso8601(binding.updated_at),
    })
}

/// A session record.
pub fn session(session: &SessionRecord) -> Value {
    json!({
        "tenantId": ORG_ID,
        "userId": Value::Null,
        "sessionId": session.session_id,
        "opencodeSessionId": "",
        "profileName": PROFILE_NAME,
        "status": session.status,
        "title": session.title,
        "createdAt": iso8601(session.created_at),
        "updatedAt": iso8601(session.updated_at),
    })
}

/// A command's state in Open Cowork's vocabulary (`pending`, `running`, `acked`, `failed`).
pub fn command_status(state: &str) -> &'static str {
    match state {
        "running" => "running",
        "done" => "acked",
        "failed" => "failed",
        _ => "pending",
    }
}
