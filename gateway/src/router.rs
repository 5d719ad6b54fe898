//! Routes one inbox event: a message goes identity -> thread binding -> session -> prompt (with
//! the inbox key as idempotency key, so a retried event never prompts twice); `/stop` goes the
//! same way as an abort command; an interaction goes to [`crate::interactions`].

use std::sync::Arc;

use cowork_cloud::telemetry::{Span, SpanKind};
use cowork_cloud_client::{BackendError, BindThread, CommandBody, IdentityId, NewCommand, SessionId};
use cowork_providers::InboundBody;

use crate::interactions;
use crate::registry::RegisteredProvider;
use crate::services::Services;
use crate::store::{InboxItem, RenderCursor, StoreError};

/// Why routing failed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Worth retrying later (store or backend unavailable).
    #[error("{0}")]
    Retryable(String),
    /// Will never succeed.
    #[error("{0}")]
    Permanent(String),
}

impl RouteError {
    /// A short description for a trace (the message itself may quote upstream errors).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Retryable(_) => "failed; will retry",
            Self::Permanent(_) => "failed for good",
        }
    }
}

impl From<StoreError> for RouteError {
    fn from(error: StoreError) -> Self {
        Self::Retryable(format!("store: {error}"))
    }
}

impl From<BackendError> for RouteError {
    fn from(error: BackendError) -> Self {
        if error.is_retryable() {
            Self::Retryable(format!("sessions: {error}"))
        } else {
            Self::Permanent(format!("sessions: {error}"))
        }
    }
}

/// Routes inbox events.
pub struct Router {
    services: Arc<Services>,
}

/// The idempotency key of an inbox event: stable across retries and redeliveries.
pub(crate) fn event_key(item: &InboxItem) -> String {
    format!("inbox:{}:{}", item.binding_id, item.event.provider_event_id)
}

impl Router {
    /// A router over the shared services.
    pub fn new(services: Arc<Services>) -> Self {
        Self { services }
    }

    /// Routes one event, continuing `parent`'s trace.
    pub async fn route(&self, item: &InboxItem, parent: &Span) -> Result<(), RouteError> {
        let Some(provider) = self.services.providers.get(&item.provider_id) else {
            return Err(RouteError::Permanent(format!("provider `{}` is no longer configured", item.provider_id)));
        };
        if let InboundBody::Ignored { reason } = &item.event.body {
            // Recorded (the inbox row stays as the audit trail and the dedupe key), never prompted.
            tracing::info!(
                provider = %item.provider_id,
                event = %item.event.provider_event_id,
                reason = %reason,
                "inbound event recorded without prompting"
            );
            self.services.metrics.inbound_ignored(&item.provider_id, reason);
            return Ok(());
        }
        if let Some(context) = &item.event.reply_context {
            let s = &self.services;
            s.store.save_reply_context(&item.binding_id, &item.event.chat, context, s.clock.now_ms()).await?;
        }
        let actor =
            self.services.backend.resolve_identity(item.binding_id.as_str(), &item.event.sender.user_id).await?;
        match &item.event.body {
            InboundBody::Message { text } => {
                let span = parent.child("prompt", SpanKind::Client);
                self.prompt(item, &provider, actor, text, &span).await.inspect_err(|e| span.fail(e.kind()))
            }
            InboundBody::Abort => {
                let span = parent.child("abort", SpanKind::Client);
                self.abort(item, &provider, actor, &span).await.inspect_err(|e| span.fail(e.kind()))
            }
            InboundBody::Interaction(input) => {
                let span = parent.child("answer", SpanKind::Client);
                interactions::answer(&self.services, item, actor, input, &span)
                    .await
                    .inspect_err(|e| span.fail(e.kind()))
            }
            InboundBody::Ignored { .. } => Ok(()),
        }
    }

    async fn prompt(
        &self,
        item: &InboxItem,
        provider: &RegisteredProvider,
        actor: IdentityId,
        text: &str,
        span: &Span,
    ) -> Result<(), RouteError> {
        let session = self.session(item, provider, text.chars().take(80).collect()).await?;
        let command = NewCommand {
            idempotency_key: event_key(item),
            actor,
            body: CommandBody::Prompt { text: text.to_owned(), agent: provider.config.default_agent.clone() },
            trace: span.trace_parent(),
        };
        match self.services.backend.submit(&session, command).await {
            Ok(_) => Ok(()),
            // A quota or the plan refused it: say so once in the chat instead of retrying.
            Err(BackendError::Refused(reason)) => {
                let text = format!("Sorry, I can't take that message right now: {reason}");
                let notice = crate::outbox::notice(item, format!("{}:refused", event_key(item)), text);
                let s = &self.services;
                s.store.enqueue_outbound(&[notice], s.clock.now_ms()).await?;
                s.wake.outbox.notify_one();
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Sends the thread's session an abort; the session answers "Stopped." or that nothing runs.
    async fn abort(
        &self,
        item: &InboxItem,
        provider: &RegisteredProvider,
        actor: IdentityId,
        span: &Span,
    ) -> Result<(), RouteError> {
        let session = self.session(item, provider, "/stop".to_owned()).await?;
        let command = NewCommand {
            idempotency_key: event_key(item),
            actor,
            body: CommandBody::Abort,
            trace: span.trace_parent(),
        };
        self.services.backend.submit(&session, command).await?;
        Ok(())
    }

    /// The session of the event's thread (created with `title` on first use), with a render
    /// cursor, so the renderer has a destination for what the session says.
    async fn session(
        &self,
        item: &InboxItem,
        provider: &RegisteredProvider,
        title: String,
    ) -> Result<SessionId, RouteError> {
        let s = &self.services;
        let chat = &item.event.chat;
        let session = s
            .backend
            .bind_thread(BindThread {
                channel_binding_id: item.binding_id.to_string(),
                chat_id: chat.chat_id.clone(),
                thread_id: chat.thread_key().to_owned(),
                agent: provider.config.default_agent.clone(),
                title,
            })
            .await?;
        let cursor = RenderCursor {
            session_id: session.clone(),
            binding_id: item.binding_id.clone(),
            provider_id: item.provider_id.clone(),
            chat: chat.clone(),
            last_sequence: 0,
        };
        s.store.ensure_cursor(&cursor, s.clock.now_ms()).await?;
        Ok(session)
    }
}
