//! `POST /api/channels/interactions` and `…/interactions/resolve`: the approval and question
//! tokens an Open Cowork gateway embeds in its buttons. A token is `occi_<interactionId>_<secret>`,
//! stored only as a keyed hash and usable once; who may resolve it is decided here (an identity
//! allowed to approve, in the same workspace and chat as the session's thread), and every
//! refusal of a lookup or an actor is the same 404, so a token's existence is never revealed.

use serde::Deserialize;
use serde_json::{Value, json};

use cowork_cloud_client::{CommandBody, IdentityId, NewCommand, SessionId};

use super::{ActorRef, Channels, GatewayScope, binding_out_of_scope};
use crate::admin::{ORG_ID, validate};
use crate::api::ApiError;
use crate::auth::Principal;
use crate::auth::token::random_base64url;
use crate::clock::iso8601;
use crate::store::{AuditEvent, InsertOutcome, InteractionRecord, InteractionUse, SessionBindingRecord};

/// The prefix of every interaction token.
const TOKEN_PREFIX: &str = "occi_";

/// The prefix of every interaction id (followed by 32 hex digits).
const ID_PREFIX: &str = "channel_interaction_";

/// How long an interaction stays pending without an `expiresAt`.
const DEFAULT_TTL_MS: i64 = 10 * 60 * 1000;

/// The longest life an interaction may be given.
const MAX_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Random bytes in a generated token secret.
const SECRET_BYTES: usize = 24;

/// `POST /api/channels/interactions`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateInteraction {
    /// A seed for the id (hashed with the channel binding); random when absent.
    pub interaction_id: Option<String>,
    /// The headless agent of the session's binding.
    pub agent_id: Option<String>,
    /// The thread's session binding (default: the one active granted binding of the session).
    pub session_binding_id: Option<String>,
    /// The session.
    pub session_id: Option<String>,
    /// The provider id.
    pub provider: Option<String>,
    /// `permission` or `question`.
    pub kind: Option<String>,
    /// The permission id or question request id.
    pub target_id: Option<String>,
    /// The platform's id of the rendered prompt.
    pub external_interaction_id: Option<String>,
    /// When it lapses (RFC 3339; default in 10 minutes).
    pub expires_at: Option<String>,
    /// The token's secret part (tests pin it); random when absent.
    pub token_secret: Option<String>,
}

/// `POST /api/channels/interactions/resolve`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveInteraction {
    /// The token from the button or command.
    pub token: Option<String>,
    /// The provider (with `externalInteractionId`, or naming the responder).
    pub provider: Option<String>,
    /// The platform's id of the rendered prompt, instead of a token.
    pub external_interaction_id: Option<String>,
    /// The responder's identity.
    pub identity_id: Option<String>,
    /// The responder's platform workspace.
    pub external_workspace_id: Option<String>,
    /// The responder's platform user.
    pub external_user_id: Option<String>,
    /// The chat the response came from.
    pub external_chat_id: Option<String>,
    /// A permission's answer: `true`, `"allow"`, `"once"` or `{"allowed": true}` allow.
    pub response: Option<Value>,
    /// A question's answers.
    pub answers: Option<Vec<Value>>,
    /// Declines a question.
    pub reject: Option<bool>,
}

/// The identical answer for a token that is missing, expired, used, out of scope, or presented
/// by someone who may not use it.
fn not_pending() -> ApiError {
    ApiError::NotFound("Channel interaction was not found or is no longer pending.".into())
}

/// The interaction id inside a token, when the token has the right shape.
fn token_interaction_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let id_len = ID_PREFIX.len() + 32;
    let id = rest.get(..id_len)?;
    let secret = rest.get(id_len..)?.strip_prefix('_')?;
    let well_formed =
        id.strip_prefix(ID_PREFIX).is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit())) && is_secret(secret);
    well_formed.then_some(id)
}

