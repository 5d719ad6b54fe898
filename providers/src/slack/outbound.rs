//! Outbound operations on the Slack Web API: a send is `chat.postMessage` (the text converted to
//! mrkdwn and split into chunks of at most 3,000 characters, posted in order into the thread;
//! buttons become a Block Kit `actions` block on the first chunk, whose `ts` is the message id),
//! an edit is `chat.update` of that message (first chunk only, ending in `…` when the text is
//! longer; the buttons are replaced, so an edit without buttons removes them); a file is
//! uploaded by `upload.rs`.
//!
//! A send whose later chunk fails is retried by the dispatcher with the same delivery id; the
//! chunks already posted are remembered in memory (bounded) and not posted again by this
//! process (uploads likewise remember the file id of bytes already uploaded).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::api::Api;
use super::mrkdwn::to_mrkdwn;
use super::split::{SLACK_TEXT_LIMIT, first_chunk, split};
use super::upload;
use crate::{Button, ButtonStyle, Delivery, OutboundOp, ProviderError, SentMessage};

/// The most buttons in one message.
pub const MAX_BUTTONS: usize = 25;
/// The most buttons in one `actions` row (longer rows are wrapped).
pub const MAX_BUTTONS_PER_ROW: usize = 5;
/// The longest button label Slack shows, in characters.
const MAX_LABEL_CHARS: usize = 75;
/// The longest button `value` Slack accepts, in bytes.
const MAX_VALUE_BYTES: usize = 2000;
/// The most partly done deliveries remembered (per kind).
const MAX_IN_PROGRESS: usize = 1024;

/// What deliveries that failed part-way already did, per delivery id (bounded, in memory): the
/// `ts` of chunks posted for sends, the file id of uploaded bytes for files.
#[derive(Debug, Default)]
pub(super) struct Progress<V = Vec<String>>(Mutex<HashMap<String, V>>);

impl<V: Clone> Progress<V> {
    /// What is remembered for `delivery_id`.
    pub(super) fn get(&self, delivery_id: &str) -> Option<V> {
        self.lock().get(delivery_id).cloned()
    }

    /// Remembers `value` for `delivery_id` (forgetting everything when full).
    pub(super) fn record(&self, delivery_id: &str, value: V) {
        let mut map = self.lock();
        if map.len() >= MAX_IN_PROGRESS && !map.contains_key(delivery_id) {
            map.clear();
        }
        map.insert(delivery_id.to_owned(), value);
    }

