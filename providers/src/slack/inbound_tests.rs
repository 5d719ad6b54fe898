//! Tests of Slack ingress through `parse_inbound`: signatures, `url_verification`, each event
//! kind and the ignored ones, mention stripping, `respondTo`, `sessionScope`, interactivity
//! forms, the workspace check and bad payloads.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::*;
use crate::egress::StaticResolver;
use crate::{ChatRef, InboundBody, InboundEvent, InteractionInput, InteractionVerb, signature};

const SECRETS: [&str; 2] = ["signing-new", "signing-old"];
const TS: i64 = 1_700_000_000;
const NOW_MS: i64 = 1_700_000_010_000;

fn provider(settings: Value, workspace: Option<&str>) -> SlackProvider {
    let settings = SlackSettings::from_json(&settings).expect("settings");
    let egress = Egress::new(Arc::new(StaticResolver::default()), Duration::from_secs(1));
    let secrets = SECRETS.iter().map(|s| s.to_string()).collect();
    SlackProvider::new(
        ProviderId::new("slack"),
        "xoxb-test".into(),
        secrets,
        settings,
        workspace.map(str::to_owned),
        egress,
    )
    .expect("provider")
}

fn default_provider() -> SlackProvider {
    provider(json!({"botUserId": "UBOT"}), Some("T1"))
}

fn signed_with(secret: &str, body: &[u8], ts: i64, now_ms: i64) -> InboundRequest {
    let mut headers = HeaderMap::new();
    let ts = ts.to_string();
    headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(&ts).unwrap());
    let signature = signature::signature_header(secret.as_bytes(), "v0", &ts, body);
    headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).unwrap());
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    InboundRequest { headers, body: Bytes::copy_from_slice(body), received_at_ms: now_ms }
}

fn signed(body: &[u8]) -> InboundRequest {
    signed_with(SECRETS[0], body, TS, NOW_MS)
}

fn callback(event: Value) -> Vec<u8> {
    json!({"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": "Ev1",
        "event_time": TS, "event": event})
    .to_string()
    .into_bytes()
}

fn events(provider: &SlackProvider, body: &[u8]) -> Vec<InboundEvent> {
    let verified = provider.parse_inbound(&signed(body)).expect("accepted");
    let replay_key = verified.replay_key.as_deref().unwrap_or_default();
    assert!(replay_key.starts_with(&format!("{TS}:")) && replay_key.len() > 60, "{replay_key}");
    assert_eq!(verified.immediate_reply, None);
    verified.events
}

fn one(provider: &SlackProvider, body: &[u8]) -> InboundEvent {
    let mut all = events(provider, body);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn message(text: &str) -> InboundBody {
    InboundBody::Message { text: text.into() }
}

fn mention(text: &str) -> Value {
    json!({"type": "app_mention", "user": "U1", "text": text, "ts": "1700000000.000100", "channel": "C1"})
}

fn channel_message(text: &str, channel_type: &str, channel: &str) -> Value {
    json!({"type": "message", "user": "U1", "text": text, "ts": "1700000000.000200", "channel": channel,
        "channel_type": channel_type})
}

#[test]
fn url_verification_is_answered_with_its_challenge() {
    let body = br#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let verified = default_provider().parse_inbound(&signed(body)).unwrap();
    assert!(verified.events.is_empty());
    assert_eq!(
        verified.immediate_reply,
        Some(json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}))
    );
}

