//! Aborts: the registry of turns running in this process (so an abort can trip their
//! cancellation at once), and the run of an `abort` command: record it durably, stop the local
//! turns it names, let the runtime stop what it keeps going, and show one notice.
//!
//! A turn running in another process learns of the abort from the `session.aborted` event,
//! which its worker looks for at every lease renewal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cowork_cloud_client::{CommandId, EventBody, SessionId};
use tokio_util::sync::CancellationToken;

use crate::runtime::{AbortOutcome, AgentRuntime, CommandContext, EventSink, RuntimeError};
use crate::service::Shared;
use crate::store::aborted_event_id;

/// What the session shows when an abort stopped something.
pub const STOPPED_NOTICE: &str = "Stopped.";
/// What the session shows when an abort found nothing to stop.
pub const NOTHING_RUNNING_NOTICE: &str = "Nothing is running.";

/// The assistant message id of an abort's notice.
pub fn notice_message_id(abort: &CommandId) -> String {
    format!("{abort}:notice")
}

/// Whether an assistant message is an abort's notice rather than the agent's words (runtimes
/// leave notices out of the conversation they send a model).
pub fn is_notice(message_id: &str) -> bool {
    message_id.ends_with(":notice")
}

/// The cancellation tokens of the turns this process runs, by command.
#[derive(Default)]
pub(crate) struct RunningTurns {
    turns: Mutex<HashMap<CommandId, (SessionId, CancellationToken)>>,
}

impl RunningTurns {
    /// Registers a turn until the returned guard is dropped.
    pub(crate) fn register(self: &Arc<Self>, context: &CommandContext) -> Registration {
        if let Ok(mut turns) = self.turns.lock() {
            turns.insert(context.command_id.clone(), (context.session_id.clone(), context.cancel.clone()));
        }
        Registration { turns: self.clone(), command: context.command_id.clone() }
    }

    /// Trips the cancellation of `command` if it runs here; answers whether it did.
    pub(crate) fn cancel(&self, command: &CommandId) -> bool {
        let token = self.turns.lock().ok().and_then(|turns| turns.get(command).map(|(_, token)| token.clone()));
        token.inspect(CancellationToken::cancel).is_some()
    }
}

/// Removes a turn from the registry when it ends.
pub(crate) struct Registration {
    turns: Arc<RunningTurns>,
    command: CommandId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut turns) = self.turns.turns.lock() {
            turns.remove(&self.command);
        }
    }
}

/// Runs an `abort` command: records it (cancelling what had not started), trips the turns it
/// stops that run here, asks the runtime to stop what it keeps going, and appends the notice.
pub(crate) async fn run(
    shared: &Shared,
    agents: &dyn AgentRuntime,
    command: &CommandContext,
    sink: &EventSink,
) -> Result<(), RuntimeError> {
    let now = shared.clock.now_ms();
    let record = shared.store.record_abort(sink.fence(), now).await?;
    if record.stopped_anything() {
        let _ = shared.events.send(command.session_id.clone());
    }
    for running in &record.running {
        if shared.running.cancel(running) {
            tracing::info!(command = %running, abort = %command.command_id, "turn stopped by an abort");
        }
    }
    let runtime = agents.abort(command, sink).await?;
    let stopped = record.stopped_anything() || runtime == AbortOutcome::Stopped;
    if stopped {
        // Already there when the store recorded running commands; appended once either way.
        let aborted = EventBody::SessionAborted { command_id: command.command_id.to_string() };
        sink.append(&aborted_event_id(&command.command_id), &aborted).await?;
    }
    let notice = EventBody::AssistantMessage {
        message_id: notice_message_id(&command.command_id),
        content: if stopped { STOPPED_NOTICE } else { NOTHING_RUNNING_NOTICE }.to_owned(),
        complete: true,
    };
    sink.append(&format!("{}:notice", command.command_id), &notice).await?;
    Ok(())
}