fn is_secret(secret: &str) -> bool {
    (16..=128).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a permission response allows, as Open Cowork's worker reads it.
fn allows(response: Option<&Value>) -> bool {
    match response {
        Some(Value::Bool(allowed)) => *allowed,
        Some(Value::String(text)) => text == "allow" || text == "once",
        Some(Value::Object(object)) => object.get("allowed") == Some(&Value::Bool(true)),
        _ => false,
    }
}

/// A question's answers as text: strings as they are, lists of strings joined.
fn answers(values: Option<Vec<Value>>) -> Result<Vec<String>, ApiError> {
    let refused = || validate::invalid("answers must be a list of strings or of lists of strings.");
    let text_of = |value: &Value| value.as_str().map(str::to_owned).ok_or_else(refused);
    let answers = values
        .unwrap_or_default()
        .iter()
        .map(|value| match value {
            Value::Array(parts) => parts.iter().map(text_of).collect::<Result<Vec<_>, _>>().map(|p| p.join(", ")),
            other => text_of(other),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if answers.len() > 64 || answers.iter().any(|a| a.chars().count() > super::MAX_PROMPT_CHARS) {
        return Err(validate::invalid("answers must be at most 64 answers of at most 64 KiB each."));
    }
    Ok(answers)
}

impl Channels {
    /// Issues an interaction token: 201 `{interaction, plaintextToken}`.
    pub async fn create_interaction(
        &self,
        principal: &Principal,
        request: CreateInteraction,
    ) -> Result<Value, ApiError> {
        let scope = self.gateway_scope(principal).await?;
        let missing =
            || validate::invalid("Channel interaction requires agentId, sessionId, provider, kind, and targetId.");
        let agent_id = validate::optional_text("agentId", request.agent_id.as_deref())?.ok_or_else(missing)?;
        let session_id = validate::optional_text("sessionId", request.session_id.as_deref())?.ok_or_else(missing)?;
        let target_id = validate::optional_text("targetId", request.target_id.as_deref())?.ok_or_else(missing)?;
        // A blank provider or kind is as missing as an absent one (a blank kind would otherwise
        // fall back to `permission`).
        let blank = |value: Option<&str>| value.is_none_or(|text| text.trim().is_empty());
        if blank(request.provider.as_deref()) || blank(request.kind.as_deref()) {
            return Err(missing());
        }
        let provider = validate::provider(request.provider.as_deref())?;
        let kind = validate::one_of("kind", request.kind.as_deref(), &["permission", "question"], "permission")?;
        let external = validate::optional_text("externalInteractionId", request.external_interaction_id.as_deref())?;
        let now = self.service.now_ms();
        let expires_at = validate::instant("expiresAt", request.expires_at.as_deref())?.unwrap_or(now + DEFAULT_TTL_MS);
        if expires_at <= now || expires_at - now > MAX_TTL_MS {
            return Err(validate::invalid("expiresAt must be in the future and at most 7 days away."));
        }
        let secret = match request.token_secret.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(secret) if is_secret(secret) => secret.to_owned(),
            Some(_) => return Err(validate::invalid("tokenSecret must be 16-128 of A-Z a-z 0-9 - _.")),
            None => random_base64url(SECRET_BYTES),
        };
        let session_binding = match validate::optional_text("sessionBindingId", request.session_binding_id.as_deref())?
        {
            Some(id) => self.session_binding(&scope, Some(&id)).await?,
            None => self.unique_session_binding(&scope, &session_id, &provider, &agent_id).await?,
        };
        let binding = self.channel_binding(&scope, &session_binding.channel_binding_id).await?;
        if session_binding.session_id != session_id
            || binding.agent_id.as_deref() != Some(agent_id.as_str())
            || session_binding.provider != provider
        {
            return Err(binding_out_of_scope());
        }
        if self.service.store().agent(&agent_id).await?.is_none() {
            return Err(ApiError::NotFound("Headless agent was not found.".into()));
        }
        let seed = validate::optional_text("interactionId", request.interaction_id.as_deref())?
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let interaction_id = crate::ids::stable_id(ID_PREFIX, &[ORG_ID, &binding.binding_id, &seed]);
        let token = format!("{TOKEN_PREFIX}{interaction_id}_{secret}");
        let record = InteractionRecord {
            interaction_id,
            agent_id,
            channel_binding_id: binding.binding_id.clone(),
            session_binding_id: session_binding.binding_id.clone(),
            session_id,
            provider,
            external_interaction_id: external,
            token_hash: self.hasher.hash(&token),
            kind,
            target_id,
            status: "pending".into(),
            resolved_by_identity_id: None,
            command_id: None,
            expires_at,
            used_at: None,
            created_at: now,
            updated_at: now,
        };
        match self.service.store().insert_interaction(&record).await? {
            InsertOutcome::Created(stored) => {
                Ok(json!({ "interaction": public_interaction(&stored), "plaintextToken": token }))
            }
            InsertOutcome::Taken => Err(ApiError::Conflict("Channel resource id is unavailable.".into())),
        }
    }

    /// The one active, granted session binding of a session for this provider and agent.
    async fn unique_session_binding(
        &self,
        scope: &GatewayScope,
        session_id: &str,
        provider: &str,
        agent_id: &str,
    ) -> Result<SessionBindingRecord, ApiError> {
        let mut matches = Vec::new();
        for candidate in self.service.store().session_bindings_of_session(session_id).await? {
            if candidate.status != "active"
                || candidate.provider != provider
                || !scope.allows(&candidate.channel_binding_id)
            {
                continue;
            }
            let binding = self.service.store().binding(&candidate.channel_binding_id).await?;
            if binding.and_then(|b| b.agent_id).as_deref() == Some(agent_id) {
                matches.push(candidate);
            }
        }
        if matches.len() == 1 { Ok(matches.remove(0)) } else { Err(binding_out_of_scope()) }
    }

    /// Resolves an interaction and queues its command: 202 `{interaction, command, processed,
    /// view, projectionFence}`; a second resolution is 409.
    pub async fn resolve_interaction(
        &self,
        principal: &Principal,
        request: ResolveInteraction,
    ) -> Result<Value, ApiError> {
        let scope = self.gateway_scope(principal).await?;
        let found = self.find_interaction(&scope, &request).await?;
        if !self.policy.allow_remote_approvals {
            // Decided before anything about the token is checked, so a refusal says nothing
            // about whether it exists.
            self.audit_remote_denial(principal, found.as_ref()).await;
            return Err(ApiError::forbidden(
                "gateway-remote-approval-disabled",
                "Remote approval responses are disabled for this cloud.",
            ));
        }
        let interaction = found.ok_or_else(not_pending)?;
        let now = self.service.now_ms();
        if interaction.status == "pending" && interaction.expires_at <= now {
            self.service.store().expire_interaction(&interaction.interaction_id, now).await?;
            return Err(not_pending());
        }
        if interaction.status != "pending" {
            return Err(not_pending());
        }
        let (session_binding, binding) = self.interaction_thread(&scope, &interaction).await?;
        let actor =
            ActorRef { identity_id: request.identity_id.clone(), external_user_id: request.external_user_id.clone() };
        let identity = self.actor(&binding.binding_id, &actor, true).await.map_err(|_| not_pending())?;
        let workspace = validate::optional_text("externalWorkspaceId", request.external_workspace_id.as_deref())?;
        let chat = validate::optional_text("externalChatId", request.external_chat_id.as_deref())?;
        // A responder named under another provider is not this identity.
        let named_provider = request.provider.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let same_provider =
            identity.provider == interaction.provider && named_provider.is_none_or(|p| p == interaction.provider);
        let same_workspace = identity.external_workspace_id == session_binding.external_workspace_id
            && workspace.as_ref().is_none_or(|w| *w == identity.external_workspace_id);
        let same_chat = chat.as_ref().is_none_or(|c| *c == session_binding.external_chat_id);
        if !same_provider || !same_workspace || !same_chat {
            return Err(not_pending());
        }
        let body = match (interaction.kind.as_str(), request.reject == Some(true)) {
            ("permission", _) => CommandBody::PermissionRespond {
                permission_id: interaction.target_id.clone(),
                allowed: allows(request.response.as_ref()),
            },
            (_, true) => CommandBody::QuestionReject { request_id: interaction.target_id.clone() },
            (_, false) => CommandBody::QuestionReply {
                request_id: interaction.target_id.clone(),
                answers: answers(request.answers)?,
            },
        };
        let session = SessionId::new(&interaction.session_id);
        let command = NewCommand {
            idempotency_key: format!("interaction:{}", interaction.interaction_id),
            actor: IdentityId::new(identity.identity_id.clone()),
            body,
            trace: None,
        };
        let command_id = crate::ids::command_id(&session, &command.idempotency_key);
        let (actor_type, actor_id) = principal.actor();
        let audit = AuditEvent {
            event_type: super::command_audit_type(&command.body),
            actor_type,
            actor_id: actor_id.to_owned(),
            target_type: "channel_interaction",
            target_id: interaction.interaction_id.clone(),
            metadata: json!({
                "identityId": identity.identity_id,
                "provider": identity.provider,
                "sessionId": interaction.session_id,
                "targetId": interaction.target_id,
                "commandId": command_id,
                "authority": "cloud-channel-gateway",
            }),
        };
        let resolved =
            InteractionUse { interaction_id: &interaction.interaction_id, identity_id: &identity.identity_id };
        let submitted = self.service.submit_resolving(&session, &command, &audit, resolved).await?;
        let (_, command) = self.command_record(&session_binding, &command.body, &submitted).await?;
        let stored = self.service.store().interaction(&interaction.interaction_id).await?.ok_or_else(not_pending)?;
        Ok(json!({
            "interaction": public_interaction(&stored),
            "command": command,
            "processed": 0,
            "view": self.view(&interaction.session_id).await?,
            "projectionFence": Value::Null,
        }))
    }

    /// The interaction a token (or a provider's external id) names, within the scope.
    async fn find_interaction(
        &self,
        scope: &GatewayScope,
        request: &ResolveInteraction,
    ) -> Result<Option<InteractionRecord>, ApiError> {
        let store = self.service.store();
        if let Some(token) = request.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let Some(id) = token_interaction_id(token) else { return Ok(None) };
            let found = store.interaction(id).await?;
            // Ids are random hashes: finding one without its secret tells a caller nothing.
            return Ok(
                found.filter(|i| self.hasher.verify_text(token, &i.token_hash) && scope.allows(&i.channel_binding_id))
            );
        }
        let external = validate::optional_text("externalInteractionId", request.external_interaction_id.as_deref())?;
        let (Some(external), Some(provider)) = (external, request.provider.as_deref()) else {
            return Err(validate::invalid("token, or provider and externalInteractionId, is required."));
        };
        let mut matches: Vec<_> = store
            .interactions_by_external_id(provider.trim(), &external)
            .await?
            .into_iter()
            .filter(|i| scope.allows(&i.channel_binding_id))
            .collect();
        // Ambiguous across bindings counts as not found.
        Ok(if matches.len() == 1 { matches.pop() } else { None })
    }

    /// The interaction's thread and channel binding, both active and consistent with it.
    async fn interaction_thread(
        &self,
        scope: &GatewayScope,
        interaction: &InteractionRecord,
    ) -> Result<(SessionBindingRecord, crate::store::BindingRecord), ApiError> {
        let binding = self.service.store().binding(&interaction.channel_binding_id).await?;
        let binding =
            binding.filter(|b| b.status == "active" && scope.allows(&b.binding_id)).ok_or_else(not_pending)?;
        let session_binding = self.service.store().session_binding(&interaction.session_binding_id).await?;
        let consistent = session_binding.filter(|s| {
            s.status == "active"
                && s.channel_binding_id == interaction.channel_binding_id
                && s.session_id == interaction.session_id
                && s.provider == interaction.provider
                && binding.agent_id.as_deref() == Some(interaction.agent_id.as_str())
        });
        Ok((consistent.ok_or_else(not_pending)?, binding))
    }

    /// Keeps a refusal under the remote-approval switch in the audit trail (never the token).
    async fn audit_remote_denial(&self, principal: &Principal, found: Option<&InteractionRecord>) {
        let (actor_type, actor_id) = principal.actor();
        let event = AuditEvent {
            event_type: "channel_interaction.remote_policy.denied",
            actor_type,
            actor_id: actor_id.to_owned(),
            target_type: "channel_interaction",
            target_id: found.map_or_else(|| "unresolved".to_owned(), |i| i.interaction_id.clone()),
            metadata: json!({
                "authority": "cloud-channel-gateway",
                "sessionId": found.map_or("unresolved", |i| i.session_id.as_str()),
            }),
        };
        if let Err(error) = self.service.store().record_audit(&event, self.service.now_ms()).await {
            tracing::warn!(%error, "could not record a remote-approval refusal");
        }
    }
}

/// The public record: everything but the token hash.
fn public_interaction(interaction: &InteractionRecord) -> Value {
    json!({
        "interactionId": interaction.interaction_id,
        "orgId": ORG_ID,
        "agentId": interaction.agent_id,
        "channelBindingId": interaction.channel_binding_id,
        "sessionBindingId": interaction.session_binding_id,
        "sessionId": interaction.session_id,
        "provider": interaction.provider,
        "externalInteractionId": interaction.external_interaction_id,
        "kind": interaction.kind,
        "targetId": interaction.target_id,
        "status": interaction.status,
        "createdByIdentityId": Value::Null,
        "resolvedByIdentityId": interaction.resolved_by_identity_id,
        "commandId": interaction.command_id,
        "expiresAt": iso8601(interaction.expires_at),
        "usedAt": interaction.used_at.map(iso8601),
        "createdAt": iso8601(interaction.created_at),
        "updatedAt": iso8601(interaction.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_name_an_interaction() {
        let id = format!("{ID_PREFIX}{}", "a".repeat(32));
        let token = format!("occi_{id}_{}", "s".repeat(32));
        assert_eq!(token_interaction_id(&token), Some(id.as_str()));
        for bad in [
            String::new(),
            format!("occ_{id}_{}", "s".repeat(32)),
            format!("occi_{id}_short"),
            format!("occi_{id}{}", "s".repeat(32)),
            format!("occi_{ID_PREFIX}{}_{}", "g".repeat(32), "s".repeat(32)),
            format!("occi_{id}_{}!", "s".repeat(31)),
        ] {
            assert_eq!(token_interaction_id(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn permission_responses_allow_only_as_open_cowork_reads_them() {
        for yes in [json!(true), json!("allow"), json!("once"), json!({"allowed": true})] {
            assert!(allows(Some(&yes)), "{yes}");
        }
        for no in [json!(false), json!("deny"), json!("always"), json!({"allowed": "true"}), json!(1)] {
            assert!(!allows(Some(&no)), "{no}");
        }
        assert!(!allows(None));
    }

    #[test]
    fn answers_are_strings_or_lists_of_strings() {
        assert_eq!(answers(Some(vec![json!("a"), json!(["b", "c"])])).ok(), Some(vec!["a".into(), "b, c".into()]));
        assert!(answers(Some(vec![json!(1)])).is_err());
        assert!(answers(Some(vec![json!([{"x": 1}])])).is_err());
        assert_eq!(answers(None).ok(), Some(Vec::new()));
    }
}
