//! What a claimed cloud delivery becomes in the outbox: a send into the target chat through the
//! provider serving its binding, under a dedupe key derived from the binding and the delivery
//! id, so the same delivery offered twice (a lapsed claim, a retry in the cloud) is one row.

use cowork_cloud_client::http::{ClaimedDelivery, percent_encode};
use cowork_providers::ChatRef;
use serde_json::Value;

use crate::registry::ProviderRegistry;
use crate::store::{NewOutbound, PlannedOp};

/// The outbox dedupe key of a cloud delivery.
pub fn dedupe_key(delivery: &ClaimedDelivery) -> String {
    format!("cloud-delivery:{}:{}", percent_encode(&delivery.channel_binding_id), percent_encode(&delivery.delivery_id))
}

/// The outbox row for `delivery`, or why it can never be delivered here.
pub fn outbound(delivery: &ClaimedDelivery, providers: &ProviderRegistry) -> Result<NewOutbound, String> {
    let registered = providers
        .all()
        .find(|p| p.config.binding_id.as_str() == delivery.channel_binding_id)
        .ok_or_else(|| format!("No provider registered for {}.", delivery.provider))?;
    let field = |names: [&str; 2]| {
        names.iter().find_map(|name| delivery.target[*name].as_str().map(str::trim).filter(|v| !v.is_empty()))
    };
    let chat_id = field(["externalChatId", "chatId"])
        .ok_or_else(|| "Channel delivery target has no externalChatId.".to_owned())?
        .to_owned();
    // The cloud names a thread-less chat's thread after the chat.
    let thread_id = field(["externalThreadId", "threadId"]).filter(|thread| *thread != chat_id).map(str::to_owned);
    let text = match (&delivery.payload["text"], &delivery.payload["message"]) {
        (Value::String(text), _) | (_, Value::String(text)) => text.clone(),
        _ => delivery.payload.to_string(),
    };
    if text.trim().is_empty() {
        return Err("Channel delivery has no text to send.".to_owned());
    }
    Ok(NewOutbound {
        dedupe_key: dedupe_key(delivery),
        binding_id: registered.config.binding_id.clone(),
        provider_id: registered.config.id.clone(),
        chat: ChatRef { chat_id, thread_id },
        message_key: None,
        op: PlannedOp::Send { text, buttons: vec![] },
        trace: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::ProviderConfig;

    async fn registry() -> ProviderRegistry {
        let db = cowork_cloud::database::testing::TestDatabase::sqlite().await;
        let store = crate::store::GatewayStore::new(db.db.clone());
        ProviderRegistry::build(&[ProviderConfig::default_fake()], &store, std::time::Duration::from_secs(5))
            .expect("registry")
    }

    fn delivery(target: serde_json::Value, payload: serde_json::Value) -> ClaimedDelivery {
        ClaimedDelivery {
            delivery_id: "report:1".into(),
            channel_binding_id: "fake-binding".into(),
            provider: "fake".into(),
            target,
            event_type: "workflow.completed".into(),
            payload,
            attempt_count: 1,
            claimed_by: Some("gw".into()),
        }
    }

    #[tokio::test]
    async fn a_delivery_is_a_send_into_its_target_chat() {
        let providers = registry().await;
        let planned = outbound(
            &delivery(json!({"externalChatId": "C1", "externalThreadId": "T1"}), json!({"text": "done"})),
            &providers,
        )
        .expect("planned");
        assert_eq!(planned.chat, ChatRef { chat_id: "C1".into(), thread_id: Some("T1".into()) });
        assert_eq!(planned.op, PlannedOp::Send { text: "done".into(), buttons: vec![] });
        assert_eq!(
            (planned.provider_id.as_str(), planned.dedupe_key.as_str()),
            ("fake", "cloud-delivery:fake-binding:report%3A1")
        );

        // The thread named after the chat is no thread; `message`, then the JSON, stand in for `text`.
        let planned =
            outbound(&delivery(json!({"chatId": "C1", "threadId": "C1"}), json!({"message": "m"})), &providers)
                .expect("planned");
        assert_eq!((planned.chat.thread_id, planned.op), (None, PlannedOp::Send { text: "m".into(), buttons: vec![] }));
        let planned =
            outbound(&delivery(json!({"externalChatId": "C1"}), json!({"n": 1})), &providers).expect("planned");
        assert_eq!(planned.op, PlannedOp::Send { text: r#"{"n":1}"#.into(), buttons: vec![] });
    }

    #[tokio::test]
    async fn an_undeliverable_delivery_says_why() {
        let providers = registry().await;
        let no_chat = outbound(&delivery(json!({"externalChatId": "  "}), json!({"text": "x"})), &providers);
        assert_eq!(no_chat.unwrap_err(), "Channel delivery target has no externalChatId.");
        let empty = outbound(&delivery(json!({"externalChatId": "C"}), json!({"text": " "})), &providers);
        assert_eq!(empty.unwrap_err(), "Channel delivery has no text to send.");
        let mut other = delivery(json!({"externalChatId": "C"}), json!({"text": "x"}));
        other.channel_binding_id = "elsewhere".into();
        assert_eq!(outbound(&other, &providers).unwrap_err(), "No provider registered for fake.");
    }
}
