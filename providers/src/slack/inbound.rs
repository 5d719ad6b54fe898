//! Slack payloads mapped to [`InboundEvent`]s: Events API JSON (`url_verification`,
//! `event_callback` with `message` and `app_mention`) and interactivity forms (`payload=` with
//! `block_actions`). Payloads that are Slack's but not for us (other event types, bot and edited
//! messages, other interactivity types, slash commands) are acknowledged without events; bodies
//! that are not Slack payloads are [`InboundError::BadPayload`]; another team than the configured
//! one is [`InboundError::Unauthorized`]`("workspace mismatch")`.

use serde_json::{Map, Value, json};

use super::config::{RespondTo, SessionScope, SlackSettings};
use crate::commands::parse_text_command;
use crate::{
    ChatRef, InboundBody, InboundError, InboundEvent, InteractionInput, InteractionVerb, MAX_HANDLE_BYTES, Sender,
    Verified,
};

/// Ids (event, channel, user, ts, trigger).
const MAX_ID_BYTES: usize = 256;
/// The longest `url_verification` challenge echoed.
const MAX_CHALLENGE_BYTES: usize = 1024;
/// Display names.
const MAX_NAME_BYTES: usize = 256;
/// Message subtypes that are ordinary user messages.
const PLAIN_SUBTYPES: [&str; 2] = ["file_share", "thread_broadcast"];

/// What parsing needs from the provider.
pub(super) struct Context<'a> {
    /// The provider settings.
    pub settings: &'a SlackSettings,
    /// The configured team id (`externalWorkspaceId`), if any.
    pub workspace_id: Option<&'a str>,
}

fn bad(message: impl Into<String>) -> InboundError {
    InboundError::BadPayload(message.into())
}

/// Nothing to do, but a valid Slack request (answered 2xx).
fn ignored() -> Verified {
    Verified::events(Vec::new())
}

/// Parses one verified request body.
pub(super) fn parse(body: &[u8], context: &Context<'_>) -> Result<Verified, InboundError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => parse_events_api(body, context),
        Some(_) => parse_form(body, context),
        None => Err(bad("the body is empty")),
    }
}

/// An Events API envelope.
fn parse_events_api(body: &[u8], context: &Context<'_>) -> Result<Verified, InboundError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(format!("body is not valid JSON: {e}")))?;
    let envelope = value.as_object().ok_or_else(|| bad("body must be a JSON object"))?;
    let kind = text(envelope, "type").ok_or_else(|| bad("body has no type: not a Slack payload"))?;
    if kind == "url_verification" {
        let challenge = text(envelope, "challenge").ok_or_else(|| bad("url_verification without a challenge"))?;
        if challenge.len() > MAX_CHALLENGE_BYTES || challenge.chars().any(char::is_control) {
            return Err(bad("url_verification challenge is too long or has control characters"));
        }
        return Ok(Verified {
            events: vec![],
            replay_key: None,
            immediate_reply: Some(json!({"challenge": challenge})),
        });
    }
    let team = text(envelope, "team_id");
    check_workspace(context, team, kind == "event_callback")?;
    if kind != "event_callback" {
        return Ok(ignored());
    }
    let event_id = id(envelope, "event_id")?.ok_or_else(|| bad("event_callback without event_id"))?;
    let event = envelope.get("event").and_then(Value::as_object).ok_or_else(|| bad("event_callback without event"))?;
    let event_kind = text(event, "type").ok_or_else(|| bad("event without type"))?;
    let mention = match event_kind {
        "message" => false,
        "app_mention" => true,
        _ => return Ok(ignored()),
    };
    let events = message_event(event, mention, event_id, context)?.into_iter().collect();
    Ok(Verified::events(events))
}

/// `team` must be the configured workspace (when one is configured); `required` says whether
/// a missing team id is a mismatch too.
fn check_workspace(context: &Context<'_>, team: Option<&str>, required: bool) -> Result<(), InboundError> {
    match (context.workspace_id, team) {
        (Some(expected), Some(team)) if team != expected => Err(InboundError::WorkspaceMismatch),
        (Some(_), None) if required => Err(InboundError::WorkspaceMismatch),
        _ => Ok(()),
    }
}

