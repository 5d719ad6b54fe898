//! One delivery attempt: resolve the platform message id an edit refers to, call the provider,
//! and turn its answer into a [`DeliveryOutcome`] using the retry policy.

use cowork_cloud::telemetry::{Span, SpanKind};
use cowork_providers::{Delivery, OutboundOp, ProviderErrorKind};

use super::circuit::Admission;
use crate::metrics::ProviderState;
use crate::services::Services;
use crate::store::{DeliveryOutcome, OutboxItem, PlannedOp};

/// The stable delivery id of an outbox row (the same on every retry).
pub fn delivery_id(item: &OutboxItem) -> String {
    format!("dlv_{}", item.id.0)
}

/// Attempts `item` once, as the `delivery attempt` span of its trace.
pub async fn deliver(s: &Services, item: &OutboxItem) -> DeliveryOutcome {
    let span = Span::start("delivery attempt", SpanKind::Client, item.trace.as_ref());
    span.set("cowork.delivery.id", delivery_id(item));
    span.set("cowork.provider.id", item.provider_id.to_string());
    span.set("cowork.attempt", i64::from(item.attempts) + 1);
    let outcome = attempt(s, item, &span).await;
    // Only the outcome's kind: reasons can quote the platform's answers.
    span.set("cowork.delivery.outcome", outcome.kind());
    if matches!(outcome, DeliveryOutcome::Retry { .. } | DeliveryOutcome::Dead { .. }) {
        span.fail(outcome.kind());
    }
    outcome
}

async fn attempt(s: &Services, item: &OutboxItem, span: &Span) -> DeliveryOutcome {
    let Some(registered) = s.providers.get(&item.provider_id) else {
        return DeliveryOutcome::Dead { reason: format!("provider `{}` is no longer configured", item.provider_id) };
    };
    let op = match &item.op {
        PlannedOp::Send { text, buttons } => OutboundOp::Send { text: text.clone(), buttons: buttons.clone() },
        PlannedOp::File(file) => OutboundOp::File(file.clone()),
        PlannedOp::Edit { text, buttons } => {
            let Some(key) = &item.message_key else {
                return DeliveryOutcome::Dead { reason: "edit without a message key".into() };
            };
            match s.store.message_ref(&item.binding_id, key).await {
                Ok(Some(Some(message_id))) => {
                    // A later edit of the same message already waits in this lane: this one is
                    // moot, and skipping it lets a paced platform catch up with the latest text.
                    match s.store.later_edit_waiting(item).await {
                        Ok(true) => return DeliveryOutcome::Sent { provider_message_id: message_id },
                        Ok(false) => {}
                        Err(error) => return retry(s, item, format!("store: {error}"), None),
                    }
                    OutboundOp::Edit { message_id, text: text.clone(), buttons: buttons.clone() }
                }
                Ok(_) => return DeliveryOutcome::Dead { reason: "the message to edit was never delivered".into() },
                Err(error) => return retry(s, item, format!("store: {error}"), None),
            }
        }
    };
    if let Admission::WaitUntil(at) = s.circuits.admit(&item.provider_id, s.clock.now_ms()) {
        return DeliveryOutcome::Defer { at };
    }
    // A platform that asked us to slow down for a chat (429 with Retry-After) holds every
    // delivery to that chat, not only the one that was refused.
    let chat_key = chat_hold_key(item);
    if let Some(at) = s.pacer.wait_until(&chat_key, 0, s.clock.now_ms()) {
        return DeliveryOutcome::Defer { at };
    }
    let interval = registered.provider.capabilities().min_interval_ms as i64;
    let pace_key = pace_key(item);
    if interval > 0
        && let Err(at) = s.pacer.reserve(&pace_key, interval, s.clock.now_ms())
    {
        return DeliveryOutcome::Defer { at };
    }
    let reply_context = if registered.provider.capabilities().needs_reply_context {
        match s.store.reply_context(&item.binding_id, &item.chat).await {
            Ok(context) => context,
            Err(error) => return retry(s, item, format!("store: {error}"), None),
        }
    } else {
        None
    };
    let delivery = Delivery {
        delivery_id: delivery_id(item),
        chat: item.chat.clone(),
        op,
        reply_context,
        trace_parent: span.trace_parent().map(|trace| trace.to_string()),
    };
    let result = registered.provider.deliver(&delivery).await;
    if interval > 0 {
        s.pacer.mark(pace_key, s.clock.now_ms(), interval);
    }
    match &result {
        Err(error) if error.kind == ProviderErrorKind::Transient => {
            if let Some(wait) = error.retry_after {
                let until = s.clock.now_ms() + s.settings.delivery_retry.delay(1, Some(wait)).as_millis() as i64;
                s.pacer.hold(chat_key, until);
            }
            s.circuits.record_failure(&item.provider_id, s.clock.now_ms())
        }
        Err(error) if error.kind == ProviderErrorKind::Unauthorized => {
            s.circuits.record_credentials_rejected(&item.provider_id);
            s.metrics.set_provider_state(&item.provider_id, registered.config.kind(), ProviderState::Unhealthy);
            tracing::error!(provider = %item.provider_id, "the platform refused the provider's credentials; deliveries are held until they are fixed");
        }
        _ => s.circuits.record_success(&item.provider_id),
    }
    match result {
        Ok(sent) => DeliveryOutcome::Sent { provider_message_id: sent.message_id },
        Err(error) => match error.kind {
            ProviderErrorKind::Transient => retry(s, item, error.message, error.retry_after),
            ProviderErrorKind::Permanent => DeliveryOutcome::Dead { reason: error.message },
            // Held, not dead: once the credentials are fixed (and the gateway restarted) it goes out.
            ProviderErrorKind::Unauthorized => DeliveryOutcome::Defer { at: s.clock.now_ms() + 60_000 },
        },
    }
}

/// The key of a chat-wide hold after a platform's `Retry-After`.
fn chat_hold_key(item: &OutboxItem) -> String {
    format!("hold\u{1f}{}\u{1f}{}", item.provider_id, item.chat.chat_id)
}

/// What a delivery is paced by: edits per message, new messages per chat.
fn pace_key(item: &OutboxItem) -> String {
    match (&item.op, &item.message_key) {
        (PlannedOp::Edit { .. }, Some(key)) => format!("edit\u{1f}{}\u{1f}{key}", item.binding_id),
        _ => format!("send\u{1f}{}\u{1f}{}", item.provider_id, item.chat.chat_id),
    }
}

fn retry(s: &Services, item: &OutboxItem, error: String, retry_after: Option<std::time::Duration>) -> DeliveryOutcome {
    let attempt = item.attempts + 1;
    let policy = &s.settings.delivery_retry;
    if policy.exhausted(attempt) {
        return DeliveryOutcome::Dead { reason: format!("attempt budget exhausted after {attempt} attempts: {error}") };
    }
    let at = s.clock.now_ms() + policy.delay(attempt, retry_after).as_millis() as i64;
    DeliveryOutcome::Retry { at, error }
}
