//! The channel service a gateway calls: identities, thread-to-session binds, prompts and
//! aborts, snapshots, render cursors and the session event stream, each limited to the
//! bindings the caller's gateway token was granted (and whose binding is active).

pub mod deliveries;
pub mod interactions;
pub mod projection;
pub mod provider_events;
pub mod public;
mod quotas;
pub mod stream;
mod wakers;

use serde::Deserialize;
use serde_json::{Value, json};

use cowork_cloud_client::{BindThread, CommandBody, IdentityId, NewCommand, SessionId, TraceParent};

use crate::CloudService;
use crate::admin::validate;
use crate::api::ApiError;
use crate::auth::{Principal, Scope, TokenHasher};
use crate::store::{AuditEvent, BindingRecord, CursorUpdate, IdentityRecord, IdentityUpsert, SessionBindingRecord};
use projection::Projection;
pub use quotas::Quotas;

/// The longest prompt accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 64 * 1024;

/// Events read per page when folding or streaming a log.
pub(crate) const PAGE: u32 = 1000;

/// The longest `lastError` kept on a provider event or a delivery, in characters.
const MAX_ERROR_CHARS: usize = 1024;

/// A caller's `lastError` as stored: redacted and cut to [`MAX_ERROR_CHARS`].
fn stored_error(text: Option<&str>) -> Option<String> {
    text.map(|text| crate::redact::Redactor::default().redact(text).chars().take(MAX_ERROR_CHARS).collect())
}

/// The identical refusal for every sender who may not act on a session.
fn actor_refused() -> ApiError {
    ApiError::forbidden(
        "channels.actor_not_authorized",
        "Channel actor identity is not authorized for this channel session.",
    )
}

/// The identical answer for a session binding that is missing or outside the caller's grants.
fn session_binding_not_found() -> ApiError {
    ApiError::NotFound("Channel session binding was not found.".into())
}

/// The refusal for a binding outside the caller's grants.
fn binding_out_of_scope() -> ApiError {
    ApiError::forbidden(
        "channels.binding_scope_required",
        "Gateway API token is not authorized for the requested channel binding.",
    )
}

/// The active bindings a gateway token may act on.
#[derive(Clone, Debug)]
pub struct GatewayScope {
    grants: Vec<String>,
}

impl GatewayScope {
    /// Whether the scope covers `channel_binding_id`.
    pub fn allows(&self, channel_binding_id: &str) -> bool {
        self.grants.iter().any(|grant| grant == channel_binding_id)
    }

    fn require(&self, channel_binding_id: &str) -> Result<(), ApiError> {
        if self.allows(channel_binding_id) { Ok(()) } else { Err(binding_out_of_scope()) }
    }
}

/// `POST /api/channels/identities/resolve`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveIdentity {
    /// The provider id.
    pub provider: Option<String>,
    /// The sender.
    pub external_user_id: Option<String>,
    /// The channel binding (default: the one granted binding of this provider and workspace).
    pub channel_binding_id: Option<String>,
    /// The platform workspace.
    pub external_workspace_id: Option<String>,
    /// Metadata to keep.
    pub metadata: Option<Value>,
    /// A role to set (admin tokens only).
    pub role: Option<String>,
    /// A status to set (admin tokens only).
    pub status: Option<String>,
}

/// Who acts: an identity id, or a sender the binding knows.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorRef {
    /// The identity id.
    pub identity_id: Option<String>,
    /// The sender's platform id (with the provider and workspace).
    pub external_user_id: Option<String>,
}

/// `POST /api/channels/sessions/bind`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindSession {
    /// The channel binding.
    pub channel_binding_id: Option<String>,
    /// The provider id (must be the binding's).
    pub provider: Option<String>,
    /// The chat.
    pub external_chat_id: Option<String>,
    /// The thread.
    pub external_thread_id: Option<String>,
    /// The platform workspace (default: the binding's).
    pub external_workspace_id: Option<String>,
    /// A session the caller expects (it must be the thread's).
    pub session_id: Option<String>,
    /// A title for a new session.
    pub title: Option<String>,
    /// The render cursor to start from.
    pub last_event_sequence: Option<i64>,
    /// The workspace cursor to start from.
    pub last_workspace_sequence: Option<i64>,
    /// The last chat message posted.
    pub last_chat_message_id: Option<String>,
    /// Who binds.
    #[serde(flatten)]
    pub actor: ActorRef,
}