/// A `message` or `app_mention` event: `None` when it is not for the agent.
fn message_event(
    event: &Map<String, Value>,
    mention: bool,
    event_id: String,
    context: &Context<'_>,
) -> Result<Option<InboundEvent>, InboundError> {
    let settings = context.settings;
    let subtype = text(event, "subtype");
    let from_bot = event.get("bot_id").is_some_and(|v| !v.is_null()) || subtype == Some("bot_message");
    let hidden = event.get("hidden").and_then(Value::as_bool) == Some(true);
    if from_bot || hidden || subtype.is_some_and(|s| !PLAIN_SUBTYPES.contains(&s)) {
        return Ok(None);
    }
    let Some(user) = id(event, "user")? else { return Ok(None) };
    if settings.bot_user_id.as_deref() == Some(user.as_str()) {
        return Ok(None);
    }
    let channel = id(event, "channel")?.ok_or_else(|| bad("message event without channel"))?;
    let ts = id(event, "ts")?.ok_or_else(|| bad("message event without ts"))?;
    let direct = match text(event, "channel_type") {
        Some(channel_type) => channel_type == "im",
        None => channel.starts_with('D'),
    };
    // A mention in a DM also arrives as a `message.im` event; with `respondTo: all` every channel
    // message arrives as a `message` event: the `app_mention` copy is ignored in both cases.
    let counts = if mention {
        !direct && settings.respond_to == RespondTo::Mentions
    } else {
        direct || settings.respond_to == RespondTo::All
    };
    if !counts {
        return Ok(None);
    }
    let raw = event.get("text").and_then(Value::as_str).unwrap_or_default();
    let prompt = unescape(strip_mentions(raw, settings.bot_user_id.as_deref(), mention).trim());
    if prompt.is_empty() {
        return Ok(None);
    }
    let thread_ts = id(event, "thread_ts")?;
    let thread_id = match settings.session_scope {
        SessionScope::Thread => thread_ts.or(Some(ts)),
        SessionScope::Channel => thread_ts,
    };
    let profile = event.get("user_profile").and_then(Value::as_object);
    let display_name = profile.and_then(|p| ["display_name", "real_name", "name"].iter().find_map(|k| name(p, k)));
    let body = parse_text_command(&prompt).unwrap_or(InboundBody::Message { text: prompt });
    Ok(Some(InboundEvent {
        provider_event_id: event_id,
        chat: ChatRef { chat_id: channel, thread_id },
        sender: Sender { user_id: user, display_name },
        body,
        reply_context: None,
    }))
}

/// Removes mentions of the app (`<@BOT>` or `<@BOT|name>`, anywhere) when its id is known;
/// otherwise, in an `app_mention`, the leading `<@U…>` mention. Whitespace (and a `:` or `,`
/// right after a leading mention) goes with it.
fn strip_mentions(text: &str, bot_user_id: Option<&str>, mention: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        let Some(len) = rest[start..].find('>') else { break };
        let (before, token, after) = (&rest[..start], &rest[start..=start + len], &rest[start + len + 1..]);
        let user = token[2..token.len() - 1].split('|').next().unwrap_or_default();
        let leading = out.trim().is_empty() && before.trim().is_empty();
        let ours = match bot_user_id {
            Some(bot) => user == bot,
            None => mention && leading && !user.is_empty(),
        };
        out.push_str(before);
        rest = after;
        if !ours {
            out.push_str(token);
            continue;
        }
        if leading {
            rest = rest.trim_start_matches([':', ',']);
        }
        rest = rest.trim_start_matches([' ', '\t']);
    }
    out.push_str(rest);
    out
}

/// Slack's three entities back to characters, in one pass.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (replacement, len) = if rest.starts_with("&amp;") {
            ('&', 5)
        } else if rest.starts_with("&lt;") {
            ('<', 4)
        } else if rest.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(replacement);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// An interactivity or slash-command form.
fn parse_form(body: &[u8], context: &Context<'_>) -> Result<Verified, InboundError> {
    let mut payload = None;
    let mut command = false;
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "payload" => payload = Some(value.into_owned()),
            "command" => command = true,
            _ => {}
        }
    }
    let Some(payload) = payload else {
        // Slash commands are acknowledged and ignored; anything else is not from Slack.
        return if command { Ok(ignored()) } else { Err(bad("not a Slack payload: no JSON and no form payload")) };
    };
    let value: Value = serde_json::from_str(&payload).map_err(|e| bad(format!("payload is not valid JSON: {e}")))?;
    let payload = value.as_object().ok_or_else(|| bad("payload must be a JSON object"))?;
    let kind = text(payload, "type").ok_or_else(|| bad("payload has no type: not a Slack payload"))?;
    let user = payload.get("user").and_then(Value::as_object);
    let team = payload
        .get("team")
        .and_then(Value::as_object)
        .and_then(|team| text(team, "id"))
        .or_else(|| user.and_then(|user| text(user, "team_id")));
    check_workspace(context, team, true)?;
    if kind != "block_actions" {
        return Ok(ignored());
    }
    block_actions(payload, user).map(Verified::events)
}

