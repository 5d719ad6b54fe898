//! Approvals and questions answered from the channel: a button click or a text command decides
//! the interaction exactly once (the store's atomic decide picks one winner), the session gets
//! the answer, and the buttons message is edited to show who decided (a short line says it
//! where messages cannot be edited). Later answers are told who already decided.

mod choice;
pub mod handle;

use cowork_cloud::telemetry::Span;
use cowork_cloud_client::{IdentityId, NewCommand};
use cowork_providers::InteractionInput;

pub use choice::Choice;

use crate::outbox::notice;
use crate::router::{RouteError, event_key};
use crate::services::Services;
use crate::store::{DecideOutcome, Decision, InboxItem, NewOutbound, PlannedOp};

/// Applies one answer.
pub async fn answer(
    s: &Services,
    item: &InboxItem,
    actor: IdentityId,
    input: &InteractionInput,
    parent: &Span,
) -> Result<(), RouteError> {
    let (code, handle_choice) = handle::split(&input.handle);
    let key = event_key(item);
    let reply = |text: String| notice(item, format!("{key}:reply"), text);
    let found = s.store.find_interaction(code).await?;
    let Some(interaction) = found.filter(|i| i.spec.shown_in(&item.binding_id, &item.event.chat)) else {
        return enqueue(s, vec![reply("That approval or question is not known.".into())]).await;
    };
    let choice = match Choice::resolve(&interaction.spec, &input.verb, handle_choice) {
        Ok(choice) => choice,
        Err(message) => return enqueue(s, vec![reply(message)]).await,
    };
    let sender = &item.event.sender;
    let by = sender.display_name.clone().unwrap_or_else(|| sender.user_id.clone());
    let now = s.clock.now_ms();
    let decision = Decision { by: by.clone(), choice: choice.stored(), event_key: key.clone(), at: now };
    match s.store.decide_interaction(code, decision, now).await? {
        DecideOutcome::Won(won) => {
            let spec = &won.spec;
            let command = NewCommand {
                idempotency_key: format!("interaction:{code}"),
                actor,
                body: choice.command(&spec.target_id),
                trace: parent.trace_parent(),
            };
            s.backend.submit(&spec.session_id, command).await?;
            // Where messages can be edited the buttons give way to who decided; elsewhere (email)
            // an edit would be a whole new message repeating the question, so a short line says it.
            let editing = s.providers.get(&spec.provider_id).is_none_or(|p| p.provider.capabilities().message_editing);
            let (message_key, op) = if editing {
                let text = format!("{}\n\n{} by {by}.", spec.prompt_text, choice.summary());
                (Some(spec.message_key.clone()), PlannedOp::Edit { text, buttons: vec![] })
            } else {
                (None, PlannedOp::Send { text: format!("{} by {by}.", choice.summary()), buttons: vec![] })
            };
            let decided = NewOutbound {
                dedupe_key: format!("interaction:{code}:decided"),
                binding_id: spec.binding_id.clone(),
                provider_id: spec.provider_id.clone(),
                chat: spec.chat.clone(),
                message_key,
                op,
                trace: parent.trace_parent(),
            };
            enqueue(s, vec![decided]).await
        }
        DecideOutcome::AlreadyDecided(existing) => {
            let text = match &existing.decision {
                Some(d) => format!("Already decided by {}: {}.", d.by, Choice::from_stored(&d.choice).summary()),
                None => "Already decided.".to_owned(),
            };
            enqueue(s, vec![reply(text)]).await
        }
        DecideOutcome::Expired => {
            enqueue(s, vec![reply("That request has expired; nothing was decided.".into())]).await
        }
        DecideOutcome::Unknown => enqueue(s, vec![reply("That approval or question is not known.".into())]).await,
    }
}

async fn enqueue(s: &Services, items: Vec<NewOutbound>) -> Result<(), RouteError> {
    s.store.enqueue_outbound(&items, s.clock.now_ms()).await?;
    s.wake.outbox.notify_one();
    Ok(())
}