#[test]
fn signatures_are_checked_before_anything_else() {
    let provider = default_provider();
    let unauthorized =
        |request: &InboundRequest| matches!(provider.parse_inbound(request), Err(InboundError::Unauthorized(_)));
    let body = br#"{"type":"url_verification","challenge":"c"}"#;
    let unsigned = InboundRequest { headers: HeaderMap::new(), body: Bytes::from_static(body), received_at_ms: NOW_MS };
    assert!(unauthorized(&unsigned));
    assert!(unauthorized(&signed_with("intruder", body, TS, NOW_MS)));
    assert!(unauthorized(&signed_with(SECRETS[0], body, TS - 301, TS * 1000)));
    assert!(unauthorized(&signed_with(SECRETS[0], body, TS + 301, TS * 1000)));
    assert!(unauthorized(&signed_with("intruder", b"not a payload", TS, NOW_MS)));
    let mut tampered = signed(body);
    tampered.body = Bytes::from_static(br#"{"type":"url_verification","challenge":"d"}"#);
    assert!(unauthorized(&tampered));
    for secret in SECRETS {
        assert!(provider.parse_inbound(&signed_with(secret, body, TS, NOW_MS)).is_ok(), "rotation: {secret}");
    }
}

#[test]
fn app_mention_in_a_channel_becomes_a_message_in_its_own_thread() {
    let event = one(&default_provider(), &callback(mention("<@UBOT> summarize &lt;this&gt; &amp; that")));
    assert_eq!(event.provider_event_id, "Ev1");
    assert_eq!(event.chat, ChatRef { chat_id: "C1".into(), thread_id: Some("1700000000.000100".into()) });
    assert_eq!((event.sender.user_id.as_str(), event.sender.display_name.as_deref()), ("U1", None));
    assert_eq!(event.body, message("summarize <this> & that"));
}

#[test]
fn mentions_are_stripped_without_a_configured_bot_id() {
    let provider = provider(json!({}), None);
    assert_eq!(one(&provider, &callback(mention("<@UXYZ>: deploy it"))).body, message("deploy it"));
    let dm = channel_message("<@UXYZ> keep me", "im", "D1");
    assert_eq!(one(&provider, &callback(dm)).body, message("<@UXYZ> keep me"));
}

#[test]
fn channels_need_a_mention_unless_respond_to_is_all() {
    let mentions = default_provider();
    for channel_type in ["channel", "group", "mpim"] {
        assert!(
            events(&mentions, &callback(channel_message("hello", channel_type, "C1"))).is_empty(),
            "{channel_type}"
        );
    }
    let all = provider(json!({"botUserId": "UBOT", "respondTo": "all"}), Some("T1"));
    let event = one(&all, &callback(channel_message("<@UBOT> hello", "channel", "C1")));
    assert_eq!(event.body, message("hello"));
    // The app_mention copy of a channel message is ignored with respondTo=all.
    assert!(events(&all, &callback(mention("<@UBOT> hello"))).is_empty());
}

#[test]
fn every_dm_message_counts_and_the_mention_copy_is_ignored() {
    let provider = default_provider();
    let event = one(&provider, &callback(channel_message("what's up", "im", "D1")));
    assert_eq!(event.chat.chat_id, "D1");
    assert_eq!(event.body, message("what's up"));
    let dm_mention = json!({"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "ts": "1.1", "channel": "D1"});
    assert!(events(&provider, &callback(dm_mention)).is_empty());
}

#[test]
fn bot_own_edited_and_system_messages_are_ignored() {
    let provider = default_provider();
    let base = channel_message("hi", "im", "D1");
    let with = |key: &str, value: Value| {
        let mut event = base.clone();
        event[key] = value;
        callback(event)
    };
    let ignored = [
        with("bot_id", json!("B1")),
        with("subtype", json!("bot_message")),
        with("user", json!("UBOT")),
        with("subtype", json!("message_changed")),
        with("subtype", json!("message_deleted")),
        with("subtype", json!("channel_join")),
        with("hidden", json!(true)),
        with("text", json!("   ")),
        callback(
            json!({"type": "message", "subtype": "message_deleted", "channel": "D1", "ts": "1.2", "hidden": true}),
        ),
    ];
    for body in ignored {
        assert!(events(&provider, &body).is_empty(), "{}", String::from_utf8_lossy(&body));
    }
    for subtype in ["file_share", "thread_broadcast"] {
        assert_eq!(one(&provider, &with("subtype", json!(subtype))).body, message("hi"), "{subtype}");
    }
    assert!(events(&provider, &callback(mention("<@UBOT>"))).is_empty(), "a bare mention has no prompt");
}

#[test]
fn unknown_event_types_and_envelopes_are_acknowledged_and_ignored() {
    let provider = default_provider();
    let reaction = callback(json!({"type": "reaction_added", "user": "U1", "reaction": "tada"}));
    assert!(events(&provider, &reaction).is_empty());
    let rate_limited = br#"{"token":"x","type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820}"#;
    assert!(events(&provider, rate_limited).is_empty());
}

#[test]
fn session_scope_decides_the_thread() {
    let top_dm = channel_message("hi", "im", "D1");
    let mut in_thread = mention("<@UBOT> more");
    in_thread["thread_ts"] = json!("1699999999.000001");
    let thread = default_provider();
    let channel = provider(json!({"botUserId": "UBOT", "sessionScope": "channel"}), Some("T1"));
    let cases = [
        (&thread, &top_dm, Some("1700000000.000200")),
        (&thread, &in_thread, Some("1699999999.000001")),
        (&channel, &top_dm, None),
        (&channel, &mention("<@UBOT> top"), None),
        (&channel, &in_thread, Some("1699999999.000001")),
    ];
    for (provider, event, expected) in cases {
        assert_eq!(one(provider, &callback(event.clone())).chat.thread_id.as_deref(), expected, "{event}");
    }
}

#[test]
fn text_commands_become_interactions_and_profiles_give_names() {
    let mut event = channel_message("/approve h-123", "im", "D1");
    event["user_profile"] = json!({"display_name": "", "real_name": "Ann Lee", "name": "ann"});
    let parsed = one(&default_provider(), &callback(event));
    assert_eq!(
        parsed.body,
        InboundBody::Interaction(InteractionInput { handle: "h-123".into(), verb: InteractionVerb::Approve })
    );
    assert_eq!(parsed.sender.display_name.as_deref(), Some("Ann Lee"));
    let answer = one(&default_provider(), &callback(mention("<@UBOT> /answer h-9 the blue one")));
    assert_eq!(
        answer.body,
        InboundBody::Interaction(InteractionInput {
            handle: "h-9".into(),
            verb: InteractionVerb::Answer("the blue one".into())
        })
    );
}

fn form(payload: &Value) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
        .into_bytes()
}

fn block_actions(actions: Value) -> Value {
    json!({
        "type": "block_actions", "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": "U1", "username": "ann", "name": "ann.lee", "team_id": "T1"},
        "container": {"type": "message", "message_ts": "1700000001.000300", "channel_id": "C1", "is_ephemeral": false},
        "channel": {"id": "C1", "name": "general"},
        "message": {"type": "message", "ts": "1700000001.000300", "thread_ts": "1700000000.000100", "text": "Approve?"},
        "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "actions": actions,
    })
}

#[test]
fn block_actions_form_payloads_become_clicks() {
    let payload = block_actions(json!([{"action_id": "oc_0", "block_id": "oc_row_0", "value": "h-abc:y",
        "type": "button", "action_ts": "1700000002.1"}]));
    let event = one(&default_provider(), &form(&payload));
    assert_eq!(event.provider_event_id, "block_actions:13345224609.738474920.8088930838d88f008e0");
    assert_eq!(event.chat, ChatRef { chat_id: "C1".into(), thread_id: Some("1700000000.000100".into()) });
    assert_eq!((event.sender.user_id.as_str(), event.sender.display_name.as_deref()), ("U1", Some("ann")));
    assert_eq!(
        event.body,
        InboundBody::Interaction(InteractionInput { handle: "h-abc:y".into(), verb: InteractionVerb::Click })
    );

    // The thread from the container, the chat from container.channel_id, the id from action_ts.
    let mut bare = payload.clone();
    let object = bare.as_object_mut().unwrap();
    for key in ["channel", "message", "trigger_id"] {
        object.remove(key);
    }
    bare["container"]["thread_ts"] = json!("1699.5");
    let event = one(&default_provider(), &form(&bare));
    assert_eq!(event.provider_event_id, "block_actions:1700000002.1");
    assert_eq!(event.chat, ChatRef { chat_id: "C1".into(), thread_id: Some("1699.5".into()) });
}

#[test]
fn a_trigger_id_near_the_limit_still_gives_a_bounded_stable_event_id() {
    // Found by fuzzing: `block_actions:` plus a 256-byte trigger id passed the id bound.
    let mut payload = block_actions(json!([{"action_id": "oc_0", "value": "h-abc:y", "type": "button"},
        {"action_id": "oc_1", "value": "h-abc:n", "type": "button"}]));
    payload["trigger_id"] = json!("7".repeat(256));
    let provider = default_provider();
    let ids: Vec<String> = events(&provider, &form(&payload)).into_iter().map(|e| e.provider_event_id).collect();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        assert!(id.starts_with("block_actions:sha256:") && id.len() <= 256, "{id}");
    }
    assert_ne!(ids[0], ids[1], "each action keeps its own id");
    let again: Vec<String> = events(&provider, &form(&payload)).into_iter().map(|e| e.provider_event_id).collect();
    assert_eq!(ids, again, "a redelivery gets the same ids");
}

