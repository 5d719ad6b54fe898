//! The durable outbox: every operation that leaves the gateway is a row here first (written in
//! the same transaction as whatever produced it), then delivered by the
//! [`Dispatcher`](crate::dispatcher::Dispatcher) strictly in order per lane.

use crate::store::{InboxItem, NewOutbound, PlannedOp};

/// A plain text reply into the chat an inbound event came from.
pub fn notice(item: &InboxItem, dedupe_key: String, text: String) -> NewOutbound {
    NewOutbound {
        dedupe_key,
        binding_id: item.binding_id.clone(),
        provider_id: item.provider_id.clone(),
        chat: item.event.chat.clone(),
        message_key: None,
        op: PlannedOp::Send { text, buttons: vec![] },
        trace: item.trace.clone(),
    }
}
