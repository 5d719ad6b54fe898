//! The text commands that answer approvals and questions on every provider:
//! `/approve <handle>`, `/deny <handle>`, `/answer <handle> <text>` (and `/allow`, `/reject`).

use crate::{InteractionInput, InteractionVerb};

/// Parses a message text as an interaction command; `None` when it is an ordinary message.
pub fn parse_interaction_command(text: &str) -> Option<InteractionInput> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (command, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim_start();
    let (handle, tail) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    if handle.is_empty() {
        return None;
    }
    let verb = match command.to_ascii_lowercase().as_str() {
        "approve" | "allow" => InteractionVerb::Approve,
        "deny" | "reject" => InteractionVerb::Deny,
        "answer" => {
            let answer = tail.trim();
            if answer.is_empty() {
                return None;
            }
            InteractionVerb::Answer(answer.to_owned())
        }
        _ => return None,
    };
    Some(InteractionInput { handle: handle.to_owned(), verb })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approve_deny_and_answer_parse() {
        let approve = parse_interaction_command("/approve abc123");
        assert_eq!(approve, Some(InteractionInput { handle: "abc123".into(), verb: InteractionVerb::Approve }));
        let deny = parse_interaction_command("  /deny   abc123 ");
        assert_eq!(deny.map(|i| i.verb), Some(InteractionVerb::Deny));
        let answer = parse_interaction_command("/answer abc123 the blue one");
        assert_eq!(answer.map(|i| i.verb), Some(InteractionVerb::Answer("the blue one".into())));
    }

    #[test]
    fn ordinary_text_and_incomplete_commands_are_messages() {
        assert_eq!(parse_interaction_command("hello /approve x"), None);
        assert_eq!(parse_interaction_command("/approve"), None);
        assert_eq!(parse_interaction_command("/answer abc"), None);
        assert_eq!(parse_interaction_command("/help me"), None);
    }
}