#[test]
fn foreign_actions_and_other_interactivity_are_acknowledged_and_ignored() {
    let provider = default_provider();
    let foreign =
        block_actions(json!([{"action_id": "x", "value": "v".repeat(40)}, {"action_id": "url", "type": "button"}]));
    assert!(events(&provider, &form(&foreign)).is_empty());
    let view = json!({"type": "view_submission", "team": {"id": "T1"}, "user": {"id": "U1"}, "view": {}});
    assert!(events(&provider, &form(&view)).is_empty());
    let slash = b"token=x&team_id=T1&channel_id=C1&user_id=U1&command=%2Fcowork&text=hi&trigger_id=1.2";
    assert!(events(&provider, slash).is_empty());
}

#[test]
fn another_workspace_is_refused() {
    let provider = default_provider();
    let mismatch = |body: &[u8]| matches!(provider.parse_inbound(&signed(body)), Err(InboundError::WorkspaceMismatch));
    let mut other =
        json!({"type": "event_callback", "team_id": "T2", "event_id": "Ev1", "event": mention("<@UBOT> hi")});
    assert!(mismatch(other.to_string().as_bytes()));
    other.as_object_mut().unwrap().remove("team_id");
    assert!(mismatch(other.to_string().as_bytes()), "a missing team id is no match");
    let mut click = block_actions(json!([{"value": "h"}]));
    click["team"]["id"] = json!("T2");
    assert!(mismatch(&form(&click)));
    // Without a configured workspace any team is accepted.
    let open = provider_without_workspace();
    assert_eq!(one(&open, &form(&click)).chat.chat_id, "C1");
}

fn provider_without_workspace() -> SlackProvider {
    provider(json!({"botUserId": "UBOT"}), None)
}

#[test]
fn bodies_that_are_not_slack_payloads_are_bad() {
    let provider = default_provider();
    let no_event_id = json!({"type": "event_callback", "team_id": "T1", "event": mention("hi")}).to_string();
    let no_channel = callback(json!({"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "ts": "1.1"}));
    let bad_user = form(&json!({"type": "block_actions", "team": {"id": "T1"}, "actions": []}));
    let no_actions =
        form(&json!({"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U1"}, "channel": {"id": "C1"}}));
    let bodies: [&[u8]; 10] = [
        b"",
        b"{not json",
        b"[1,2]",
        br#"{"hello":"world"}"#,
        br#"{"type":"url_verification"}"#,
        b"hello=world",
        b"payload=%7Bnot-json",
        no_event_id.as_bytes(),
        &no_channel,
        &bad_user,
    ];
    for body in bodies.iter().copied().chain([no_actions.as_slice()]) {
        let result = provider.parse_inbound(&signed(body));
        assert!(matches!(result, Err(InboundError::BadPayload(_))), "{}: {result:?}", String::from_utf8_lossy(body));
    }
}