    /// Forgets `delivery_id` (done, or failed for good).
    pub(super) fn forget(&self, delivery_id: &str) {
        self.lock().remove(delivery_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, V>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Performs one delivery (`uploads` remembers file ids for [`upload::deliver`]).
pub(super) async fn deliver(
    api: &Api,
    progress: &Progress,
    uploads: &Progress<String>,
    delivery: &Delivery,
) -> Result<SentMessage, ProviderError> {
    let channel = delivery.chat.chat_id.as_str();
    match &delivery.op {
        OutboundOp::Send { text, buttons } => {
            let actions = action_blocks(buttons)?;
            let chunks = split(&to_mrkdwn(text), SLACK_TEXT_LIMIT);
            if actions.is_empty() && chunks.iter().all(|chunk| chunk.trim().is_empty()) {
                return Err(ProviderError::permanent("nothing to send: empty text and no buttons"));
            }
            let thread_ts = delivery.chat.thread_id.as_deref();
            let mut posted = progress.get(&delivery.delivery_id).unwrap_or_default();
            for (index, chunk) in chunks.iter().enumerate().skip(posted.len()) {
                let actions = if index == 0 { actions.as_slice() } else { &[] };
                let answer =
                    api.call("chat.postMessage", &post_message_body(channel, thread_ts, chunk, actions)).await?;
                posted.push(message_ts("chat.postMessage", &answer)?);
                if index + 1 < chunks.len() {
                    progress.record(&delivery.delivery_id, posted.clone());
                }
            }
            progress.forget(&delivery.delivery_id);
            let message_id = posted.into_iter().next().ok_or_else(|| ProviderError::permanent("no message posted"))?;
            Ok(SentMessage { message_id })
        }
        OutboundOp::Edit { message_id, text, buttons } => {
            let actions = action_blocks(buttons)?;
            let text = first_chunk(&to_mrkdwn(text), SLACK_TEXT_LIMIT);
            if actions.is_empty() && text.trim().is_empty() {
                return Err(ProviderError::permanent("nothing to send: empty text and no buttons"));
            }
            let body = json!({"channel": channel, "ts": message_id, "text": text, "blocks": blocks(&text, &actions)});
            let answer = api.call("chat.update", &body).await?;
            let message_id = answer.get("ts").and_then(Value::as_str).unwrap_or(message_id).to_owned();
            Ok(SentMessage { message_id })
        }
        OutboundOp::File(file) => upload::deliver(api, uploads, delivery, file).await,
    }
}

/// The `chat.postMessage` body: plain mrkdwn text, or blocks when there are buttons (the text
/// then also serves as the notification fallback). Link previews are off.
pub(super) fn post_message_body(channel: &str, thread_ts: Option<&str>, text: &str, actions: &[Value]) -> Value {
    let mut body = json!({"channel": channel, "text": text, "unfurl_links": false, "unfurl_media": false});
    if let Some(thread_ts) = thread_ts {
        body["thread_ts"] = json!(thread_ts);
    }
    if !actions.is_empty() {
        body["blocks"] = Value::Array(blocks(text, actions));
    }
    body
}

/// A `section` with the text (when there is any) followed by the `actions` blocks.
fn blocks(text: &str, actions: &[Value]) -> Vec<Value> {
    let mut blocks = Vec::with_capacity(actions.len() + 1);
    if !text.trim().is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    blocks.extend_from_slice(actions);
    blocks
}

/// One `actions` block per row of at most five buttons; at most 25 buttons in all. Each button
/// has a unique `action_id` (`oc_<index>`) and our handle as its `value`.
pub(super) fn action_blocks(rows: &[Vec<Button>]) -> Result<Vec<Value>, ProviderError> {
    let count: usize = rows.iter().map(Vec::len).sum();
    if count > MAX_BUTTONS {
        return Err(ProviderError::permanent(format!("{count} buttons; Slack allows at most {MAX_BUTTONS}")));
    }
    let mut index = 0;
    let mut blocks = Vec::new();
    for row in rows.iter().flat_map(|row| row.chunks(MAX_BUTTONS_PER_ROW)) {
        let mut elements = Vec::with_capacity(row.len());
        for button in row {
            elements.push(button_element(button, index)?);
            index += 1;
        }
        blocks.push(json!({"type": "actions", "block_id": format!("oc_row_{}", blocks.len()), "elements": elements}));
    }
    Ok(blocks)
}

/// One Block Kit `button`.
fn button_element(button: &Button, index: usize) -> Result<Value, ProviderError> {
    let label = button.label.trim();
    if label.is_empty() {
        return Err(ProviderError::permanent("a button has an empty label"));
    }
    let handle = &button.handle;
    if handle.is_empty() || handle.len() > MAX_VALUE_BYTES || handle.chars().any(char::is_control) {
        return Err(ProviderError::permanent("a button handle is empty, too long or has control characters"));
    }
    let label: String = if label.chars().count() > MAX_LABEL_CHARS {
        label.chars().take(MAX_LABEL_CHARS - 1).chain(['…']).collect()
    } else {
        label.to_owned()
    };
    let mut element = json!({
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": true},
        "value": handle,
        "action_id": format!("oc_{index}"),
    });
    match button.style {
        ButtonStyle::Default => {}
        ButtonStyle::Success => element["style"] = json!("primary"),
        ButtonStyle::Danger => element["style"] = json!("danger"),
    }
    Ok(element)
}

/// The `ts` of a posted message.
fn message_ts(method: &str, answer: &Value) -> Result<String, ProviderError> {
    answer
        .get("ts")
        .and_then(Value::as_str)
        .filter(|ts| !ts.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::permanent(format!("Slack API {method} answered ok without a ts")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(label: &str, handle: &str, style: ButtonStyle) -> Button {
        Button { label: label.into(), handle: handle.into(), style }
    }

    #[test]
    fn buttons_become_block_kit_rows_of_at_most_five() {
        let rows = vec![
            vec![button("Approve", "h:y", ButtonStyle::Success), button("Deny", "h:n", ButtonStyle::Danger)],
            (0..7).map(|i| button(&format!("Option {i}"), &format!("q:{i}"), ButtonStyle::Default)).collect(),
        ];
        let blocks = action_blocks(&rows).unwrap();
        assert_eq!(blocks.len(), 3);
        let first = &blocks[0]["elements"];
        let expected = json!({"type": "button", "text": {"type": "plain_text", "text": "Approve", "emoji": true},
            "value": "h:y", "action_id": "oc_0", "style": "primary"});
        assert_eq!(first[0], expected);
        assert_eq!(first[1]["style"], "danger");
        assert_eq!(blocks[1]["elements"].as_array().unwrap().len(), 5);
        assert_eq!(blocks[2]["elements"][1]["action_id"], "oc_8");
        assert!(blocks[2]["elements"][1].get("style").is_none());
        assert_eq!(blocks[2]["block_id"], "oc_row_2");
    }

    #[test]
    fn invalid_buttons_are_permanent_errors() {
        let too_many = vec![(0..26).map(|i| button("b", &format!("h{i}"), ButtonStyle::Default)).collect()];
        let blank = vec![vec![button("  ", "h", ButtonStyle::Default)]];
        let no_handle = vec![vec![button("b", "", ButtonStyle::Default)]];
        let control = vec![vec![button("b", "h\n", ButtonStyle::Default)]];
        for rows in [too_many, blank, no_handle, control] {
            assert_eq!(action_blocks(&rows).unwrap_err().kind, crate::ProviderErrorKind::Permanent);
        }
    }

    #[test]
    fn long_labels_are_cut_to_75_characters() {
        let blocks = action_blocks(&[vec![button(&"é".repeat(80), "h", ButtonStyle::Default)]]).unwrap();
        let label = blocks[0]["elements"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(label.chars().count(), 75);
        assert!(label.ends_with('…'));
    }

    #[test]
    fn post_message_body_shapes() {
        let plain = post_message_body("C1", None, "hi", &[]);
        assert_eq!(plain, json!({"channel": "C1", "text": "hi", "unfurl_links": false, "unfurl_media": false}));
        let actions = action_blocks(&[vec![button("Go", "h", ButtonStyle::Default)]]).unwrap();
        let with_buttons = post_message_body("C1", Some("1.2"), "*sure?*", &actions);
        assert_eq!(with_buttons["thread_ts"], "1.2");
        assert_eq!(
            with_buttons["blocks"][0],
            json!({"type": "section", "text": {"type": "mrkdwn", "text": "*sure?*"}})
        );
        assert_eq!(with_buttons["blocks"][1]["type"], "actions");
        let only_buttons = post_message_body("C1", None, "", &actions);
        assert_eq!(only_buttons["blocks"].as_array().unwrap().len(), 1);
    }
}