/// `block_actions`: one interaction per action whose `value` can be one of our handles.
fn block_actions(
    payload: &Map<String, Value>,
    user: Option<&Map<String, Value>>,
) -> Result<Vec<InboundEvent>, InboundError> {
    let user = user.ok_or_else(|| bad("block_actions without user"))?;
    let user_id = id(user, "id")?.ok_or_else(|| bad("block_actions without user.id"))?;
    let display_name = name(user, "username").or_else(|| name(user, "name"));
    let actions =
        payload.get("actions").and_then(Value::as_array).ok_or_else(|| bad("block_actions without actions"))?;
    let object = |key: &str| payload.get(key).and_then(Value::as_object);
    let (channel, message, container) = (object("channel"), object("message"), object("container"));
    let channel_id = match channel {
        Some(channel) => id(channel, "id")?,
        None => None,
    };
    let channel_id = match (channel_id, container) {
        (Some(channel_id), _) => Some(channel_id),
        (None, Some(container)) => id(container, "channel_id")?,
        (None, None) => None,
    };
    // Actions outside a conversation (App Home, modals) carry nothing for us.
    let Some(chat_id) = channel_id else { return Ok(Vec::new()) };
    let mut thread_id = match message {
        Some(message) => id(message, "thread_ts")?,
        None => None,
    };
    if thread_id.is_none()
        && let Some(container) = container
    {
        thread_id = id(container, "thread_ts")?;
    }
    let first_ts = actions.first().and_then(Value::as_object).map(|a| id(a, "action_ts")).transpose()?.flatten();
    let base = id(payload, "trigger_id")?.or(first_ts).ok_or_else(|| bad("block_actions without trigger_id"))?;
    let mut events = Vec::new();
    for (index, action) in actions.iter().enumerate() {
        let action = action.as_object().ok_or_else(|| bad("block_actions action must be an object"))?;
        let Some(handle) = text(action, "value") else { continue };
        if handle.is_empty() || handle.len() > MAX_HANDLE_BYTES || handle.chars().any(char::is_control) {
            continue;
        }
        let suffix = if index == 0 { String::new() } else { format!(":{index}") };
        events.push(InboundEvent {
            provider_event_id: interaction_event_id(&base, &suffix),
            chat: ChatRef { chat_id: chat_id.clone(), thread_id: thread_id.clone() },
            sender: Sender { user_id: user_id.clone(), display_name: display_name.clone() },
            body: InboundBody::Interaction(InteractionInput {
                handle: handle.to_owned(),
                verb: InteractionVerb::Click,
            }),
            reply_context: None,
        });
    }
    Ok(events)
}

/// The event id of one action: `block_actions:<trigger id>[:<index>]`, or, when that would pass
/// [`MAX_ID_BYTES`] (a trigger id near the limit), the same text's SHA-256, so an id stays
/// bounded and a redelivered payload still gets the same one.
fn interaction_event_id(base: &str, suffix: &str) -> String {
    let id = format!("block_actions:{base}{suffix}");
    if id.len() <= MAX_ID_BYTES {
        return id;
    }
    use sha2::Digest;
    format!("block_actions:sha256:{}", hex::encode(sha2::Sha256::digest(id.as_bytes())))
}

/// A string field, if present.
fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// An optional id: a non-empty string of at most 256 bytes without control characters.
fn id(map: &Map<String, Value>, key: &str) -> Result<Option<String>, InboundError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) if value.is_empty() => Ok(None),
        Some(Value::String(value)) if value.len() <= MAX_ID_BYTES && !value.chars().any(char::is_control) => {
            Ok(Some(value.clone()))
        }
        Some(_) => Err(bad(format!("{key} must be a short string without control characters"))),
    }
}

/// A display name: trimmed, bounded, without control characters; `None` when unusable.
fn name(map: &Map<String, Value>, key: &str) -> Option<String> {
    let value = text(map, key)?.trim();
    let usable = !value.is_empty() && value.len() <= MAX_NAME_BYTES && !value.chars().any(char::is_control);
    usable.then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_stripped() {
        let table = [
            ("<@UBOT> hello", Some("UBOT"), false, "hello"),
            ("<@UBOT>: hello", Some("UBOT"), true, "hello"),
            ("hey <@UBOT> do it", Some("UBOT"), false, "hey do it"),
            ("<@UBOT|bot> hi <@UOTHER>", Some("UBOT"), false, "hi <@UOTHER>"),
            ("<@UANY>, hi <@UOTHER>", None, true, "hi <@UOTHER>"),
            ("<@UANY> hi", None, false, "<@UANY> hi"),
            ("ask <@UANY> please", None, true, "ask <@UANY> please"),
            ("broken <@U", Some("UBOT"), false, "broken <@U"),
        ];
        for (input, bot, mention, expected) in table {
            assert_eq!(strip_mentions(input, bot, mention), expected, "{input}");
        }
    }

    #[test]
    fn entities_are_unescaped_once() {
        assert_eq!(unescape("a &lt;b&gt; &amp;&amp; &amp;lt; & c"), "a <b> && &lt; & c");
    }
}