/// `POST /api/channels/sessions/prompt` and `/abort`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCommand {
    /// The session binding.
    pub binding_id: Option<String>,
    /// The prompt (prompts only).
    pub text: Option<String>,
    /// The runtime agent (default: the binding's).
    pub agent: Option<String>,
    /// Makes a retried request the same command.
    pub idempotency_key: Option<String>,
    /// Who sends it.
    #[serde(flatten)]
    pub actor: ActorRef,
    /// The trace the command continues (the request's `traceparent`).
    #[serde(skip)]
    pub trace: Option<TraceParent>,
}

/// `POST /api/channels/sessions/commands`: any session command, as the cloud queues it (this
/// cloud's extension; our gateway submits every command through it).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCommand {
    /// The session binding.
    pub binding_id: Option<String>,
    /// Makes a retried request the same command (required).
    pub idempotency_key: Option<String>,
    /// Who sends it (an identity id).
    pub identity_id: Option<String>,
    /// The command (`{"kind": "prompt", "text", "agent"}`, `{"kind": "abort"}`, ...).
    pub command: CommandBody,
    /// The trace the command continues (the request's `traceparent`).
    #[serde(skip)]
    pub trace: Option<TraceParent>,
}

/// `POST /api/channels/cursor`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CursorRequest {
    /// The session binding.
    pub binding_id: Option<String>,
    /// The last session event rendered.
    pub last_event_sequence: Option<i64>,
    /// The last workspace event rendered.
    pub last_workspace_sequence: Option<i64>,
    /// The last chat message posted.
    pub last_chat_message_id: Option<String>,
}

/// The channel operations.
#[derive(Clone, Debug)]
pub struct Channels {
    service: CloudService,
    quotas: Quotas,
    billing: crate::billing::Billing,
    hasher: TokenHasher,
    policy: ChannelPolicy,
    wakers: std::sync::Arc<wakers::Wakers>,
    /// Bumped when a delivery becomes due here, waking this process's delivery streams.
    deliveries_changed: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

/// How channel gateways may act, beyond their grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelPolicy {
    /// Whether approvals and answers may come from a channel through an interaction token
    /// (`OPEN_COWORK_CLOUD_ALLOW_REMOTE_APPROVAL_RESPONSES`, `cloud.allowRemoteApprovalResponses`;
    /// off by default, as in Open Cowork).
    pub allow_remote_approvals: bool,
    /// Claims a delivery may have before the cloud dead-letters it
    /// (`OPEN_COWORK_CLOUD_DELIVERY_MAX_ATTEMPTS`, default 10).
    pub max_delivery_attempts: i64,
}

impl Default for ChannelPolicy {
    fn default() -> Self {
        Self { allow_remote_approvals: false, max_delivery_attempts: 10 }
    }
}

impl Channels {
    /// The channel operations over `service`, within `quotas`, hashing interaction tokens with
    /// `hasher` (the API tokens' key).
    pub fn new(service: CloudService, quotas: Quotas, hasher: TokenHasher) -> Self {
        Self {
            service,
            quotas,
            billing: crate::billing::Billing::None,
            hasher,
            policy: ChannelPolicy::default(),
            wakers: std::sync::Arc::default(),
            deliveries_changed: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// These operations under `policy`.
    pub fn with_policy(mut self, policy: ChannelPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// These operations, with binds and prompts gated by `billing`.
    pub fn with_billing(mut self, billing: crate::billing::Billing) -> Self {
        self.billing = billing;
        self
    }

    /// The service behind them.
    pub fn service(&self) -> &CloudService {
        &self.service
    }

    /// A receiver that changes whenever `session` gets events.
    pub(crate) fn watch_session(&self, session: &SessionId) -> tokio::sync::watch::Receiver<u64> {
        self.wakers.watch(&self.service, session)
    }

    /// The bindings a gateway token may act on; refuses other tokens, tokens with no active
    /// grant, and people (header, OIDC, the local owner): these routes are for gateways, and
    /// their sessions belong to the token's grants.
    pub async fn gateway_scope(&self, principal: &Principal) -> Result<GatewayScope, ApiError> {
        let Principal::Token { id, scopes } = principal else {
            return Err(ApiError::forbidden("auth.gateway_scope_required", "Channel routes need a gateway token."));
        };
        if !scopes.contains(Scope::Gateway) {
            return Err(ApiError::forbidden(
                "auth.gateway_scope_required",
                "Channel service routes require a gateway-scoped API token.",
            ));
        }
        let grants = self.service.store().active_grants(id.as_str()).await?;
        if grants.is_empty() {
            return Err(binding_out_of_scope());
        }
        Ok(GatewayScope { grants })
    }

    pub(super) async fn channel_binding(
        &self,
        scope: &GatewayScope,
        binding_id: &str,
    ) -> Result<BindingRecord, ApiError> {
        scope.require(binding_id)?;
        self.service.store().binding(binding_id).await?.ok_or_else(binding_out_of_scope)
    }

    /// The session binding `binding_id` when the scope covers it; the same 404 otherwise.
    pub async fn session_binding(
        &self,
        scope: &GatewayScope,
        binding_id: Option<&str>,
    ) -> Result<SessionBindingRecord, ApiError> {
        let binding_id = validate::required_text("bindingId", binding_id)?;
        match self.service.store().session_binding(&binding_id).await? {
            Some(binding) if scope.allows(&binding.channel_binding_id) && binding.status == "active" => Ok(binding),
            _ => Err(session_binding_not_found()),
        }
    }

    /// Resolves (creating on first sight) a sender's identity on a granted binding. New senders
    /// get the binding's `unknownSenders` policy; an admin-scoped token may set role and status.
    pub async fn resolve_identity(&self, principal: &Principal, request: ResolveIdentity) -> Result<Value, ApiError> {
        let scope = self.gateway_scope(principal).await?;
        let provider = validate::provider(request.provider.as_deref())?;
        let user = validate::required_text("externalUserId", request.external_user_id.as_deref())?;
        let workspace = validate::optional_text("externalWorkspaceId", request.external_workspace_id.as_deref())?;
        let binding = match validate::optional_text("channelBindingId", request.channel_binding_id.as_deref())? {
            Some(id) => self.channel_binding(&scope, &id).await?,
            None => self.unique_binding(&scope, &provider, workspace.as_deref()).await?,
        };
        if binding.provider_id != provider {
            return Err(validate::invalid("provider does not match the channel binding."));
        }
        let admin = matches!(principal, Principal::Token { scopes, .. } if scopes.contains(Scope::Admin));
        let role = match request.role.as_deref() {
            Some(role) if admin => Some(validate::one_of(
                "role",
                Some(role),
                &["owner", "admin", "member", "approver", "viewer"],
                "viewer",
            )?),
            _ => None,
        };
        let status = match request.status.as_deref() {
            Some(status) if admin => {
                Some(validate::one_of("status", Some(status), &["active", "disabled", "pending"], "pending")?)
            }
            _ => None,
        };
        let metadata = match request.metadata.as_ref() {
            Some(metadata) => Some(validate::json_object("metadata", Some(metadata))?),
            None => None,
        };
        let workspace = workspace.or_else(|| binding.external_workspace_id.clone()).unwrap_or_default();
        let identity = self
            .service
            .store()
            .upsert_identity(
                &IdentityUpsert {
                    binding_id: &binding.binding_id,
                    provider: &provider,
                    external_workspace_id: &workspace,
                    external_user_id: &user,
                    new_role_status: unknown_sender_policy(&binding),
                    set_role: role.as_deref(),
                    set_status: status.as_deref(),
                    metadata: metadata.as_deref(),
                },
                self.service.now_ms(),
            )
            .await?;
        Ok(json!({ "identity": public::identity(&identity) }))
    }

    /// The one granted active binding of `provider` (and `workspace`, when given).
    async fn unique_binding(
        &self,
        scope: &GatewayScope,
        provider: &str,
        workspace: Option<&str>,
    ) -> Result<BindingRecord, ApiError> {
        let mut matches = Vec::new();
        for id in &scope.grants {
            if let Some(binding) = self.service.store().binding(id).await? {
                let same_workspace = workspace.is_none_or(|w| binding.external_workspace_id.as_deref() == Some(w));
                if binding.provider_id == provider && same_workspace {
                    matches.push(binding);
                }
            }
        }
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => Err(binding_out_of_scope()),
            _ => Err(validate::invalid("channelBindingId is required: several granted bindings match.")),
        }
    }

    /// The identity acting on `binding`, allowed to prompt (or, with `approve`, to approve).
    pub(super) async fn actor(
        &self,
        binding: &str,
        actor: &ActorRef,
        approve: bool,
    ) -> Result<IdentityRecord, ApiError> {
        let id = match (actor.identity_id.as_deref(), actor.external_user_id.as_deref()) {
            (Some(id), _) => validate::required_text("identityId", Some(id))?,
            (None, Some(user)) => {
                let user = validate::required_text("externalUserId", Some(user))?;
                crate::ids::identity_id(binding, &user).to_string()
            }
            (None, None) => return Err(validate::invalid("identityId or externalUserId is required.")),
        };
        let identity = self.service.store().identity(&id).await?.ok_or_else(actor_refused)?;
        let roles: &[&str] =
            if approve { &["owner", "admin", "member", "approver"] } else { &["owner", "admin", "member"] };
        if identity.binding_id != binding || identity.status != "active" || !roles.contains(&identity.role.as_str()) {
            return Err(actor_refused());
        }
        Ok(identity)
    }

    /// Binds a thread to its session (created on first use): 200 `{binding, session}`.
    pub async fn bind(&self, principal: &Principal, request: BindSession) -> Result<Value, ApiError> {
        let scope = self.gateway_scope(principal).await?;
        self.billing.check(crate::billing::GatedAction::SessionBind)?;
        let channel_binding_id = validate::required_text("channelBindingId", request.channel_binding_id.as_deref())?;
        let binding = self.channel_binding(&scope, &channel_binding_id).await?;
        let provider = validate::provider(request.provider.as_deref())?;
        if binding.provider_id != provider {
            return Err(validate::invalid("provider does not match the channel binding."));
        }
        let chat = validate::required_text("externalChatId", request.external_chat_id.as_deref())?;
        let thread = validate::required_text("externalThreadId", request.external_thread_id.as_deref())?;
        let workspace = validate::optional_text("externalWorkspaceId", request.external_workspace_id.as_deref())?
            .or_else(|| binding.external_workspace_id.clone())
            .unwrap_or_default();
        let title = validate::optional_text("title", request.title.as_deref())?
            .unwrap_or_else(|| format!("Channel {provider}"));
        let last_chat_message_id =
            validate::optional_text("lastChatMessageId", request.last_chat_message_id.as_deref())?;
        let last_event_sequence =
            validate::non_negative("lastEventSequence", request.last_event_sequence, false)?.unwrap_or(0);
        let last_workspace_sequence =
            validate::non_negative("lastWorkspaceSequence", request.last_workspace_sequence, false)?.unwrap_or(0);
        // Naming a sender is optional here (the prompt checks its sender anyway); a named one
        // must be allowed to prompt.
        if request.actor.identity_id.is_some() || request.actor.external_user_id.is_some() {
            self.actor(&binding.binding_id, &request.actor, false).await?;
        }
        let session = crate::ids::session_id(&binding.binding_id, &chat, &thread);
        if let Some(wanted) = request.session_id.as_deref().map(str::trim).filter(|s| !s.is_empty())
            && wanted != session.as_str()
        {
            return Err(ApiError::Conflict("Channel thread is already bound to a different channel authority.".into()));
        }
        let bind = BindThread {
            channel_binding_id: binding.binding_id.clone(),
            chat_id: chat.clone(),
            thread_id: thread.clone(),
            agent: String::new(),
            title,
        };
        let session = self.service.store().bind_thread(&bind, self.service.now_ms()).await?;
        let now = self.service.now_ms();
        let record = SessionBindingRecord {
            binding_id: crate::ids::stable_id(
                "channel_session_binding_",
                &[&binding.binding_id, &provider, &workspace, &chat, &thread],
            ),
            channel_binding_id: binding.binding_id.clone(),
            provider,
            external_workspace_id: workspace,
            external_chat_id: chat,
            external_thread_id: thread,
            session_id: session.to_string(),
            last_event_sequence,
            last_workspace_sequence,
            last_chat_message_id,
            status: "active".into(),
            created_at: now,
            updated_at: now,
        };
        let stored = self.service.store().insert_session_binding(&record).await?;
        Ok(json!({
            "binding": public::session_binding(&stored, binding.agent_id.as_deref()),
            "session": self.view(&stored.session_id).await?,
        }))
    }

    /// The session binding of a thread within the caller's grants: `{binding, session}` or 404.
    pub async fn by_thread(
        &self,
        principal: &Principal,
        provider: Option<&str>,
        workspace: Option<&str>,
        chat: Option<&str>,
        thread: Option<&str>,
    ) -> Result<Value, ApiError> {
        let scope = self.gateway_scope(principal).await?;
        let provider = validate::provider(provider)?;
        let chat = validate::required_text("externalChatId", chat)?;
        let thread = validate::required_text("externalThreadId", thread)?;
        let workspace = validate::optional_text("externalWorkspaceId", workspace)?.unwrap_or_default();
        let bindings = self.service.store().session_bindings_of_thread(&provider, &workspace, &chat, &thread).await?;
        let found = bindings
            .into_iter()
            .find(|b| scope.allows(&b.channel_binding_id) && b.status == "active")
            .ok_or_else(session_binding_not_found)?;
        let agent = self.service.store().binding(&found.channel_binding_id).await?.and_then(|b| b.agent_id);
        Ok(json!({
            "binding": public::session_binding(&found, agent.as_deref()),
            "session": self.view(&found.session_id).await?,
        }))
    }

    /// `{session, projection}` of a session binding.
    pub async fn snapshot(&self, principal: &Principal, session_binding_id: &str) -> Result<Value, ApiError> {
        let scope = self.gateway_scope(principal).await?;
        let binding = self.session_binding(&scope, Some(session_binding_id)).await?;
        self.view(&binding.session_id).await
    }

    /// The session's `{session, projection}`, folded from its whole log.
    pub async fn view(&self, session_id: &str) -> Result<Value, ApiError> {
        let store = self.service.store();
        let session = store.session_record(session_id).await?.ok_or_else(session_binding_not_found)?;
        let mut projection = Projection::new(&session);
        let id = SessionId::new(session_id);
        loop {
            let events = store.events_after(&id, projection.sequence(), PAGE).await?;
            for event in &events {
                projection.apply(event);
            }
            if events.len() < PAGE as usize {
                break;
            }
        }
        Ok(json!({ "session": public::session(&session), "projection": projection.view() }))
    }

    /// Queues a prompt: 202 `{binding, command, processed, view, projectionFence}`.
    pub async fn prompt(&self, principal: &Principal, request: SessionCommand) -> Result<Value, ApiError> {
        let text = request.text.clone().unwrap_or_default();
        if text.trim().is_empty() {
            return Err(validate::invalid("text is required."));
        }
        if text.chars().count() > MAX_PROMPT_CHARS {
            return Err(validate::invalid(format!("text must be at most {MAX_PROMPT_CHARS} characters.")));
        }
        let agent = validate::optional_text("agent", request.agent.as_deref())?;
        self.command(principal, &request, |binding| CommandBody::Prompt {
            text,
            agent: agent.unwrap_or_else(|| binding.agent.clone()),
        })
        .await
    }

    /// Queues an abort of the session's running turn: 202, the same body as a prompt.
    pub async fn abort(&self, principal: &Principal, request: SessionCommand) -> Result<Value, ApiError> {
        self.command(principal, &request, |_| CommandBody::Abort).await
    }

    async fn command(
        &self,
        principal: &Principal,
        request: &SessionCommand,
        body: impl FnOnce(&BindingRecord) -> CommandBody,
    ) -> Result<Value, ApiError> {
        let key = validate::optional_text("idempotencyKey", request.idempotency_key.as_deref())?
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let (session_binding, mut reply) = self
            .queue(principal, request.binding_id.as_deref(), key, &request.actor, request.trace.clone(), body)
            .await?;
        reply["processed"] = json!(0);
        reply["view"] = self.view(&session_binding.session_id).await?;
        reply["projectionFence"] = Value::Null;
        Ok(reply)
    }

    /// Queues any command: 202 `{binding, command}` (no view: the stream carries the outcome).
    /// Approvals and answers need an identity allowed to approve.
    pub async fn queue_command(&self, principal: &Principal, request: QueueCommand) -> Result<Value, ApiError> {
        let key = validate::required_text("idempotencyKey", request.idempotency_key.as_deref())?;
        if let CommandBody::Prompt { text, .. } = &request.command
            && (text.trim().is_empty() || text.chars().count() > MAX_PROMPT_CHARS)
        {
            return Err(validate::invalid(format!("text must be 1 to {MAX_PROMPT_CHARS} characters.")));
        }
        let actor = ActorRef { identity_id: request.identity_id.clone(), external_user_id: None };
        let command = request.command;
        let (_, reply) =
            self.queue(principal, request.binding_id.as_deref(), key, &actor, request.trace, |_| command).await?;
        Ok(reply)
    }

    async fn queue(
        &self,
        principal: &Principal,
        session_binding_id: Option<&str>,
        key: String,
        actor: &ActorRef,
        trace: Option<TraceParent>,
        body: impl FnOnce(&BindingRecord) -> CommandBody,
    ) -> Result<(SessionBindingRecord, Value), ApiError> {
        let scope = self.gateway_scope(principal).await?;
        let session_binding = self.session_binding(&scope, session_binding_id).await?;
        let binding = self.channel_binding(&scope, &session_binding.channel_binding_id).await?;
        let body = body(&binding);
        let approves = !matches!(body, CommandBody::Prompt { .. } | CommandBody::Abort);
        let actor = self.actor(&binding.binding_id, actor, approves).await?;
        let session = SessionId::new(&session_binding.session_id);
        if matches!(body, CommandBody::Prompt { .. }) {
            self.admit_prompt(&session).await?;
        }
        let command = NewCommand { idempotency_key: key, actor: IdentityId::new(actor.identity_id), body, trace };
        // Who asked for what, never the text itself; written with the command.
        let (actor_type, actor_id) = principal.actor();
        let audit = AuditEvent {
            event_type: command_audit_type(&command.body),
            actor_type,
            actor_id: actor_id.to_owned(),
            target_type: "session_command",
            target_id: crate::ids::command_id(&session, &command.idempotency_key).to_string(),
            metadata: json!({
                "sessionBindingId": session_binding.binding_id,
                "channelBindingId": binding.binding_id,
                "identityId": command.actor,
                "kind": command.body.kind(),
            }),
        };
        let submitted = self.service.submit_command(&session, &command, Some(&audit)).await?;
        let (state, command) = self.command_record(&session_binding, &command.body, &submitted).await?;
        if !submitted.created && state == "failed" {
            return Err(ApiError::Conflict("Channel prompt cannot replay a failed idempotent command.".into()));
        }
        let reply = json!({
            "binding": public::session_binding(&session_binding, binding.agent_id.as_deref()),
            "command": command,
        });
        Ok((session_binding, reply))
    }

    /// A submitted command as Open Cowork's `SessionCommandRecord`, with its public state.
    async fn command_record(
        &self,
        session_binding: &SessionBindingRecord,
        body: &CommandBody,
        submitted: &crate::store::Submitted,
    ) -> Result<(&'static str, Value), ApiError> {
        let status = self.service.store().command_status(&submitted.command_id).await?;
        let state = status.as_ref().map_or("pending", |s| public::command_status(&s.state));
        let record = json!({
            "commandId": submitted.command_id,
            "tenantId": crate::admin::ORG_ID,
            "userId": Value::Null,
            "sessionId": session_binding.session_id,
            "kind": body.kind(),
            "payload": serde_json::to_value(body).unwrap_or_default(),
            "status": state,
            "attemptCount": status.as_ref().map_or(0, |s| s.attempts),
            "lastErrorSummary": status.and_then(|s| s.last_error),
        });
        Ok((state, record))
    }

    /// A page of a session binding's log: `{events, latestSequence}` (this cloud's extension,
    /// for clients that read the log at their own pace beside the stream).
    pub async fn log_page(
        &self,
        principal: &Principal,
        session_binding_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Value, ApiError> {
        let scope = self.gateway_scope(principal).await?;
        let binding = self.session_binding(&scope, Some(session_binding_id)).await?;
        let session = SessionId::new(&binding.session_id);
        let events = self.service.store().events_after(&session, after, limit.min(PAGE)).await?;
        let records: Vec<Value> = events.iter().filter_map(stream::record).collect();
        let latest = self.service.store().event_bounds(session.as_str()).await?.map_or(0, |(_, latest)| latest);
        Ok(json!({ "events": records, "latestSequence": latest }))
    }

    /// Moves a render cursor forward: 200 `{binding, result}`; a cursor behind the stored one
    /// answers `result.ok = false, reason = "stale"`.
    pub async fn cursor(&self, principal: &Principal, request: CursorRequest) -> Result<Value, ApiError> {
        let scope = self.gateway_scope(principal).await?;
        let binding = self.session_binding(&scope, request.binding_id.as_deref()).await?;
        let events = validate::non_negative("lastEventSequence", request.last_event_sequence, true)?.unwrap_or(0);
        let workspace =
            validate::non_negative("lastWorkspaceSequence", request.last_workspace_sequence, true)?.unwrap_or(0);
        let message = validate::optional_text("lastChatMessageId", request.last_chat_message_id.as_deref())?;
        let updated = self
            .service
            .store()
            .advance_cursor(&binding.binding_id, events, workspace, message.as_deref(), self.service.now_ms())
            .await?
            .ok_or_else(session_binding_not_found)?;
        let agent = self.service.store().binding(&binding.channel_binding_id).await?.and_then(|b| b.agent_id);
        let (result, record) = match &updated {
            CursorUpdate::Advanced(record) => (json!({"ok": true}), record),
            CursorUpdate::Stale(record) => (json!({"ok": false, "reason": "stale"}), record),
        };
        let public = public::session_binding(record, agent.as_deref());
        let mut result = result;
        result["binding"] = public.clone();
        Ok(json!({ "binding": public, "result": result }))
    }
}

/// The audit event type of a command, in Open Cowork's names.
pub(super) fn command_audit_type(body: &CommandBody) -> &'static str {
    match body {
        CommandBody::Prompt { .. } => "channel_prompt.enqueued",
        CommandBody::Abort => "command.aborted",
        CommandBody::PermissionRespond { .. } => "channel_interaction.permission.responded",
        CommandBody::QuestionReply { .. } => "channel_interaction.question.replied",
        CommandBody::QuestionReject { .. } => "channel_interaction.question.rejected",
    }
}

/// Role and status of a sender a binding has not seen, from its `unknownSenders` setting:
/// `allow` (the default: an active member), `pending` (waits for an admin) or `deny`.
fn unknown_sender_policy(binding: &BindingRecord) -> (&'static str, &'static str) {
    let settings: Value = serde_json::from_str(&binding.settings).unwrap_or_default();
    match settings["unknownSenders"].as_str() {
        Some("pending") => ("viewer", "pending"),
        Some("deny") => ("viewer", "disabled"),
        _ => ("member", "active"),
    }
}
